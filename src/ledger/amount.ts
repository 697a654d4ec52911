import { BlyanError } from '../errors.ts';

/**
 * BLY amounts are bigint base units: 1 BLY = 10^18 units (like wei). Decimal strings are parsed and
 * printed exactly; there is never a float on the money path.
 */
export const DECIMALS = 18;
export const ONE_BLY = 10n ** 18n;
/** The largest amount a transaction may carry and a balance may reach: 2^128 − 1 units (≈ 3.4·10^20 BLY). */
export const MAX_AMOUNT = 2n ** 128n - 1n;

const DECIMAL_RE = /^(0|[1-9][0-9]*)(\.[0-9]{1,18})?$/;
const UNITS_RE = /^(0|[1-9][0-9]*)$/;

/** "1.5" → 1.5·10^18 units. Strict: no sign, no exponent, no leading zeros, at most 18 decimals. */
export function parseBly(text: string): bigint {
  const m = DECIMAL_RE.exec(text);
  if (m === null) {
    throw new BlyanError('LEDGER_BAD_AMOUNT', `"${text.slice(0, 60)}" is not an amount (a decimal like 12 or 0.5, at most ${DECIMALS} decimals)`, { reason: 'syntax' });
  }
  const whole = BigInt(m[1] as string);
  const frac = (m[2] ?? '.').slice(1).padEnd(DECIMALS, '0');
  return checkRange(whole * ONE_BLY + BigInt(frac));
}

/** Base units as a decimal string of digits ("1500000000000000000"): how amounts travel in JSON and CBOR. */
export function parseUnits(text: string): bigint {
  if (!UNITS_RE.test(text)) {
    throw new BlyanError('LEDGER_BAD_AMOUNT', `"${text.slice(0, 60)}" is not a whole number of base units`, { reason: 'syntax' });
  }
  if (text.length > 80) throw new BlyanError('LEDGER_AMOUNT_OVERFLOW', 'amount exceeds the largest allowed value', { max: MAX_AMOUNT.toString() });
  return checkRange(BigInt(text));
}

function checkRange(v: bigint): bigint {
  if (v > MAX_AMOUNT) throw new BlyanError('LEDGER_AMOUNT_OVERFLOW', `amount exceeds the largest allowed value (2^128 − 1 units)`, { max: MAX_AMOUNT.toString() });
  return v;
}

/** A transferable amount: 1 … MAX_AMOUNT units. */
export function assertPositiveAmount(v: bigint, what = 'amount'): bigint {
  if (v <= 0n) throw new BlyanError('LEDGER_BAD_AMOUNT', `${what} must be greater than zero`, { reason: v === 0n ? 'zero' : 'negative' });
  if (v > MAX_AMOUNT) throw new BlyanError('LEDGER_AMOUNT_OVERFLOW', `${what} exceeds the largest allowed value (2^128 − 1 units)`);
  return v;
}

/** 1.5·10^18 → "1.5"; 10^18 → "1"; 1 → "0.000000000000000001". Negative values keep their sign. */
export function formatBly(units: bigint): string {
  const neg = units < 0n;
  const abs = neg ? -units : units;
  const whole = abs / ONE_BLY;
  const frac = (abs % ONE_BLY).toString().padStart(DECIMALS, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac === '' ? '' : `.${frac}`}`;
}

/** Adds to a balance, refusing to pass MAX_AMOUNT (no silent wrap-around, no unbounded growth). */
export function addBounded(a: bigint, b: bigint): bigint {
  const s = a + b;
  if (s > MAX_AMOUNT) throw new BlyanError('LEDGER_AMOUNT_OVERFLOW', 'a balance would exceed the largest allowed value (2^128 − 1 units)');
  return s;
}
