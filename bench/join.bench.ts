// Joining the devnet (issue 8): how long a new node takes, as a user runs it, from `blyan up --bootstrap` to a
// verified chain. A seed (`blyan up --role seed`) holds the devnet with its shipped model; a new data dir holds
// only the devnet genesis (`blyan init`). Measured: from starting the new node to `/p2p/sync` reporting done
// (headers verified, every payload fetched, checked and stored), then `blyan chain verify` (every block
// re-verified from scratch: encoding, PoW, signatures, payload hashes and tiles, contextual rules).
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tempDir } from '../test/helpers/fixtures.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'blyan.js');

interface Up {
  url: string;
  p2p: { multiaddrs: string[] } | null;
  stop: () => Promise<void>;
}

function up(data: string, args: string[]): Promise<Up> {
  const child = spawn(process.execPath, [BIN, 'up', '--data', data, '--port', '0', '--p2p-port', '0', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BLYAN_LOG_LEVEL: 'silent' },
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  let out = '';
  child.stdout.setEncoding('utf8');
  return new Promise((ok, fail) => {
    child.stdout.on('data', (s: string) => {
      out += s;
      try {
        ok({ ...(JSON.parse(out) as Omit<Up, 'stop'>), stop });
      } catch {
        // not the whole JSON yet
      }
    });
    child.once('exit', (code) => fail(new Error(`blyan up exited early (${code})`)));
  });
}

function cli(args: string[]): { out: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`blyan ${args.join(' ')} failed: ${r.stderr}`);
  return { out: r.stdout, ms: performance.now() - t0 };
}

interface SyncView {
  done: boolean;
  bytes: { done: number; total: number };
  avgMbps: number;
  heights: Record<string, { local: number; target: number }>;
}

export async function benchJoin(): Promise<Record<string, unknown>> {
  const seedDir = tempDir('blyan-bench-join-seed-');
  const joinDir = tempDir('blyan-bench-join-');
  const nodes: Up[] = [];
  try {
    // The seed's data dir: the devnet with its shipped model, as `blyan up` creates it.
    const seedData = join(seedDir.dir, 'data');
    cli(['up', '--data', seedData, '--once', '--json']);
    const seed = await up(seedData, ['--role', 'seed']);
    nodes.push(seed);
    const data = join(joinDir.dir, 'data');
    cli(['init', '--preset', 'devnet', '--empty', '--data', data, '--json']);

    const t0 = performance.now();
    const joiner = await up(data, ['--bootstrap', (seed.p2p?.multiaddrs ?? []).join(',')]);
    nodes.push(joiner);
    const started = performance.now();
    let view: SyncView;
    for (;;) {
      view = (await (await fetch(`${joiner.url}/p2p/sync`)).json()) as SyncView;
      if (view.done) break;
      if (performance.now() - t0 > 600_000) throw new Error(`no sync after 10 min: ${JSON.stringify(view)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const synced = performance.now();
    const verify = cli(['chain', 'verify', '--data', data, '--json']);
    const report = JSON.parse(verify.out) as { blocks?: number; payloadBytes?: number };
    const s = (ms: number) => Math.round(ms) / 1000;
    return {
      bench: 'join',
      chain: 'devnet + shipped model',
      blocks: report.blocks,
      payloadMB: report.payloadBytes === undefined ? undefined : Math.round(report.payloadBytes / 1e5) / 10,
      startSeconds: s(started - t0),
      syncSeconds: s(synced - started),
      syncAvgMBps: view.avgMbps,
      verifySeconds: s(verify.ms),
      joinAndVerifySeconds: s(synced - t0 + verify.ms),
    };
  } finally {
    for (const n of nodes.reverse()) await n.stop();
    joinDir.cleanup();
    seedDir.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchJoin())}\n`);
}
