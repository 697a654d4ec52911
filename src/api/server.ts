import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { VERSION } from '../node/version.ts';
import { bearerOf } from './auth/identify.ts';
import type { ApiDeps } from './deps.ts';
import { errorHandler, notFoundHandler } from './errors.ts';
import { describeRoutes } from './openapi.ts';
import { RequestLog, requestChildLogger } from './requestLog.ts';
import { blockRoutes } from './routes/blocks.ts';
import { chainRoutes } from './routes/chains.ts';
import { chatRoutes } from './routes/chat.ts';
import { chatStreamRoutes } from './routes/chatStream.ts';
import { datasetRoutes } from './routes/datasets.ts';
import { expertRoutes } from './routes/experts.ts';
import { healthRoutes } from './routes/health.ts';
import { ledgerRoutes } from './routes/ledger.ts';
import { mineRoutes } from './routes/mine.ts';
import { openaiRoutes } from './routes/openai.ts';
import { p2pRoutes } from './routes/p2p.ts';
import { polRoutes } from './routes/pol.ts';
import { quoteRoutes } from './routes/quote.ts';
import { walletRoutes } from './routes/wallet.ts';
import { webRoutes } from './routes/web.ts';
import { wsChatRoutes } from './routes/wsChat.ts';

const CHAT_ROUTES = new Set(['/chat', '/chat/stream', '/v1/chat/completions', '/chat/quote']);
const WS_MAX_MESSAGE = 256 * 1024;

/** Rate limits count per credential when there is one (many users may share an IP), else per IP. */
function rateKey(req: FastifyRequest): string {
  try {
    const token = bearerOf(req);
    if (token !== undefined) return `t:${token.slice(-24)}`;
  } catch {
    // A malformed header is answered by the route with 401; count it under the IP.
  }
  return `ip:${req.ip}`;
}

/** The HTTP API (docs/api.md). Errors are always JSON `{code, message}`; bad input is a 4xx, never a 500. */
export async function buildServer(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Without a logger there is no child logger to make: a custom factory would make Fastify call it anyway.
    ...(deps.logLevel === false
      ? { logger: false }
      : { logger: { level: deps.logLevel, stream: process.stderr }, logController: new RequestLog(), childLoggerFactory: requestChildLogger }),
    bodyLimit: deps.bodyLimit,
    // Close idle keep-alive sockets on stop; streaming answers end through deps.shutdown.
    forceCloseConnections: 'idle',
    requestTimeout: 120_000,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
  });
  // Bodies are JSON only: anything else is 415, not a string the schemas then reject.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  describeRoutes(app);
  deps.metrics.instrument(app);
  if (deps.rateLimit.perMinute > 0) {
    const chat = deps.rateLimit.chatPerMinute;
    app.addHook('onRoute', (route) => {
      if (CHAT_ROUTES.has(route.url)) route.config = { ...(route.config ?? {}), rateLimit: { max: chat, timeWindow: 60_000 } };
    });
    await app.register(rateLimit, {
      global: true,
      max: deps.rateLimit.perMinute,
      timeWindow: 60_000,
      keyGenerator: rateKey,
      errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, code: 'RATE_LIMITED', message: `too many requests: at most ${ctx.max} per minute; retry in ${Math.ceil(ctx.ttl / 1000)} s` }),
    });
  }
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Blyan node API', version: VERSION, description: 'See docs/api.md. Errors are {code, message}; amounts are decimal strings of base units (1 BLY = 10^18).' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A SIWE session token or an API key (blk_…)' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // What a node serves depends on its role (docs/api.md "Roles"): every node answers for the chain; service
  // and full nodes answer users; only a full node mines; seeds and workers keep their CPU for peers.
  const answersUsers = deps.role === 'full' || deps.role === 'service';
  healthRoutes(app, deps);
  chainRoutes(app, deps);
  blockRoutes(app, deps);
  expertRoutes(app, deps);
  p2pRoutes(app, deps);
  if (deps.role !== 'worker') {
    walletRoutes(app, deps);
    ledgerRoutes(app, deps);
    polRoutes(app, deps);
  }
  if (answersUsers) {
    chatRoutes(app, deps);
    chatStreamRoutes(app, deps);
    quoteRoutes(app, deps);
    // In its own context: the plugin's per-request hooks then run for the WebSocket route only.
    await app.register(async (ws) => {
      await ws.register(websocket, { options: { maxPayload: WS_MAX_MESSAGE } });
      wsChatRoutes(ws, deps);
    });
    openaiRoutes(app, deps);
    datasetRoutes(app, deps);
    webRoutes(app);
  }
  if (deps.role === 'full') mineRoutes(app, deps);
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.exposition();
  });
  return app;
}
