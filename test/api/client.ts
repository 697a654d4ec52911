/**
 * A small JSON client for API tests against a node: plain calls, SIWE sign-in with a viem account, and a
 * signed quote (the EIP-712 Authorize a wallet would sign), so each test file does not carry its own copy.
 */
import assert from 'node:assert/strict';
import type { privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';

export type Account = ReturnType<typeof privateKeyToAccount>;

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export async function jsonCall(base: string, method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(base + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  return { status: r.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** Signs in with SIWE exactly as a wallet would (nonce, standard message, personal_sign); returns the bearer token. */
export async function signIn(base: string, account: Account): Promise<string> {
  const o = (await jsonCall(base, 'POST', '/wallet/request_nonce', { address: account.address })).body as { nonce: string; domain: string; uri: string; chainId: number };
  const message = createSiweMessage({ address: account.address, chainId: o.chainId, domain: o.domain, nonce: o.nonce, uri: o.uri, version: '1' });
  const r = await jsonCall(base, 'POST', '/wallet/authenticate', { message, signature: await account.signMessage({ message }) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.token as string;
}

export interface Offer {
  quoteId: string;
  free: boolean;
  amount: string;
  typedData: { domain: { name: string; version: string; chainId: number }; types: { Authorize: { name: string; type: string }[] }; primaryType: 'Authorize'; message: Record<string, string> };
}

/** Signs an offer's Authorize with `account` (which may be another key than the one it was offered to). */
export function signOffer(account: Account, offer: Offer): Promise<string> {
  const td = offer.typedData;
  const m = td.message;
  return account.signTypedData({
    domain: td.domain,
    types: td.types,
    primaryType: 'Authorize',
    message: { ...m, maxTokens: BigInt(m.maxTokens as string), amount: BigInt(m.amount as string), expiresAt: BigInt(m.expiresAt as string), nonce: BigInt(m.nonce as string) },
  });
}

/** Asks for a quote of `maxTokens` and signs it, as the web UI does before a paid answer. */
export async function signedQuote(base: string, account: Account, token: string, maxTokens: number): Promise<{ offer: Offer; quoteId: string; signature: string }> {
  const q = await jsonCall(base, 'POST', '/chat/quote', { maxTokens }, token);
  assert.equal(q.status, 200, JSON.stringify(q.body));
  const offer = q.body as unknown as Offer;
  return { offer, quoteId: offer.quoteId, signature: await signOffer(account, offer) };
}

/** A Transfer signed by `from` with viem, as a wallet sends it to POST /tx (the domain and nonce from the node). */
export async function postTransfer(base: string, from: Account, to: string, amount: bigint): Promise<Answer> {
  const eip = (await jsonCall(base, 'GET', '/wallet/eip712')).body;
  const domain = eip.domain as { name: string; version: string; chainId: number };
  const types = eip.types as Record<string, { name: string; type: string }[]>;
  const nonce = BigInt((await jsonCall(base, 'GET', `/wallet/nonce/${from.address}`)).body.nonce as string);
  const signature = await from.signTypedData({ domain, types: { Transfer: types.Transfer as { name: string; type: string }[] }, primaryType: 'Transfer', message: { from: from.address, to: to as `0x${string}`, amount, nonce } });
  return jsonCall(base, 'POST', '/tx', { type: 'Transfer', message: { from: from.address, to, amount: amount.toString(), nonce: nonce.toString() }, signature });
}
