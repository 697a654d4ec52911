import { createHash, randomBytes } from 'node:crypto';
import type { Database } from 'lmdb';
import type { BlockStore } from '../../chain/store.ts';
import { BlyanError } from '../../errors.ts';
import type { Hex20 } from '../../ledger/systemAccounts.ts';
import { SCOPES, type Scope } from '../../node/identity.ts';

/**
 * Bearer credentials: sessions (from SIWE, all scopes, expire) and API keys (for apps, chosen scopes, until
 * revoked). Only SHA-256 digests of tokens are stored (LMDB side database "auth"), so a copy of the data
 * dir does not hand out working credentials.
 *   s/<digest>  session   {address, expiresAt}
 *   k/<digest>  API key   {id, address, name, scopes, created}
 *   i/<id>      key id → digest (to list and revoke)
 */
export const SESSION_TTL_MS = 24 * 3_600_000;
export const API_KEY_PREFIX = 'blk_';
const MAX_KEYS_PER_ADDRESS = 32;

export interface Session {
  readonly address: Hex20;
  readonly expiresAt: number;
}

export interface ApiKeyRecord {
  readonly id: string;
  readonly address: Hex20;
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly created: number;
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

export class Credentials {
  private readonly db: Database<Buffer, string>;

  constructor(
    store: BlockStore,
    private readonly now: () => number = Date.now,
  ) {
    this.db = store.sideDb('auth');
  }

  private getJson<T>(key: string): T | undefined {
    const v = this.db.get(key);
    return v === undefined ? undefined : (JSON.parse(Buffer.from(v).toString('utf8')) as T);
  }

  createSession(address: Hex20): { token: string; expiresAt: number } {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + SESSION_TTL_MS;
    this.db.putSync(`s/${digest(token)}`, Buffer.from(JSON.stringify({ address, expiresAt } satisfies Session)));
    return { token, expiresAt };
  }

  /** The session of a token: undefined if unknown, `expired` if it was one. */
  session(token: string): Session | 'expired' | undefined {
    const s = this.getJson<Session>(`s/${digest(token)}`);
    if (s === undefined) return undefined;
    if (s.expiresAt <= this.now()) {
      this.db.removeSync(`s/${digest(token)}`);
      return 'expired';
    }
    return s;
  }

  endSession(token: string): void {
    this.db.removeSync(`s/${digest(token)}`);
  }

  createApiKey(address: Hex20, name: string, scopes: readonly Scope[]): { key: string; record: ApiKeyRecord } {
    if (this.listApiKeys(address).length >= MAX_KEYS_PER_ADDRESS) throw new BlyanError('BAD_ARGUMENT', `at most ${MAX_KEYS_PER_ADDRESS} API keys per address; revoke one first (DELETE /apikeys/:id)`);
    const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = { id: randomBytes(8).toString('hex'), address, name, scopes: SCOPES.filter((s) => scopes.includes(s)), created: this.now() };
    const d = digest(key);
    this.db.transactionSync(() => {
      this.db.putSync(`k/${d}`, Buffer.from(JSON.stringify(record)));
      this.db.putSync(`i/${record.id}`, Buffer.from(d));
    });
    return { key, record };
  }

  apiKey(key: string): ApiKeyRecord | undefined {
    return this.getJson<ApiKeyRecord>(`k/${digest(key)}`);
  }

  listApiKeys(address: Hex20): ApiKeyRecord[] {
    const out: ApiKeyRecord[] = [];
    for (const { value } of this.db.getRange({ start: 'k/', end: 'k0' })) {
      const r = JSON.parse(Buffer.from(value).toString('utf8')) as ApiKeyRecord;
      if (r.address === address) out.push(r);
    }
    return out.sort((a, b) => a.created - b.created);
  }

  /** Revokes a key of `address`; false if it has no such key. */
  revokeApiKey(address: Hex20, id: string): boolean {
    return this.db.transactionSync(() => {
      const d = this.db.get(`i/${id}`);
      if (d === undefined) return false;
      const r = this.getJson<ApiKeyRecord>(`k/${Buffer.from(d).toString('utf8')}`);
      if (r === undefined || r.address !== address) return false;
      this.db.removeSync(`k/${Buffer.from(d).toString('utf8')}`);
      this.db.removeSync(`i/${id}`);
      return true;
    });
  }
}
