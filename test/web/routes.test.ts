/**
 * The node's web UI routes (src/api/routes/web.ts): index and assets with their types and caching, no way out
 * of the dist directory, and a clear 503 when the UI was never built.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { webRoutes } from '../../src/api/routes/web.ts';
import { tempDir } from '../helpers/fixtures.ts';

let t: { dir: string; cleanup: () => void };
let app: FastifyInstance;
let bare: FastifyInstance;

before(async () => {
  t = tempDir('blyan-web-');
  const dist = join(t.dir, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Blyan</title>');
  writeFileSync(join(dist, 'assets', 'app-0123456789ab.js'), 'console.log(1)');
  writeFileSync(join(dist, 'assets', 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(t.dir, 'secret.js'), 'SECRET');
  app = Fastify();
  app.get('/health', async () => ({ status: 'ok' }));
  webRoutes(app, dist);
  bare = Fastify();
  webRoutes(bare, join(t.dir, 'missing'));
});

after(async () => {
  await app.close();
  await bare.close();
  t.cleanup();
});

test('GET / is index.html, uncached, with a same-origin content security policy', async () => {
  const r = await app.inject({ url: '/' });
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers['content-type']), /^text\/html; charset=utf-8/);
  assert.equal(r.headers['cache-control'], 'no-cache');
  const csp = String(r.headers['content-security-policy']);
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /https?:/, 'no other origin is allowed');
  assert.equal(r.body, '<!doctype html><title>Blyan</title>');
  assert.equal((await app.inject({ method: 'HEAD', url: '/' })).statusCode, 200);
});

test('assets carry their content type; hashed names are immutable', async () => {
  const js = await app.inject({ url: '/assets/app-0123456789ab.js' });
  assert.equal(js.statusCode, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(js.headers['x-content-type-options'], 'nosniff');
  assert.equal(js.body, 'console.log(1)');
  const svg = await app.inject({ url: '/assets/favicon.svg' });
  assert.equal(svg.headers['content-type'], 'image/svg+xml');
  assert.equal(svg.headers['cache-control'], 'public, max-age=3600');
});

test('nothing outside dist/assets can be read', async () => {
  for (const url of ['/assets/..%2Fsecret.js', '/assets/..%2F..%2Fsecret.js', '/assets/%2e%2e%2fsecret.js', '/assets/.hidden.js', '/assets/app.exe', '/assets/missing-000000000000.js', '/assets/../secret.js', '/assets/%5C..%5Csecret.js']) {
    const r = await app.inject({ url });
    assert.equal(r.statusCode, 404, url);
    assert.doesNotMatch(r.body, /SECRET/, url);
  }
  assert.equal((await app.inject({ url: '/assets/' })).statusCode, 404);
});

test('API routes keep answering beside the UI', async () => {
  const r = await app.inject({ url: '/health' });
  assert.deepEqual(r.json(), { status: 'ok' });
});

test('without a build, / is a 503 that says to run npm run build:web', async () => {
  const r = await bare.inject({ url: '/' });
  assert.equal(r.statusCode, 503);
  const body = r.json() as { code: string; message: string };
  assert.equal(body.code, 'WEB_UI_NOT_BUILT');
  assert.match(body.message, /npm run build:web/);
  assert.equal((await bare.inject({ url: '/assets/app-0123456789ab.js' })).statusCode, 503);
});
