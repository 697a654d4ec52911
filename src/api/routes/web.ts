import { readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** web/dist, built by `npm run build:web` (scripts/build-web.mjs; runs on npm ci/install). */
export const WEB_DIST = fileURLToPath(new URL('../../../web/dist', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};
/** One path segment, no dot-dot, no separators, a known type: nothing else is ever read from disk. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;
/** Build output names carry a content hash (app-0123456789ab.js): those never change. */
const HASHED = /-[0-9a-f]{12}\.[a-z0-9]+$/;

/** Everything the page loads comes from this origin; API calls go to the same origin. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function notBuilt(reply: FastifyReply, dir: string): FastifyReply {
  return reply
    .code(503)
    .header('cache-control', 'no-store')
    .send({ code: 'WEB_UI_NOT_BUILT', message: `the web UI is not built (no ${join(dir, 'index.html')}): run npm run build:web` });
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * The web UI: `GET /` is web/dist/index.html, `GET /assets/<name>` its bundled files. Only these two routes, so
 * every API route keeps precedence; the UI routes itself in the URL fragment (#/explorer/…), never on the server.
 * Files are read per request (a rebuild shows up without a restart).
 */
export function webRoutes(app: FastifyInstance, dir: string = WEB_DIST): void {
  // Not API: kept out of the OpenAPI document.
  const opts = { schema: { hide: true } };
  app.get('/', opts, async (_req, reply) => {
    const index = join(dir, 'index.html');
    if (!(await isFile(index))) return notBuilt(reply, dir);
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .send(await readFile(index));
  });

  app.get('/assets/:name', opts, async (req, reply) => {
    const name = (req.params as { name?: string }).name ?? '';
    const type = TYPES[extname(name).toLowerCase()];
    if (!ASSET_NAME.test(name) || name.includes('..') || type === undefined) {
      return reply.code(404).send({ code: 'NOT_FOUND', message: `no asset ${name.slice(0, 100)}` });
    }
    const path = join(dir, 'assets', name);
    if (!(await isFile(path))) {
      if (!(await isFile(join(dir, 'index.html')))) return notBuilt(reply, dir);
      return reply.code(404).send({ code: 'NOT_FOUND', message: `no asset ${name}` });
    }
    return reply
      .type(type)
      .header('cache-control', HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'public, max-age=3600')
      .header('x-content-type-options', 'nosniff')
      .send(await readFile(path));
  });
}
