import type { FastifyRequest } from 'fastify';
import { BlyanError } from '../../errors.ts';
import type { Hex20 } from '../../ledger/systemAccounts.ts';
import type { Identity, Scope } from '../../node/identity.ts';
import { API_KEY_PREFIX, type Credentials } from './sessions.ts';

/** The bearer token of a request, if it sent one. */
export function bearerOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (m === null) throw new BlyanError('AUTH_INVALID', 'the Authorization header must be "Bearer <token>"');
  return m[1];
}

/**
 * Who sent a request: no credentials is an anonymous caller (known by IP); a bearer token must be a live
 * session or API key, never silently treated as anonymous, so a typo in a key is a 401 and not a
 * mysteriously small free tier (the one exception is /v1, see below).
 */
export function identify(req: FastifyRequest, creds: Credentials, opts: { anyKeyIsAnonymous?: boolean } = {}): Identity {
  const token = bearerOf(req);
  if (token === undefined) return { kind: 'anonymous', ip: req.ip };
  if (token.startsWith(API_KEY_PREFIX)) {
    const k = creds.apiKey(token);
    if (k === undefined) throw new BlyanError('AUTH_INVALID', 'unknown or revoked API key');
    return { kind: 'apiKey', address: k.address, keyId: k.id, scopes: k.scopes };
  }
  const s = creds.session(token);
  // OpenAI clients must send some key; like other local OpenAI-compatible servers, /v1 takes any
  // placeholder as anonymous. Blyan API keys (blk_…) and sessions are still checked.
  if (s === undefined && opts.anyKeyIsAnonymous === true) return { kind: 'anonymous', ip: req.ip };
  if (s === 'expired') throw new BlyanError('AUTH_EXPIRED', 'the session has expired; sign in again (POST /wallet/request_nonce, then /wallet/authenticate)');
  if (s === undefined) throw new BlyanError('AUTH_INVALID', 'unknown bearer token; sign in (POST /wallet/authenticate) or use an API key');
  return { kind: 'session', address: s.address };
}

/** An identity allowed to do `scope`: sessions may do everything their address may; keys only their scopes. */
export function requireScope(id: Identity, scope: Scope): void {
  if (id.kind === 'apiKey' && !id.scopes.includes(scope)) {
    throw new BlyanError('AUTH_FORBIDDEN', `this API key lacks the "${scope}" scope`);
  }
}

/** The signed-in address (session or API key), or a 401 saying how to sign in. */
export function requireAddress(id: Identity): Hex20 {
  if (id.kind === 'anonymous') throw new BlyanError('AUTH_REQUIRED', 'sign in first: POST /wallet/request_nonce, sign the EIP-4361 message, POST /wallet/authenticate, then send Authorization: Bearer <token>');
  return id.address;
}

/** Only a SIWE session (managing API keys must not be possible with an API key). */
export function requireSession(id: Identity): Hex20 {
  if (id.kind !== 'session') throw new BlyanError('AUTH_REQUIRED', 'this needs a sign-in session (SIWE), not an API key');
  return id.address;
}
