import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { formatAddress, parseAddress } from '../../chain/address.ts';
import { freeQuotaLeft, trustLevelOf } from '../../ledger/freeTier.ts';
import { type Hex20, hexAddress } from '../../ledger/systemAccounts.ts';
import { ledgerDomain } from '../../ledger/tx.ts';
import { TX_TYPES } from '../../ledger/txTypes.ts';
import { identify, requireAddress, requireSession } from '../auth/identify.ts';
import { SCOPES } from '../../node/identity.ts';
import type { ApiDeps } from '../deps.ts';
import { parse } from '../validate.ts';

export const AddressText = z.string().transform((s, ctx) => {
  try {
    return hexAddress(parseAddress(s));
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const AddressParam = z.strictObject({ address: AddressText });
const NonceBody = z.strictObject({ address: AddressText });
const AuthBody = z.strictObject({ message: z.string().min(1).max(4096), signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte 0x-hex signature') });
const KeyBody = z.strictObject({ name: z.string().min(1).max(64), scopes: z.array(z.enum(SCOPES as [string, ...string[]])).min(1).max(SCOPES.length) });
const KeyParam = z.strictObject({ id: z.string().regex(/^[0-9a-f]{16}$/) });

export const display = (a: Hex20): string => formatAddress(new Uint8Array(Buffer.from(a.slice(2), 'hex')));

/** The SIWE domain and URI of this node as the client reached it (RFC 3986 authority: host[:port]). */
function siweTarget(req: FastifyRequest): { domain: string; uri: string } {
  return { domain: req.host, uri: `${req.protocol}://${req.host}` };
}

/** Balances, signing data, Sign-In with Ethereum, sessions and API keys. */
export function walletRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { ledger, credentials, siwe, billing } = deps;
  const chainId = ledger.params.chainId;

  app.get('/wallet/balance/:address', async (req) => {
    const { address } = parse(AddressParam, req.params, 'params');
    const acc = await ledger.account(address);
    return { address: display(address), balance: (acc?.balance ?? 0n).toString(), stake: (acc?.stake ?? 0n).toString(), nonce: (acc?.nonce ?? 0n).toString() };
  });

  app.get('/wallet/nonce/:address', async (req) => {
    const { address } = parse(AddressParam, req.params, 'params');
    return { address: display(address), nonce: ((await ledger.account(address))?.nonce ?? 0n).toString() };
  });

  /** What a wallet needs to sign any ledger transaction with eth_signTypedData_v4. */
  app.get('/wallet/eip712', async () => ({ domain: ledgerDomain(chainId), types: TX_TYPES, provider: display(billing.provider) }));

  app.post('/wallet/request_nonce', async (req) => {
    const { address } = parse(NonceBody, req.body, 'body');
    const { domain, uri } = siweTarget(req);
    const o = siwe.offer(address, domain, uri, chainId);
    return { ...o, address: display(o.address), statement: 'Sign in to Blyan' };
  });

  app.post('/wallet/authenticate', async (req) => {
    const { message, signature } = parse(AuthBody, req.body, 'body');
    const address = await siwe.verify(message, signature as `0x${string}`, { domain: siweTarget(req).domain, chainId });
    const { token, expiresAt } = credentials.createSession(address);
    return { token, address: display(address), expiresAt };
  });

  app.post('/wallet/logout', async (req, reply) => {
    const id = identify(req, credentials);
    requireSession(id);
    const token = req.headers.authorization?.split(/\s+/)[1];
    if (token !== undefined) credentials.endSession(token);
    return reply.code(204).send();
  });

  /** The signed-in account: balance, trust level, and both free tiers. */
  app.get('/wallet/me', async (req) => {
    const id = identify(req, credentials);
    const address = requireAddress(id);
    const snap = await ledger.read({ accounts: [address], quotaAddrs: [address] });
    const acc = snap.account(address);
    const now = Date.now();
    return {
      address: display(address),
      via: id.kind,
      balance: (acc?.balance ?? 0n).toString(),
      nonce: (acc?.nonce ?? 0n).toString(),
      trustLevel: trustLevelOf(acc, ledger.paramsAt(now)),
      freeTier: await billing.allowanceOf(id),
      ledgerFreeRequestsLeft: freeQuotaLeft(snap, address, now, ledger.paramsAt(now)),
    };
  });

  app.post('/apikeys', async (req, reply) => {
    const address = requireSession(identify(req, credentials));
    const body = parse(KeyBody, req.body, 'body');
    const { key, record } = credentials.createApiKey(address, body.name, body.scopes as (typeof SCOPES)[number][]);
    return reply.code(201).send({ key, ...record, address: display(record.address) });
  });

  app.get('/apikeys', async (req) => {
    const address = requireSession(identify(req, credentials));
    return credentials.listApiKeys(address).map((r) => ({ ...r, address: display(r.address) }));
  });

  app.delete('/apikeys/:id', async (req, reply) => {
    const address = requireSession(identify(req, credentials));
    const { id } = parse(KeyParam, req.params, 'params');
    if (!credentials.revokeApiKey(address, id)) return reply.code(404).send({ code: 'NOT_FOUND', message: `no API key ${id} of this account` });
    return reply.code(204).send();
  });
}
