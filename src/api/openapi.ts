import type { FastifyInstance, RouteOptions } from 'fastify';

/**
 * The OpenAPI document (`/docs/json`, browsable at `/docs`) is built from the routes themselves; this table
 * adds what a reader needs: a summary and a tag per route. Request bodies and queries are validated by zod
 * inside the handlers (one error shape everywhere), so Fastify's own schema validation is switched off and
 * schemas here are documentation only.
 */
const DOCS: Record<string, { summary: string; tag: string }> = {
  'GET /health': { summary: 'Node status, chain id, genesis, version, role', tag: 'chain' },
  'GET /chains': { summary: 'Height and head of chains A–D', tag: 'chain' },
  'GET /chains/:chain/blocks': { summary: 'A page of a chain’s blocks', tag: 'chain' },
  'GET /blocks/:hash': { summary: 'One block header', tag: 'chain' },
  'GET /blocks/:hash/payload': { summary: 'A block’s payload bytes', tag: 'chain' },
  'GET /blocks/:hash/header': { summary: 'A block’s canonical header bytes', tag: 'chain' },
  'GET /experts': { summary: 'Current version, size and usage of every routed expert', tag: 'experts' },
  'GET /experts/top': { summary: 'The most used experts on this node', tag: 'experts' },
  'GET /experts/:name': { summary: 'An expert’s lineage (every version)', tag: 'experts' },
  'POST /chat': { summary: 'One answer with its experts, cost and receipt', tag: 'chat' },
  'GET /chat/stream': { summary: 'An answer as Server-Sent Events', tag: 'chat' },
  'POST /chat/quote': { summary: 'A quote to sign (EIP-712 Authorize) for a paid answer', tag: 'chat' },
  'GET /ws/chat': { summary: 'WebSocket: several answers per socket, cancellable', tag: 'chat' },
  'GET /v1/models': { summary: 'OpenAI-compatible model list', tag: 'openai' },
  'POST /v1/chat/completions': { summary: 'OpenAI-compatible chat completion (stream or not)', tag: 'openai' },
  'GET /wallet/balance/:address': { summary: 'Balance of an address (base units)', tag: 'wallet' },
  'GET /wallet/nonce/:address': { summary: 'Next ledger nonce of an address', tag: 'wallet' },
  'GET /wallet/eip712': { summary: 'EIP-712 domain and types of every ledger transaction', tag: 'wallet' },
  'POST /wallet/request_nonce': { summary: 'SIWE: a single-use nonce for an address', tag: 'auth' },
  'POST /wallet/authenticate': { summary: 'SIWE: a signed EIP-4361 message for a bearer token', tag: 'auth' },
  'POST /wallet/logout': { summary: 'Ends the session', tag: 'auth' },
  'GET /wallet/me': { summary: 'The signed-in account, its balance and free tiers', tag: 'auth' },
  'POST /apikeys': { summary: 'Creates an API key with scopes (session only)', tag: 'auth' },
  'GET /apikeys': { summary: 'Lists this account’s API keys', tag: 'auth' },
  'DELETE /apikeys/:id': { summary: 'Revokes an API key', tag: 'auth' },
  'POST /tx': { summary: 'Submits an EIP-712 signed ledger transaction', tag: 'ledger' },
  'POST /faucet': { summary: 'Devnet: a daily grant for an address', tag: 'ledger' },
  'GET /ledger/status': { summary: 'Ledger producer or follower, chain-C head, mempool or waiting transactions', tag: 'ledger' },
  'GET /economy/supply': { summary: 'Issued, burned, circulating BLY and the pools', tag: 'ledger' },
  'GET /economy/leaderboard': { summary: 'Accounts by rewards earned', tag: 'ledger' },
  'GET /economy/rewards/user/:address': { summary: 'Rewards paid to an address', tag: 'ledger' },
  'GET /metrics': { summary: 'Prometheus metrics', tag: 'node' },
  'POST /datasets': { summary: 'Adds a dataset to chain D (operator)', tag: 'learning' },
  'GET /datasets': { summary: 'Lists the datasets', tag: 'learning' },
  'GET /datasets/:id': { summary: 'One dataset, its chunks and shards', tag: 'learning' },
  'POST /mine': { summary: 'Starts a mining job (operator)', tag: 'learning' },
  'GET /mine': { summary: 'Mining jobs', tag: 'learning' },
  'GET /mine/:jobId': { summary: 'One mining job', tag: 'learning' },
  'GET /mine/:jobId/events': { summary: 'A mining job’s progress as Server-Sent Events', tag: 'learning' },
  'DELETE /mine/:jobId': { summary: 'Cancels a mining job (operator)', tag: 'learning' },
  'GET /pol/deltas': { summary: 'Accepted and rejected deltas with reasons', tag: 'learning' },
};

/** Adds summaries and tags to routes as they are declared; call before any route is added. */
export function describeRoutes(app: FastifyInstance): void {
  app.setValidatorCompiler(() => (value) => ({ value }));
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const doc = DOCS[`${methods[0]} ${route.url}`];
    const tags = doc === undefined ? [route.url.split('/')[1] ?? 'other'] : [doc.tag];
    route.schema = { ...(route.schema ?? {}), tags, ...(doc === undefined ? {} : { summary: doc.summary }) };
  });
}
