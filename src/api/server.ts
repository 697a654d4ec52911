import Fastify, { type FastifyInstance } from 'fastify';
import type { ApiDeps } from './deps.ts';
import { errorHandler, notFoundHandler } from './errors.ts';
import { blockRoutes } from './routes/blocks.ts';
import { chainRoutes } from './routes/chains.ts';
import { chatRoutes } from './routes/chat.ts';
import { chatStreamRoutes } from './routes/chatStream.ts';
import { expertRoutes } from './routes/experts.ts';
import { healthRoutes } from './routes/health.ts';
import { openaiRoutes } from './routes/openai.ts';

/** The HTTP API (docs/api.md). Errors are always JSON `{code, message}`; bad input is a 4xx, never a 500. */
export function buildServer(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimit,
    // Close idle keep-alive sockets on stop; streaming answers end through deps.shutdown.
    forceCloseConnections: 'idle',
    requestTimeout: 120_000,
  });
  // Bodies are JSON only: anything else is 415, not a string the schemas then reject.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  healthRoutes(app, deps);
  chainRoutes(app, deps);
  blockRoutes(app, deps);
  expertRoutes(app, deps);
  chatRoutes(app, deps);
  chatStreamRoutes(app, deps);
  openaiRoutes(app, deps);
  return app;
}
