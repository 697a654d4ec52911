import type { FastifyRequest } from 'fastify';
import { BlyanError } from '../../errors.ts';
import type { Scope } from '../../node/identity.ts';
import { listWallets } from '../../wallet/walletStore.ts';
import { identify, requireScope } from './identify.ts';
import type { Credentials } from './sessions.ts';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/**
 * Actions that make the node sign with its operator's wallet (adding datasets, mining) are the operator's:
 * a caller on this machine (loopback), or one signed in as one of the data dir's wallets (a SIWE session,
 * or an API key of that address with the scope). Anyone else could otherwise spend the operator's
 * identity and CPU.
 */
export async function requireOperator(req: FastifyRequest, creds: Credentials, dataDir: string, scope: Scope): Promise<void> {
  const id = identify(req, creds);
  requireScope(id, scope);
  if (id.kind === 'anonymous') {
    if (LOOPBACK.test(req.ip)) return;
    throw new BlyanError('AUTH_REQUIRED', `only the node's operator may do this: call from the node's machine, or sign in as one of its wallets`);
  }
  const wallets = await listWallets(dataDir);
  if (!wallets.some((w) => w.address.toLowerCase() === id.address)) {
    throw new BlyanError('AUTH_FORBIDDEN', `${id.address} is not a wallet of this node; only its operator may do this`);
  }
}
