import '../src/p2p/polyfill.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { DEVNET } from '../src/chain/presets.ts';
import { BlockStore } from '../src/chain/store.ts';
import { generate } from '../src/engine/generate.ts';
import { importCheckpoint } from '../src/engine/import/importCheckpoint.ts';
import { loadKernels } from '../src/engine/kernels/index.ts';
import { resolveModel } from '../src/engine/modelRegistry.ts';
import { MoeModel } from '../src/engine/moe.ts';
import { Sampler } from '../src/engine/sampler.ts';
import { lineageSource } from '../src/learning/lineage.ts';
import { startP2p } from '../src/p2p/index.ts';
import { RpcSessions } from '../src/p2p/protocols/rpcSession.ts';
import { DirectSessions } from '../src/p2p/direct/directSessions.ts';
import type { RemoteExpertRunner } from '../src/p2p/remoteExperts.ts';
import { TEST_KEY } from '../test/helpers/fixtures.ts';
import { writeSynthCheckpoint } from '../test/helpers/synthCheckpoint.ts';
import { copyDataDir, loopbackHost, NodeProcess } from '../test/p2p/fixture.ts';
import { ECHO_LIMITS, ECHO_PROTOCOL } from './echoChild.ts';

/**
 * Distributed vs local decode on the same model in one run: a synthetic BF16 Mixtral-shaped model (4 layers ×
 * 8 experts, top-2, hidden 512, expert FFN 1408: 4.3 MB per expert), greedy decode after an 8-token prompt,
 * first locally, then with the routed experts on two worker processes (each hosting half of them) over
 * loopback libp2p (Noise + Yamux), then on one worker hosting all of them (`oneWorker`: two processes, which a
 * 2-core machine runs without a hop queueing for a core). Every process uses one kernel thread. Checks that
 * every way gives the same ids. Reported: tok/s, their ratio, requests per forward pass, the RPC time (send,
 * compute on the worker, answer), the added ms per hop, and the floor under a hop (an echo round trip).
 */
const SCRIPT = resolve(import.meta.dirname, '../test/p2p/expertChild.ts');
const ECHO = resolve(import.meta.dirname, 'echoChild.ts');
const PROMPT = [1, 17, 42, 7, 99, 3, 250, 12];
const LAYERS = 4;

async function decodeTokPerSec(model: MoeModel, n: number): Promise<{ tokPerSec: number; ids: number[] }> {
  const times: number[] = [];
  const g = await generate(model.newSession(), PROMPT, new Sampler({ greedy: true }), {
    maxNewTokens: n + 1,
    onToken: () => {
      times.push(performance.now());
      return undefined;
    },
  });
  return { tokPerSec: n / (((times[n] as number) - (times[0] as number)) / 1000), ids: g.ids };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;

/**
 * The floor under a hop, between two processes on this machine: the median round trip of a message the size
 * of one token's hidden state (H f32) on an expert-RPC session (the same libp2p stack and session framing,
 * no computing), and on a plain TCP socket. What a hop adds beyond the session round trip is the worker's
 * computing, coding the request and answer, and waiting for the slower of a layer's parallel requests.
 */
async function echoFloor(bytes: number, n = 1000): Promise<{ sessionMs: number; directMs: number; tcpMs: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const info = await new Promise<{ addr: string; port: number }>((res, rej) => {
      child.stdout.once('data', (d: Buffer) => res(JSON.parse(d.toString()) as { addr: string; port: number }));
      child.once('exit', (code) => rej(new Error(`echo child exited ${code}`)));
    });
    const sock = createConnection({ host: '127.0.0.1', port: info.port });
    sock.setNoDelay(true);
    await new Promise((r) => sock.once('connect', r));
    const msg = Buffer.alloc(bytes, 7);
    const tcp: number[] = [];
    for (let i = 0; i < n + 100; i++) {
      const t = performance.now();
      await new Promise<void>((r) => {
        let got = 0;
        const on = (d: Buffer) => {
          got += d.byteLength;
          if (got < bytes) return;
          sock.off('data', on);
          r();
        };
        sock.on('data', on);
        sock.write(msg);
      });
      if (i >= 100) tcp.push(performance.now() - t);
    }
    sock.destroy();
    const host = await loopbackHost();
    await host.start();
    try {
      const conn = await host.dial(multiaddr(info.addr));
      const times = async (sessions: RpcSessions): Promise<number> => {
        const ms: number[] = [];
        for (let i = 0; i < n + 100; i++) {
          const t = performance.now();
          await sessions.request(conn.remotePeer, msg, { limits: ECHO_LIMITS, timeoutMs: 10_000 });
          if (i >= 100) ms.push(performance.now() - t);
        }
        sessions.stop();
        return median(ms);
      };
      const sessionMs = await times(new RpcSessions(host, ECHO_PROTOCOL));
      const directSessions = new DirectSessions(host);
      const directMs = await times(new RpcSessions(host, ECHO_PROTOCOL, 30_000, directSessions));
      directSessions.stop();
      if (directSessions.stats.opened !== 1) throw new Error(`the direct echo did not go direct: ${JSON.stringify(directSessions.stats)}`);
      return { sessionMs, directMs, tcpMs: median(tcp) };
    } finally {
      await host.stop();
    }
  } finally {
    child.kill();
  }
}

export async function benchDistributed(opts: { tokens?: number; rounds?: number; spotCheck?: number } = {}): Promise<Record<string, unknown>> {
  const n = opts.tokens ?? 32;
  const rounds = opts.rounds ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'blyan-bench-dist-'));
  try {
    const ckpt = join(dir, 'ckpt');
    writeSynthCheckpoint(ckpt, 'mixtral', { seed: 5, dtype: 'bf16', layers: LAYERS, hidden: 512, heads: 8, kvHeads: 4, experts: 8, topK: 2, intermediate: 1408, vocab: 1024, ropeTheta: 1e6, eps: 1e-5 });
    const data = join(dir, 'service');
    const { store: init } = BlockStore.init(data, DEVNET);
    importCheckpoint(init, ckpt, { privateKey: TEST_KEY, name: 'dist-bench' });
    init.closeSync();
    const store = BlockStore.open(data, DEVNET);
    const entry = resolveModel(store);
    const experts = entry.meta.layout.map((c) => c.name).filter((x) => /^layer\d+\.expert\d+$/.test(x));
    const kernels = await loadKernels({ threads: 1 });
    const local = await MoeModel.load(entry.meta.config, lineageSource(store, entry), kernels, { cacheBytes: 1 << 30 });
    await decodeTokPerSec(local, 4);

    const best = (xs: number[]) => Math.max(...xs);
    const r3 = (x: number) => Math.round(x * 1000) / 1000;

    /** Workers hosting the given experts each, then `rounds` of local and distributed decode, alternating. */
    /** `libp2p`: the service asks over libp2p streams only (no direct channel), for the comparison in one run. */
    const measure = async (hosts: string[][], how: { libp2p?: boolean } = {}) => {
      const rpcMs: number[] = [];
      const p2p = await startP2p({
        store,
        dataDir: data,
        autoSync: false,
        ...(how.libp2p === true ? { bulk: false as const } : {}),
        expertRpc: { heartbeatMs: 500 },
        onEvent: (e) => {
          if (e.type === 'expert-call') rpcMs.push(e.ms);
        },
      });
      const procs: NodeProcess[] = [];
      try {
        for (const [i, host] of hosts.entries()) {
          const w = copyDataDir(data, join(dir, `w${hosts.length}-${i}`));
          procs.push(new NodeProcess({ data: w, host, bootstrap: p2p.multiaddrs(), heartbeatMs: 500 } as { data: string }, { script: SCRIPT, env: { BLYAN_THREADS: '1' } }));
        }
        await Promise.all(procs.map((p) => p.ready()));
        const version = (x: string) => Buffer.from(store.currentVersion(entry.id, x) as Uint8Array).toString('hex');
        const t0 = Date.now();
        while (!experts.every((x) => p2p.workers.replicas(entry.idHex, x, version(x)).length > 0)) {
          if (Date.now() - t0 > 30_000) throw new Error('workers did not announce their experts');
          await new Promise((r) => setTimeout(r, 100));
        }
        let runner: RemoteExpertRunner | undefined;
        const factory = p2p.expertRunner(entry, { spotCheck: opts.spotCheck ?? 0, fallback: 'none' });
        const dist = await MoeModel.load(entry.meta.config, lineageSource(store, entry), kernels, {
          cacheBytes: 1 << 30,
          runner: (l) => {
            runner = factory(l);
            return runner;
          },
        });
        await decodeTokPerSec(dist, 4);
        const localRuns: number[] = [];
        const distRuns: number[] = [];
        let exact = true;
        let requests = 0;
        /** The RPC times of each distributed round. */
        const roundRpcMs: number[][] = [];
        for (let r = 0; r < rounds; r++) {
          const a = await decodeTokPerSec(local, n);
          const r0 = runner?.stats.requests ?? 0;
          const k0 = rpcMs.length;
          const b = await decodeTokPerSec(dist, n);
          roundRpcMs.push(rpcMs.slice(k0));
          requests += (runner?.stats.requests ?? 0) - r0;
          localRuns.push(a.tokPerSec);
          distRuns.push(b.tokPerSec);
          exact &&= JSON.stringify(a.ids) === JSON.stringify(b.ids);
        }
        return {
          localDecodeTokPerSec: { best: r3(best(localRuns)), all: localRuns.map(r3) },
          distributedDecodeTokPerSec: { best: r3(best(distRuns)), all: distRuns.map(r3) },
          ratio: r3(best(distRuns) / best(localRuns)),
          // One prefill and n + 1 decode steps per round (generate also runs the last token).
          requestsPerForwardPass: r3(requests / (rounds * (n + 2))),
          meanRpcMs: r3(rpcMs.reduce((x, y) => x + y, 0) / Math.max(1, rpcMs.length)),
          // Median RPC time (send, compute on the worker, answer) in the fastest distributed round: warm caches.
          rpcP50Ms: r3(median(roundRpcMs[distRuns.indexOf(best(distRuns))] ?? [Number.NaN])),
          // What going remote adds to a decode step, per layer whose experts went to workers (the requests of one
          // layer run in parallel, so a layer is one hop): (ms per token distributed − ms per token local) / layers.
          // Issue 8's target: < 2 ms on loopback.
          addedMsPerHop: r3((1000 / best(distRuns) - 1000 / best(localRuns)) / LAYERS),
          exact,
          runner: runner?.stats,
          // Sessions on the direct channel (sealed TCP) vs over libp2p streams (docs/expert-rpc.md §2.1).
          direct: p2p.status().experts.direct,
        };
      } finally {
        await Promise.all(procs.map((p) => p.stop().catch(() => p.kill())));
        await p2p.stop();
      }
    };

    // Two workers (half the experts each): with the service, three processes on this machine. Then one worker
    // with all of them: two processes, as many as a 2-core machine runs without a hop waiting for a core.
    const two = await measure([experts.filter((_, i) => i % 2 === 0), experts.filter((_, i) => i % 2 === 1)]);
    const one = await measure([experts]);
    const twoLibp2p = await measure([experts.filter((_, i) => i % 2 === 0), experts.filter((_, i) => i % 2 === 1)], { libp2p: true });
    const floor = await echoFloor(512 * 4);
    const { runner: stats, ...twoRest } = two;
    const out = {
      bench: 'distributed',
      model: 'synthetic mixtral bf16: 4 layers × 8 experts, top-2, hidden 512, ffn 1408 (4.3 MB/expert)',
      workers: 2,
      kernels: `${kernels.name}/${kernels.isa} × 1 thread per process`,
      cpus: availableParallelism(),
      ...twoRest,
      addedMsPerHopTarget: 2,
      oneWorker: { distributedDecodeTokPerSec: one.distributedDecodeTokPerSec, ratio: one.ratio, requestsPerForwardPass: one.requestsPerForwardPass, rpcP50Ms: one.rpcP50Ms, addedMsPerHop: one.addedMsPerHop, exact: one.exact },
      // The two-worker case again with the service on libp2p streams only (the direct channel's gain, same run).
      twoWorkersOverLibp2p: { distributedDecodeTokPerSec: twoLibp2p.distributedDecodeTokPerSec, rpcP50Ms: twoLibp2p.rpcP50Ms, addedMsPerHop: twoLibp2p.addedMsPerHop, exact: twoLibp2p.exact, direct: twoLibp2p.direct },
      // The floor under a hop (echoFloor): median round trips of an H-f32 message between two processes.
      echoSessionP50Ms: r3(floor.sessionMs),
      echoDirectP50Ms: r3(floor.directMs),
      echoTcpP50Ms: r3(floor.tcpMs),
      spotCheck: opts.spotCheck ?? 0,
      exact: two.exact && one.exact && twoLibp2p.exact,
      runner: stats,
    };
    await kernels.close();
    store.closeSync();
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchDistributed())}\n`);
}
