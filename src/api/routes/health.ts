import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../node/version.ts';
import type { ApiDeps } from '../deps.ts';

export function healthRoutes(app: FastifyInstance, { store, role }: ApiDeps): void {
  app.get('/health', async () => ({
    status: 'ok',
    chainId: store.preset.chainId,
    genesis: store.preset.genesisId,
    version: VERSION,
    role,
  }));
}
