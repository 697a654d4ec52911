import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { createBlock } from '../../src/chain/block.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { createHost, type Host, type NatOptions } from '../../src/p2p/host.ts';
import { tinyDataDir } from '../api/fixture.ts';
import { deterministicBytes, TEST_KEY } from '../helpers/fixtures.ts';

const CHILD = resolve(import.meta.dirname, 'nodeChild.ts');
const ROOT = resolve(import.meta.dirname, '../..');

/** Payloads above one 4 MiB tile, so tiles are fetched from several peers and resumed individually. */
export const BIG_PAYLOADS = 3;
export const BIG_PAYLOAD_BYTES = 9 * 1024 * 1024 + 12_345;

/**
 * A `tiny` data dir with a real chain: genesis, a wallet and a small char-level MoE imported through the
 * CLI (chain A model block, chain-B base, router and expert blocks), plus three chain-B expert blocks with
 * 9 MiB payloads (3 tiles each; the on-chain tile size stays 4 MiB).
 */
export function seedDataDir(): { data: string; cleanup: () => void } {
  const { data, cleanup } = tinyDataDir();
  const store = BlockStore.open(data, TINY);
  try {
    const model = store.headOf('A');
    if (model === undefined || model.header.type !== 'model') throw new Error('fixture: no model block on chain A');
    for (let i = 0; i < BIG_PAYLOADS; i++) {
      const payload = deterministicBytes(`p2p-big-${i}`, BIG_PAYLOAD_BYTES);
      const block = createBlock(
        { chain: 'B', index: 0, prev: null, deps: [model.id], type: 'expert', expert: `layer1.expert${10 + i}`, layer: 1, time: model.header.time + 1000 + i },
        payload,
        TEST_KEY,
        TINY,
      );
      store.append(block, payload);
    }
  } finally {
    store.closeSync();
  }
  return { data, cleanup };
}

/** A copy of a data dir without its peer key (so the copy gets its own peer id). */
export function copyDataDir(from: string, to: string): string {
  cpSync(from, to, { recursive: true });
  const p2p = join(to, 'p2p');
  if (existsSync(p2p)) rmSync(p2p, { recursive: true, force: true });
  return to;
}

export interface ChildConfig {
  readonly data: string;
  readonly bootstrap?: string[];
  readonly experts?: string[];
  readonly autoSync?: boolean;
  readonly timeouts?: Record<string, number>;
  readonly tuning?: Record<string, number>;
  /** false: no bulk channel (tiles only over /blyan/tile/1). */
  readonly bulk?: boolean;
  /** Serve every tile with one byte flipped (a lying peer). */
  readonly corruptTiles?: boolean;
  /** Delay before answering each tile request, ms (to kill a sync halfway). */
  readonly slowTilesMs?: number;
  /** Start `sync()` as soon as the node is up. */
  readonly syncOnStart?: boolean;
}

export type ChildEvent = Record<string, unknown> & { event: string };

/** A node in a child process, driven by JSON lines on stdin and reporting JSON lines on stdout. */
export class NodeProcess {
  readonly events: ChildEvent[] = [];
  private readonly proc: ChildProcessWithoutNullStreams;
  private waiters: { pred: (e: ChildEvent) => boolean; resolve: (e: ChildEvent) => void }[] = [];
  private buf = '';
  stderr = '';
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** `script` runs instead of nodeChild.ts (it speaks the same JSON-lines protocol); `env` adds variables. */
  constructor(config: ChildConfig | { readonly data: string }, opts: { readonly script?: string; readonly env?: Record<string, string> } = {}) {
    // BLYAN_CHILD_NODE_ARGS adds Node flags to every child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile.
    const nodeArgs = (process.env.BLYAN_CHILD_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    this.proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', opts.script ?? CHILD, JSON.stringify(config)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.env === undefined ? {} : { env: { ...process.env, ...opts.env } }),
    });
    this.proc.stdout.on('data', (c: Buffer) => this.onData(c.toString()));
    this.proc.stderr.on('data', (c: Buffer) => {
      this.stderr += c.toString();
      if (this.stderr.length > 100_000) this.stderr = this.stderr.slice(-50_000);
    });
    this.exited = new Promise((res) =>
      this.proc.on('exit', (code, signal) => {
        if (process.env.P2P_CHILD_STDERR === '1' && this.stderr !== '') process.stderr.write(`--- child stderr ---\n${this.stderr}\n`);
        res({ code, signal });
      }),
    );
  }

  private onData(s: string): void {
    this.buf += s;
    const lines = this.buf.split('\n');
    this.buf = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      let e: ChildEvent;
      try {
        e = JSON.parse(line) as ChildEvent;
      } catch {
        continue;
      }
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(e)) return true;
        w.resolve(e);
        return false;
      });
    }
  }

  /** Resolves with the first event (past or future) that matches. */
  waitFor(pred: (e: ChildEvent) => boolean, timeoutMs = 60_000, what = 'event'): Promise<ChildEvent> {
    const past = this.events.find(pred);
    if (past !== undefined) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  /** Waits for the next matching event only (ignores past ones). */
  next(pred: (e: ChildEvent) => boolean, timeoutMs = 60_000, what = 'event'): Promise<ChildEvent> {
    const seen = this.events.length;
    return this.waitFor((e) => this.events.indexOf(e) >= seen && pred(e), timeoutMs, what);
  }

  send(cmd: Record<string, unknown>): void {
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  /** Sends a command and waits for its reply (`{event: 'reply', id}`). */
  async call(cmd: Record<string, unknown>, timeoutMs = 120_000): Promise<ChildEvent> {
    const id = Math.random().toString(36).slice(2);
    const reply = this.waitFor((e) => e.event === 'reply' && e.id === id, timeoutMs, `reply to ${String(cmd.cmd)}`);
    this.send({ ...cmd, id });
    const r = await reply;
    if (r.error !== undefined) throw new Error(`${String(cmd.cmd)} failed: ${JSON.stringify(r.error)}`);
    return r;
  }

  async ready(): Promise<{ peerId: string; addrs: string[] }> {
    const e = await this.waitFor((x) => x.event === 'ready', 60_000, 'ready');
    return { peerId: e.peerId as string, addrs: e.addrs as string[] };
  }

  /** The child's process id (benches read its CPU time). */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.proc.kill(signal);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.send({ cmd: 'stop', id: 'stop' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(t);
  }

  eventsOf(type: string): ChildEvent[] {
    return this.events.filter((e) => e.event === 'p2p' && e.type === type);
  }
}

/**
 * A bare libp2p host of this repo's kind (TCP, Noise, Yamux, the services) on 127.0.0.1, not started, with a
 * fresh identity: for tests that speak a protocol by hand or need a peer nobody knows.
 */
export async function loopbackHost(opts: { readonly nat?: NatOptions; readonly maxConnections?: number } = {}): Promise<Host> {
  return createHost({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    maxConnections: opts.maxConnections ?? 16,
    networkTag: 'test',
    isDenied: () => false,
    maxGossipBytes: 1 << 20,
    ...(opts.nat === undefined ? {} : { nat: opts.nat }),
  });
}
