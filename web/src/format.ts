/** Display helpers. Amounts are exact: base-unit strings go through bigint, never a float. */

export const DECIMALS = 18;
const ONE = 10n ** 18n;

/** "1500000000000000000" → "1.5"; undefined/garbage → null. */
export function formatUnits(units: string | bigint | null | undefined): string | null {
  if (units === null || units === undefined) return null;
  let v: bigint;
  try {
    v = typeof units === 'bigint' ? units : BigInt(units);
  } catch {
    return null;
  }
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const whole = abs / ONE;
  const frac = (abs % ONE).toString().padStart(DECIMALS, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole.toLocaleString('en-US')}${frac === '' ? '' : `.${frac}`}`;
}

export function bly(units: string | bigint | null | undefined): string {
  const f = formatUnits(units);
  return f === null ? '—' : `${f} BLY`;
}

/** "1.5" → 1500000000000000000n. Throws a readable error for anything else. */
export function parseBly(text: string): bigint {
  const m = /^\s*(0|[1-9][0-9]*)(?:\.([0-9]{1,18}))?\s*$/.exec(text);
  if (m === null) throw new Error(`"${text}" is not an amount: use a decimal like 12 or 0.5 (at most 18 decimals)`);
  return BigInt(m[1] as string) * ONE + BigInt((m[2] ?? '').padEnd(DECIMALS, '0'));
}

export function shortHash(hash: string | null | undefined, n = 8): string {
  if (!hash) return '—';
  const h = hash.startsWith('0x') ? hash.slice(2) : hash;
  return h.length <= 2 * n ? h : `${h.slice(0, n)}…${h.slice(-4)}`;
}

export function shortAddress(a: string): string {
  return a.length > 12 ? `${a.slice(0, 6)}…${a.slice(-4)}` : a;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function num(v: number | string | null | undefined): string {
  if (v === null || v === undefined) return '—';
  const n = typeof v === 'string' ? Number(v) : v;
  return Number.isFinite(n) ? n.toLocaleString('en-US') : String(v);
}

/** Natural order for expert names: layer2.expert10 after layer2.expert9. */
export function expertOrder(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** layer3.expert7 → {layer: 3, expert: 7}; anything else → null. */
export function parseExpertName(name: string): { layer: number; expert: number } | null {
  const m = /^layer(\d+)\.expert(\d+)$/.exec(name);
  return m === null ? null : { layer: Number(m[1]), expert: Number(m[2]) };
}
