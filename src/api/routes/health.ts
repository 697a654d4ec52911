import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../node/version.ts';
import type { ApiDeps } from '../deps.ts';

/** For the OpenAPI document: the answer is sent as a ready string, which Fastify does not serialize again. */
const HEALTH_SCHEMA = {
  response: {
    200: {
      type: 'object',
      required: ['status', 'chainId', 'genesis', 'version', 'role'],
      properties: {
        status: { type: 'string', const: 'ok' },
        chainId: { type: 'integer' },
        genesis: { type: 'string', description: 'Genesis id (hex)' },
        version: { type: 'string' },
        role: { type: 'string', enum: ['full', 'service', 'worker', 'seed'] },
      },
    },
  },
};

export function healthRoutes(app: FastifyInstance, { store, role }: ApiDeps): void {
  // Every field is fixed for the life of the process, and load balancers and monitors poll this route
  // the most: the body is serialized once, and the handler is synchronous (no promise per request).
  const body = JSON.stringify({ status: 'ok', chainId: store.preset.chainId, genesis: store.preset.genesisId, version: VERSION, role });
  app.get('/health', { schema: HEALTH_SCHEMA }, (_req, reply) => {
    void reply.type('application/json; charset=utf-8').send(body);
  });
}
