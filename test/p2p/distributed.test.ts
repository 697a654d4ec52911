import '../../src/p2p/polyfill.ts';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { fromHex, toHex } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { generate } from '../../src/engine/generate.ts';
import { loadKernels } from '../../src/engine/kernels/index.ts';
import type { Kernels } from '../../src/engine/kernels/types.ts';
import { type ModelEntry, resolveModel } from '../../src/engine/modelRegistry.ts';
import { MoeModel } from '../../src/engine/moe.ts';
import { Sampler } from '../../src/engine/sampler.ts';
import { isBlyanError } from '../../src/errors.ts';
import { lineageSource } from '../../src/learning/lineage.ts';
import { EXPERT_PROTOCOL, encodeExpertRequest, requestExperts } from '../../src/p2p/expertRpc.ts';
import { FrameReader, frameHeader, writeFrame } from '../../src/p2p/framing.ts';
import type { Host } from '../../src/p2p/host.ts';
import { type P2pEvent, type P2pNode, startP2p } from '../../src/p2p/index.ts';
import { STATUS_ERROR } from '../../src/p2p/protocols/rpc.ts';
import { RpcSessions } from '../../src/p2p/protocols/rpcSession.ts';
import type { RemoteExpertRunner, RemoteRunnerOptions } from '../../src/p2p/remoteExperts.ts';
import { tinyDataDir } from '../api/fixture.ts';
import { tempDir } from '../helpers/fixtures.ts';
import type { ExpertChildConfig } from './expertChild.ts';
import { copyDataDir, loopbackHost, NodeProcess } from './fixture.ts';

// Distributed inference on 127.0.0.1: this process is the service node (it holds the whole chain, runs
// attention and routers, and sends routed experts to workers); each worker is a child process with its own
// copy of the data dir, hosting part of the experts.

const SCRIPT = resolve(import.meta.dirname, 'expertChild.ts');
const PROMPT = [1, 7, 3, 12, 5, 9];
const NEW_TOKENS = 40;

let fx: { data: string; cleanup: () => void };
let work: { dir: string; cleanup: () => void };
let store: BlockStore;
let entry: ModelEntry;
let kernels: Kernels;
let experts: string[];
let reference: number[];
let p2p: P2pNode;
const events: P2pEvent[] = [];
const procs: NodeProcess[] = [];
let copies = 0;

function worker(cfg: Omit<ExpertChildConfig, 'data' | 'bootstrap'>): NodeProcess {
  const data = copyDataDir(fx.data, join(work.dir, `w${copies++}`));
  const p = new NodeProcess({ ...cfg, data, bootstrap: p2p.multiaddrs() } satisfies ExpertChildConfig, { script: SCRIPT, env: { BLYAN_THREADS: '1' } });
  procs.push(p);
  return p;
}

async function model(opts: RemoteRunnerOptions): Promise<{ model: MoeModel; runner: () => RemoteExpertRunner }> {
  let runner: RemoteExpertRunner | undefined;
  const factory = p2p.expertRunner(entry, opts);
  const m = await MoeModel.load(entry.meta.config, lineageSource(store, entry), kernels, {
    cacheBytes: 64 << 20,
    runner: (local) => {
      runner = factory(local);
      return runner;
    },
  });
  return { model: m, runner: () => runner as RemoteExpertRunner };
}

async function greedy(m: MoeModel, onToken?: (i: number) => void): Promise<number[]> {
  let i = 0;
  const r = await generate(m.newSession(), PROMPT, new Sampler({ greedy: true }), {
    maxNewTokens: NEW_TOKENS,
    onToken: () => {
      onToken?.(i++);
      return undefined;
    },
  });
  return r.ids;
}

const versionOf = (name: string) => toHex(store.currentVersion(entry.id, name) as Uint8Array);

/** Waits until every expert has `min` live replicas and every worker's latency has been measured. */
async function waitForWorkers(peers: readonly string[], min: number, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const snap = p2p.workers.snapshot();
    const measured = peers.every((p) => snap.some((w) => w.peer === p && w.latencyMs !== null));
    const covered = experts.every((e) => p2p.workers.replicas(entry.idHex, e, versionOf(e)).length >= min);
    if (measured && covered) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`workers not ready: ${JSON.stringify(snap)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const callsTo = (peer: string, from = 0) => events.slice(from).filter((e) => e.type === 'expert-call' && e.peer === peer).length;

before(async () => {
  fx = tinyDataDir();
  work = tempDir('blyan-p2p-dist-');
  store = BlockStore.open(fx.data, TINY);
  entry = resolveModel(store);
  experts = entry.meta.layout.map((c) => c.name).filter((n) => /^layer\d+\.expert\d+$/.test(n));
  kernels = await loadKernels({ threads: 1 });
  const local = await MoeModel.load(entry.meta.config, lineageSource(store, entry), kernels, { cacheBytes: 64 << 20 });
  reference = await greedy(local);
  p2p = await startP2p({ store, dataDir: fx.data, autoSync: false, expertRpc: { heartbeatMs: 500 }, onEvent: (e) => events.push(e) });
});

after(async () => {
  await Promise.all(procs.map((p) => p.stop().catch(() => p.kill())));
  await p2p?.stop();
  await kernels?.close();
  store?.closeSync();
  work?.cleanup();
  fx?.cleanup();
});

describe('1 service node + 3 workers, every expert on two of them', () => {
  let ws: NodeProcess[];
  let ids: string[];

  before(async () => {
    // Three groups; each worker hosts two, so every expert has two replicas and any one worker may die.
    const g = [experts.slice(0, 3), experts.slice(3, 6), experts.slice(6)];
    const [a, b, c] = g as [string[], string[], string[]];
    ws = [worker({ host: [...a, ...b] }), worker({ host: [...b, ...c] }), worker({ host: [...c, ...a] })];
    ids = (await Promise.all(ws.map((w) => w.ready()))).map((r) => r.peerId);
    await waitForWorkers(ids, 2);
  });

  after(async () => {
    // Out of the way of the next group: stopped, and no longer live in the registry (no heartbeat).
    await Promise.all(ws.map((w) => w.stop()));
    const t0 = Date.now();
    while (p2p.workers.snapshot().some((w) => ids.includes(w.peer) && w.live) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 100));
  });

  test('distributed greedy generation gives exactly the ids of local generation', { timeout: 120_000 }, async () => {
    assert.equal(experts.length, 8);
    const { model: m, runner } = await model({ spotCheck: 0, fallback: 'none', timeoutMs: 5000 });
    const from = events.length;
    const got = await greedy(m);
    assert.deepEqual(got, reference);
    const s = runner().stats;
    assert.equal(s.localJobs, 0, 'every routed expert ran on a worker');
    assert.ok(s.remoteJobs > NEW_TOKENS, JSON.stringify(s));
    assert.equal(m.experts.stats().misses, 0, 'the service node loaded no expert itself');
    const used = ids.filter((p) => callsTo(p, from) > 0);
    assert.ok(used.length >= 2, `work spread over the workers: ${used.length}`);
    // Every session went over the direct channel (sealed TCP), none fell back to libp2p.
    const direct = p2p.status().experts.direct;
    assert.ok(direct !== null && direct.opened >= used.length, JSON.stringify(direct));
    assert.equal(direct.fallbacks, 0, JSON.stringify(direct));
    assert.equal(direct.broken, 0, JSON.stringify(direct));
  });

  test('workers are found through the DHT too (provider records per expert version)', { timeout: 60_000 }, async () => {
    const name = experts[0] as string;
    const t0 = Date.now();
    let found = 0;
    while (found === 0 && Date.now() - t0 < 30_000) {
      found = await p2p.workers.discover(entry.idHex, name, fromHex(versionOf(name)), 3000, 0);
      if (found === 0) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(found >= 1, 'a provider of the version was found');
    const via = events.filter((e) => e.type === 'worker-discovered' && e.expert === name).map((e) => (e as { peer: string }).peer);
    // Workers 0 and 2 host experts[0].
    assert.ok(via.every((p) => p === ids[0] || p === ids[2]), `only hosts of ${name}: ${JSON.stringify(via)}`);
  });

  test('a worker SIGKILLed mid-stream: the stream completes through the other replicas, still exact', { timeout: 120_000 }, async () => {
    const { model: m, runner } = await model({ spotCheck: 0, fallback: 'none', timeoutMs: 5000 });
    const from = events.length;
    let victim: string | undefined;
    let killedAt = -1;
    const got = await greedy(m, (i) => {
      if (i !== 5) return;
      // The busiest worker so far: its experts must move to their other replicas.
      victim = [...ids].sort((x, y) => callsTo(y, from) - callsTo(x, from))[0] as string;
      (ws[ids.indexOf(victim)] as NodeProcess).kill('SIGKILL');
      killedAt = events.length;
    });
    assert.deepEqual(got, reference);
    assert.ok(victim !== undefined && killedAt > 0);
    assert.ok(callsTo(victim, from) > 0, 'the victim was serving before the kill');
    assert.equal(callsTo(victim, killedAt), 0, 'nothing was answered by the dead worker');
    const s = runner().stats;
    assert.equal(s.localJobs, 0, 'no job fell back to the service node');
    assert.ok(events.slice(killedAt).some((e) => e.type === 'expert-call' && e.peer !== victim));
    const down = events.slice(killedAt).filter((e) => (e.type === 'expert-failed' || e.type === 'worker-down') && e.peer === victim);
    assert.ok(down.length > 0, 'the failed requests were noticed');
    assert.ok(p2p.workers.snapshot().some((w) => w.peer === victim && w.down), 'and the dead worker is skipped');
  });
});

describe('a worker without a direct channel', () => {
  test('is reached over libp2p streams instead, and the answer is still exact', { timeout: 120_000 }, async () => {
    const w = worker({ host: 'all', bulk: false });
    const id = (await w.ready()).peerId;
    try {
      await waitForWorkers([id], 1);
      const before = { ...(p2p.status().experts.direct as NonNullable<ReturnType<P2pNode['status']>['experts']['direct']>) };
      const { model: m, runner } = await model({ spotCheck: 0, fallback: 'none', timeoutMs: 5000 });
      const from = events.length;
      assert.deepEqual(await greedy(m), reference);
      assert.equal(runner().stats.localJobs, 0);
      assert.ok(callsTo(id, from) > 0, 'the worker did the work');
      const after = p2p.status().experts.direct;
      assert.ok(after !== null && after.fallbacks > before.fallbacks, `the session went to libp2p: ${JSON.stringify(after)}`);
      assert.equal(after.opened, before.opened, 'no direct session to it');
    } finally {
      await w.stop();
      const t0 = Date.now();
      while (p2p.workers.snapshot().some((x) => x.peer === id && x.live) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 100));
    }
  });
});

describe('a lying worker and a broken one among honest replicas', () => {
  let honest: string;
  let liar: string;
  let broken: string;
  let h: NodeProcess;
  let b: NodeProcess;

  before(async () => {
    // The honest worker hosts everything but answers slowly, so routing prefers the other two once it has
    // measured it; the liar hosts layer 1, the broken worker layer 0.
    h = worker({ host: 'all', delayMs: 40 });
    const l = worker({ host: experts.filter((e) => e.startsWith('layer1.')), lie: true });
    b = worker({ host: experts.filter((e) => e.startsWith('layer0.')), badShape: true });
    [honest, liar, broken] = (await Promise.all([h.ready(), l.ready(), b.ready()])).map((r) => r.peerId) as [string, string, string];
    await waitForWorkers([honest, liar, broken], 2);
  });

  test('spot checks catch the liar: quarantined and banned, its work redone, the answer exact', { timeout: 120_000 }, async () => {
    const { model: m, runner } = await model({ spotCheck: 1, seed: 7, fallback: 'local', timeoutMs: 5000 });
    const from = events.length;
    const got = await greedy(m);
    assert.deepEqual(got, reference);
    const bad = events.slice(from).filter((e) => e.type === 'expert-spot-check' && !e.ok);
    assert.ok(bad.length >= 1 && bad.every((e) => e.type === 'expert-spot-check' && e.peer === liar), JSON.stringify(bad));
    const q = events.findIndex((e) => e.type === 'worker-quarantined' && e.peer === liar);
    assert.ok(q >= from, 'the liar was quarantined');
    assert.equal(callsTo(liar, q + 1), 0, 'no request went to the liar after its quarantine');
    assert.ok(p2p.workers.isQuarantined(liar));
    assert.ok(p2p.status().scores.some((s) => s.peer === liar && s.banned), 'and banned by its peer score');
    assert.ok(!p2p.status().scores.some((s) => s.peer === honest && s.banned));
    assert.ok(runner().stats.mismatches >= 1);
    // With the liar gone, a second answer is still exact.
    assert.deepEqual(await greedy(m), reference);
  });

  test('a worker answering with wrong shapes: typed error, penalised, the job goes elsewhere, the node keeps serving', { timeout: 120_000 }, async () => {
    const failed = events.filter((e) => e.type === 'expert-failed' && e.peer === broken);
    if (failed.length === 0) {
      // Not routed to yet (the honest worker was faster): ask for a layer-0 expert it alone hosts first.
      const { model: m } = await model({ spotCheck: 0, fallback: 'local', timeoutMs: 5000 });
      assert.deepEqual(await greedy(m), reference);
    }
    const f = events.find((e) => e.type === 'expert-failed' && e.peer === broken);
    assert.ok(f !== undefined && f.type === 'expert-failed' && f.code === 'P2P_BAD_SHAPE', JSON.stringify(f));
    assert.ok(events.some((e) => e.type === 'penalty' && e.peer === broken && e.reason === 'malformed'));
    await b.waitFor((e) => e.event === 'bad-shape', 5000, 'the broken worker did answer');
    // Still exact (its jobs went to the honest replica), and the honest worker still serves.
    const st = (await h.call({ cmd: 'status' })).status as { experts: { served: { requests: number } } };
    assert.ok(st.experts.served.requests > 0, JSON.stringify({ st, calls: callsTo(honest), ev: events.filter((e) => e.type.startsWith('expert') && e.type !== 'expert-spot-check').slice(0, 30) }));
  });

  describe('bad requests against a worker', () => {
    let client: Host;
    let peer: PeerId;
    let addr: string;

    before(async () => {
      peer = peerIdFromString(honest);
      const st = (await h.call({ cmd: 'status' })).status as { multiaddrs: string[] };
      addr = st.multiaddrs[0] as string;
    });

    after(async () => {
      await client?.stop();
    });

    /** Expert RPC sessions from a new identity (fresh()). */
    async function sessions(): Promise<RpcSessions> {
      return new RpcSessions(await fresh(), EXPERT_PROTOCOL);
    }

    /** A new identity each time: the worker penalises requesters whose faults add up. */
    async function fresh(): Promise<Host> {
      await client?.stop();
      client = await loopbackHost({ maxConnections: 8 });
      await client.start();
      await client.dial(multiaddr(addr));
      return client;
    }

    const H = () => entry.meta.config.hiddenSize;
    const name = () => experts[0] as string;
    const job = (rows: number, over: { xs?: Float32Array; block?: Uint8Array; expert?: string } = {}) => ({
      expert: over.expert ?? name(),
      block: over.block ?? fromHex(versionOf(name())),
      rows,
      scale: Float32Array.from({ length: rows }, (_, i) => 0.25 + i / 16),
      xs: over.xs ?? Float32Array.from({ length: rows * H() }, (_, i) => Math.sin(i * 0.37)),
    });
    const remoteCode = (code: string) => (e: unknown) => isBlyanError(e, 'P2P_REMOTE_ERROR') && e.data['remote'] === code;

    test('a valid request is answered bit for bit as the local kernels compute it', { timeout: 30_000 }, async () => {
      const c = await sessions();
      const j = job(3);
      const [ys] = await requestExperts(c, peer, { model: entry.id, hidden: H(), jobs: [j] }, 5000);
      const { model: m } = await model({});
      const [mine] = await m.localRunner.runLayer(0, [{ name: j.expert, xs: j.xs, rows: j.rows, scale: Array.from(j.scale) }]);
      assert.deepEqual(new Uint32Array((ys as Float32Array).slice().buffer), new Uint32Array((mine as Float32Array).slice().buffer));
    });

    test('typed refusals: EXPERT_NOT_HOSTED, BAD_SHAPE, BAD_REQUEST, TOO_LARGE; the worker keeps serving', { timeout: 60_000 }, async () => {
      const req = (jobs: ReturnType<typeof job>[], hidden = H()) => ({ model: entry.id, hidden, jobs });
      await assert.rejects(requestExperts(await sessions(), peer, req([job(1, { expert: 'layer9.expert9' })]), 5000), remoteCode('EXPERT_NOT_HOSTED'));
      await assert.rejects(requestExperts(await sessions(), peer, req([job(1, { block: new Uint8Array(32).fill(3) })]), 5000), remoteCode('EXPERT_NOT_HOSTED'));
      await assert.rejects(requestExperts(await sessions(), peer, { model: new Uint8Array(32), hidden: H(), jobs: [job(1)] }, 5000), remoteCode('EXPERT_NOT_HOSTED'));
      await assert.rejects(requestExperts(await sessions(), peer, req([job(2, { xs: new Float32Array(H()) })]), 5000), remoteCode('BAD_SHAPE'));
      await assert.rejects(requestExperts(await sessions(), peer, req([job(1, { xs: new Float32Array(H() + 8) })], H() + 8), 5000), remoteCode('BAD_SHAPE'));
      const raw = async (write: (s: Awaited<ReturnType<Host['dialProtocol']>>) => Promise<void>) => {
        const s = await (await fresh()).dialProtocol(peer, EXPERT_PROTOCOL);
        await write(s);
        // Session frames (docs/expert-rpc.md §2): u32 request id ‖ body; the answer carries the same id.
        const frame = await new FrameReader(s).readFrame(1 << 20, 'test');
        assert.deepEqual([...frame.subarray(0, 4)], [...ID]);
        assert.equal(frame[4], STATUS_ERROR);
        return (dagCbor.decode(frame.subarray(5)) as { code: string }).code;
      };
      const ID = Uint8Array.of(0, 0, 0, 7);
      assert.equal(
        await raw(async (s) => {
          await writeFrame(s, [ID, new Uint8Array([0xff, 1, 2])]);
          await s.close();
        }),
        'BAD_REQUEST',
      );
      const tooMany = dagCbor.decode(encodeExpertRequest(req([job(1)]))) as { jobs: { rows: number }[] };
      (tooMany.jobs[0] as { rows: number }).rows = 100_000;
      assert.equal(
        await raw(async (s) => {
          await writeFrame(s, [ID, dagCbor.encode(tooMany)]);
          await s.close();
        }),
        'BAD_REQUEST',
      );
      assert.equal(
        await raw(async (s) => {
          s.send(frameHeader(200 * 1024 * 1024));
          s.send(ID);
          s.send(new Uint8Array(60));
        }),
        'TOO_LARGE',
      );
      // Still serving, and well-behaved requesters are not blamed.
      const [ys] = await requestExperts(await sessions(), peer, req([job(2)]), 5000);
      assert.equal((ys as Float32Array).length, 2 * H());
    });
  });
});
