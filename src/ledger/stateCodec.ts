import type { Account, Hold, Posting } from './state.ts';

/**
 * JSON forms of ledger records for stores and the CLI: bigints as decimal strings (JSON has no bigint).
 */
export function accountToJson(a: Account): string {
  return JSON.stringify({ b: a.balance.toString(), n: a.nonce.toString(), s: a.stake.toString(), r: a.rewards.toString() });
}

export function accountFromJson(text: string): Account {
  const o = JSON.parse(text) as { b: string; n: string; s: string; r: string };
  return { balance: BigInt(o.b), nonce: BigInt(o.n), stake: BigInt(o.s), rewards: BigInt(o.r) };
}

const HOLD_BIGINTS = ['maxTokens', 'amount', 'expiresAt', 'tokensUsed', 'charged', 'burned', 'credited', 'refunded'] as const;

export function holdToJson(h: Hold): string {
  return JSON.stringify(h, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export function holdFromJson(text: string): Hold {
  const o = JSON.parse(text) as Record<string, unknown>;
  for (const k of HOLD_BIGINTS) o[k] = BigInt(o[k] as string);
  return o as unknown as Hold;
}

export function postingToJson(p: Posting): string {
  return JSON.stringify({ ...p, amount: p.amount.toString() });
}

export function postingFromJson(text: string): Posting {
  const o = JSON.parse(text) as Posting & { amount: string };
  return { ...o, amount: BigInt(o.amount) };
}

/** A posting as the CLI prints it. */
export function postingView(p: Posting): Record<string, unknown> {
  return { ...p, amount: p.amount.toString(), time: new Date(p.time).toISOString() };
}
