import type { Hex20 } from '../ledger/systemAccounts.ts';

export type Scope = 'chat' | 'tx' | 'datasets' | 'mine';
export const SCOPES: readonly Scope[] = ['chat', 'tx', 'datasets', 'mine'];

/** Who is asking: resolved from the request's credentials by the API, used for free tier, charges and limits. */
export type Identity =
  | { readonly kind: 'anonymous'; readonly ip: string }
  | { readonly kind: 'session'; readonly address: Hex20 }
  | { readonly kind: 'apiKey'; readonly address: Hex20; readonly keyId: string; readonly scopes: readonly Scope[] };

/** The key the node's free tier and rate limits count under. */
export function identityKey(id: Identity): string {
  switch (id.kind) {
    case 'anonymous':
      return `ip:${id.ip}`;
    case 'session':
      return `addr:${id.address}`;
    case 'apiKey':
      return `key:${id.keyId}`;
  }
}

export function addressOfIdentity(id: Identity): Hex20 | null {
  return id.kind === 'anonymous' ? null : id.address;
}
