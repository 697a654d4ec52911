/**
 * `blyan up` as a real process: it serves on the printed URL and shuts down cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';

const BIN = resolve(import.meta.dirname, '../../bin/blyan.js');

test('blyan up serves /health on the printed URL and exits 0 on SIGTERM', async () => {
  const t = tempDir('blyan-up-');
  try {
    const data = join(t.dir, 'data');
    blyanJson(['init', '--preset', 'tiny', '--data', data]);
    const child = spawn(process.execPath, [BIN, 'up', '--data', data, '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BLYAN_DATA: '' } });
    let out = '';
    child.stdout.setEncoding('utf8');
    const started = new Promise<{ url: string; preset: string }>((ok, fail) => {
      child.stdout.on('data', (s: string) => {
        out += s;
        try {
          ok(JSON.parse(out) as { url: string; preset: string });
        } catch {
          // not the whole JSON yet
        }
      });
      child.on('exit', (code) => fail(new Error(`blyan up exited early (${code})`)));
    });
    const info = await started;
    assert.equal(info.preset, 'tiny');
    assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const health = (await (await fetch(`${info.url}/health`)).json()) as { status: string; role: string };
    assert.deepEqual([health.status, health.role], ['ok', 'full']);
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    assert.equal(code, 0);
  } finally {
    t.cleanup();
  }
});
