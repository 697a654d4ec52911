import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createBlock } from '../src/chain/block.ts';
import { TINY } from '../src/chain/presets.ts';
import { BlockStore } from '../src/chain/store.ts';
import { addModel, TEST_KEY } from '../test/helpers/fixtures.ts';
import { NodeProcess } from '../test/p2p/fixture.ts';

/**
 * Chain sync between two processes on loopback (Noise + Yamux, headers-first, every tile verified, blocks
 * appended through the store's verified path) against a raw TCP copy of the same payload bytes in the same
 * run: the bytes, already in memory, sent over a plain socket and counted on the other side (tcpCopyChild.ts).
 * Both sides are separate processes in both cases. The TCP copy runs before and after the sync, and the
 * ratio p2p / tcp uses their mean, so a burst of load from elsewhere on a shared machine weighs on both
 * (the target is ≥ 0.5; docs/sync-protocol.md §11).
 */
const CHILD = resolve(import.meta.dirname, 'tcpCopyChild.ts');

function seedStore(dir: string, payloads: number, bytes: number): number {
  const { store } = BlockStore.init(dir, TINY);
  try {
    const model = addModel(store, 'bench-model');
    let total = 0;
    for (let i = 0; i < payloads; i++) {
      const payload = new Uint8Array(randomBytes(bytes));
      const block = createBlock(
        { chain: 'B', index: 0, prev: null, deps: [model.block.id], type: 'expert', expert: `layer${i % 8}.expert${i}`, layer: i % 8, time: TINY.genesisTime + 1000 + i },
        payload,
        TEST_KEY,
        TINY,
      );
      store.append(block, payload);
      total += bytes;
    }
    return total;
  } finally {
    store.closeSync();
  }
}

/**
 * CPU seconds (user + system) a process has used so far, and its minor page faults, from /proc (Linux; NaN
 * elsewhere). On a shared machine these vary far less than wall-clock rates, so they show where a change helped.
 * Faults are shown because on small virtual machines the first touch of a page is dear (docs/sync-protocol.md §11).
 */
function usage(pid: number | undefined): { cpu: number; faults: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // minflt; utime, stime in clock ticks (USER_HZ = 100)
    return { cpu: (Number(fields[11]) + Number(fields[12])) / 100, faults: Number(fields[7]) };
  } catch {
    return { cpu: Number.NaN, faults: Number.NaN };
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function runChild(args: string[]): { line: Promise<Record<string, unknown>>; kill: () => void; pid: number | undefined } {
  const p = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = new Promise<Record<string, unknown>>((res, rej) => {
    let buf = '';
    p.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) res(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
    });
    p.on('exit', (code) => rej(new Error(`tcp child exited ${code}`)));
  });
  return { line, kill: () => p.kill('SIGKILL'), pid: p.pid };
}

/** The copy's rate, and the CPU seconds and page faults of sender and receiver while it ran. */
async function tcpCopy(seedDir: string): Promise<{ mbps: number; bytes: number; cpu: [number, number]; faults: [number, number] }> {
  const server = runChild(['serve', seedDir]);
  try {
    const { port } = (await server.line) as { port: number };
    const u0 = usage(server.pid);
    const client = runChild(['fetch', String(port)]);
    const r = (await client.line) as { bytes: number; seconds: number; cpuSeconds: number; minorFaults: number };
    const u1 = usage(server.pid);
    return { mbps: r.bytes / r.seconds / 1e6, bytes: r.bytes, cpu: [u1.cpu - u0.cpu, r.cpuSeconds], faults: [u1.faults - u0.faults, r.minorFaults] };
  } finally {
    server.kill();
  }
}

/** The sync's rate, and the CPU seconds and page faults of the seed and the joining node during the sync call. */
async function p2pSync(seedDir: string, joinDir: string): Promise<{ mbps: number; bytes: number; seconds: number; cpu: [number, number]; faults: [number, number] }> {
  const seed = new NodeProcess({ data: seedDir });
  const joiner = new NodeProcess({ data: joinDir, bootstrap: (await seed.ready()).addrs });
  try {
    await joiner.ready();
    const u0 = [usage(seed.pid), usage(joiner.pid)] as const;
    const r = await joiner.call({ cmd: 'sync' }, 600_000);
    const u1 = [usage(seed.pid), usage(joiner.pid)] as const;
    const cpu: [number, number] = [u1[0].cpu - u0[0].cpu, u1[1].cpu - u0[1].cpu];
    const faults: [number, number] = [u1[0].faults - u0[0].faults, u1[1].faults - u0[1].faults];
    const st = (r.result as { complete: boolean; status: { bytes: { done: number }; startedAt: number; finishedAt: number } }).status;
    if (!(r.result as { complete: boolean }).complete) throw new Error(`p2p sync incomplete: ${JSON.stringify(r.result)}`);
    const seconds = (st.finishedAt - st.startedAt) / 1000;
    return { mbps: st.bytes.done / seconds / 1e6, bytes: st.bytes.done, seconds, cpu, faults };
  } finally {
    await joiner.stop();
    await seed.stop();
  }
}

/**
 * Payload size of the main case: one expert of the llama.cpp anchor model (../shared/anchors/llamacpp: a
 * Mixtral-shaped model, hidden 1024, expert FFN 3584, BF16), 3 × 1024 × 3584 × 2 bytes. Real experts are this
 * size or (much) larger; lmdb-js hands payloads over 16 MiB out as views on its memory map, and those up to
 * 16 MiB as copies in a buffer it reuses, so a seed copies those out for every tile it serves. The second case,
 * `at16MiB`, measures that path: payloads of exactly 16 MiB, synced in the same run.
 */
export const EXPERT_PAYLOAD_BYTES = 3 * 1024 * 3584 * 2;

export async function benchP2p(opts: { payloads?: number; payloadBytes?: number } = {}): Promise<Record<string, unknown>> {
  const payloadBytes = opts.payloadBytes ?? EXPERT_PAYLOAD_BYTES;
  const payloads = opts.payloads ?? Math.round((256 * 1024 * 1024) / payloadBytes);
  const dir = mkdtempSync(join(tmpdir(), 'blyan-bench-p2p-'));
  try {
    const seedDir = join(dir, 'seed');
    const total = seedStore(seedDir, payloads, payloadBytes);
    const smallSeedDir = join(dir, 'seed16');
    const smallPayloads = 16;
    seedStore(smallSeedDir, smallPayloads, 16 * 1024 * 1024);
    const tcpBefore = await tcpCopy(seedDir);
    const joinDir = join(dir, 'join');
    BlockStore.init(joinDir, TINY).store.closeSync();
    const p2p = await p2pSync(seedDir, joinDir);
    const smallJoinDir = join(dir, 'join16');
    BlockStore.init(smallJoinDir, TINY).store.closeSync();
    const small = await p2pSync(smallSeedDir, smallJoinDir);
    const tcpAfter = await tcpCopy(seedDir);
    const tcp = { mbps: (tcpBefore.mbps + tcpAfter.mbps) / 2 };
    return {
      bench: 'p2p',
      payloads,
      payloadBytes: total,
      tiles: payloads * Math.ceil(payloadBytes / (4 * 1024 * 1024)),
      syncSeconds: Math.round(p2p.seconds * 100) / 100,
      syncMBps: Math.round(p2p.mbps * 10) / 10,
      tcpMBps: Math.round(tcp.mbps * 10) / 10,
      tcpRunsMBps: [tcpBefore.mbps, tcpAfter.mbps].map((x) => Math.round(x * 10) / 10),
      // CPU seconds [sender, receiver]: the sync's seed and joiner; the TCP copy's (mean of its two runs).
      syncCpuS: p2p.cpu.map(round2),
      tcpCpuS: [0, 1].map((i) => round2(((tcpBefore.cpu[i] as number) + (tcpAfter.cpu[i] as number)) / 2)),
      // Minor page faults [sender, receiver], the same way; 256 MiB is 65,536 pages of 4 KiB.
      syncFaults: p2p.faults,
      tcpFaults: [0, 1].map((i) => Math.round(((tcpBefore.faults[i] as number) + (tcpAfter.faults[i] as number)) / 2)),
      ratio: Math.round((p2p.mbps / tcp.mbps) * 1000) / 1000,
      target: 0.5,
      at16MiB: {
        payloads: smallPayloads,
        syncSeconds: Math.round(small.seconds * 100) / 100,
        syncMBps: Math.round(small.mbps * 10) / 10,
        syncCpuS: small.cpu.map(round2),
        ratio: Math.round((small.mbps / tcp.mbps) * 1000) / 1000,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchP2p())}\n`);
}
