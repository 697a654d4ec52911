import '../../src/p2p/polyfill.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { toHex } from '../../src/chain/hash.ts';
import { isBlyanError } from '../../src/errors.ts';
import { decodeExpertRequest, decodeExpertResponse, encodeExpertRequest, expertLimits, f32Bytes, MAX_ROWS } from '../../src/p2p/expertRpc.ts';
import type { Host } from '../../src/p2p/host.ts';
import { RpcError } from '../../src/p2p/protocols/rpc.ts';
import { decodeHeartbeat, encodeHeartbeat, expertProviderCid, type HeartbeatMessage, WorkerRegistry } from '../../src/p2p/workerRegistry.ts';

// The wire format of /blyan/expert/1 and the worker table, without a network.

const H = 8;
const model = new Uint8Array(32).fill(1);
const block = new Uint8Array(32).fill(2);
const job = (rows: number) => ({
  expert: 'layer0.expert3',
  block,
  rows,
  scale: Float32Array.from({ length: rows }, (_, i) => 0.5 + i),
  xs: Float32Array.from({ length: rows * H }, (_, i) => i / 7),
});

test('a request round-trips through DAG-CBOR with its f32 data bit for bit', () => {
  const req = { model, hidden: H, jobs: [job(3), { ...job(1), expert: 'layer12.expert0' }] };
  const back = decodeExpertRequest(encodeExpertRequest(req));
  assert.equal(back.hidden, H);
  assert.deepEqual([...back.model], [...model]);
  for (const [i, j] of back.jobs.entries()) {
    const o = req.jobs[i] as ReturnType<typeof job>;
    assert.equal(j.expert, o.expert);
    assert.equal(j.rows, o.rows);
    assert.deepEqual(f32Bytes(j.xs), f32Bytes(o.xs));
    assert.deepEqual(f32Bytes(j.scale), f32Bytes(o.scale));
  }
});

test('requests that break the format are P2P_MALFORMED; sizes that do not add up are BAD_SHAPE', () => {
  const good = dagCbor.decode(encodeExpertRequest({ model, hidden: H, jobs: [job(2)] })) as Record<string, unknown>;
  const bad = (patch: (m: Record<string, unknown> & { jobs: Record<string, unknown>[] }) => void) => {
    const m = structuredClone(good) as Record<string, unknown> & { jobs: Record<string, unknown>[] };
    patch(m);
    return dagCbor.encode(m);
  };
  const malformed = (e: unknown) => isBlyanError(e, 'P2P_MALFORMED');
  const shape = (e: unknown) => e instanceof RpcError && e.remoteCode === 'BAD_SHAPE';
  assert.throws(() => decodeExpertRequest(new Uint8Array([0xa1])), malformed);
  assert.throws(() => decodeExpertRequest(bad((m) => (m.v = 2))), malformed);
  assert.throws(() => decodeExpertRequest(bad((m) => (m.extra = 1))), malformed);
  assert.throws(() => decodeExpertRequest(bad((m) => (m.jobs = []))), malformed);
  assert.throws(() => decodeExpertRequest(bad((m) => ((m.jobs[0] as Record<string, unknown>).expert = 'layer0.shared'))), malformed);
  assert.throws(() => decodeExpertRequest(bad((m) => ((m.jobs[0] as Record<string, unknown>).rows = MAX_ROWS + 1))), malformed);
  assert.throws(() => decodeExpertRequest(bad((m) => ((m.jobs[0] as Record<string, unknown>).block = new Uint8Array(31)))), malformed);
  assert.throws(() => decodeExpertRequest(bad((m) => ((m.jobs[0] as Record<string, unknown>).rows = 3))), shape);
  assert.throws(() => decodeExpertRequest(bad((m) => (m.hidden = H + 1))), shape);
  const many = Array.from({ length: 2 }, () => job(MAX_ROWS / 2 + 1));
  assert.throws(() => decodeExpertRequest(encodeExpertRequest({ model, hidden: H, jobs: many })), shape);
  // The largest legal request fits the frame limit for its hidden size.
  const full = encodeExpertRequest({ model, hidden: H, jobs: Array.from({ length: 64 }, () => job(MAX_ROWS / 64)) });
  assert.ok(full.byteLength <= expertLimits(H).requestBytes, `${full.byteLength} > ${expertLimits(H).requestBytes}`);
});

test('a response must hold exactly Σ rows × H f32 values (P2P_BAD_SHAPE otherwise); it is split per job', () => {
  const req = { model, hidden: H, jobs: [job(2), job(1)] };
  const ys = Float32Array.from({ length: 3 * H }, (_, i) => i);
  const bytes = f32Bytes(ys);
  // Arrives in uneven, misaligned chunks.
  const parts = [bytes.subarray(0, 5), bytes.subarray(5, 50), bytes.subarray(50)];
  const [a, b] = decodeExpertResponse(parts, req);
  assert.deepEqual([...(a as Float32Array)], [...ys.subarray(0, 2 * H)]);
  assert.deepEqual([...(b as Float32Array)], [...ys.subarray(2 * H)]);
  for (const cut of [bytes.subarray(4), new Uint8Array(bytes.byteLength + 4), new Uint8Array(0)]) {
    assert.throws(
      () => decodeExpertResponse([cut], req),
      (e: unknown) => isBlyanError(e, 'P2P_BAD_SHAPE'),
    );
  }
});

test('heartbeats round-trip and are strictly checked; provider CIDs are per version', () => {
  const hb: HeartbeatMessage = { v: 1, seq: 5, interval: 1000, addrs: ['/ip4/127.0.0.1/tcp/1'], models: [{ id: model, experts: [{ name: 'layer1.expert2', block }] }] };
  const back = decodeHeartbeat(encodeHeartbeat(hb));
  assert.equal(back.seq, 5);
  assert.equal(back.models[0]?.experts[0]?.name, 'layer1.expert2');
  const raw = dagCbor.decode(encodeHeartbeat(hb)) as Record<string, unknown>;
  for (const patch of [{ v: 2 }, { interval: 5 }, { extra: true }, { addrs: Array(17).fill('x') }]) {
    assert.throws(
      () => decodeHeartbeat(dagCbor.encode({ ...raw, ...patch })),
      (e: unknown) => isBlyanError(e, 'P2P_MALFORMED'),
    );
  }
  assert.notEqual(expertProviderCid(block).toString(), expertProviderCid(model).toString());
  assert.equal(expertProviderCid(block).toString(), expertProviderCid(new Uint8Array(32).fill(2)).toString());
});

test('the registry routes to the fastest live replica, skips down and quarantined workers, forgets silent ones', async () => {
  let now = 1_000_000;
  const fakeHost = {
    peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
    peerStore: { merge: async () => {} },
    services: { ping: { ping: async () => Promise.reject(new Error('no network here')) } },
  } as unknown as Host;
  const events: string[] = [];
  const reg = new WorkerRegistry({ libp2p: fakeHost, networkTag: 't', isBanned: () => false, penalise: () => {}, onEvent: (e) => events.push(e.type), now: () => now, downMs: 5000, quarantineMs: 60_000 });
  const peers = await Promise.all([1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))));
  const [a, b, c] = peers.map((p) => p.toString()) as [string, string, string];
  const hb = (seq: number, blocks: Uint8Array[] = [block]): HeartbeatMessage => ({ v: 1, seq, interval: 1000, addrs: [], models: [{ id: model, experts: blocks.map((bl) => ({ name: 'layer0.expert1', block: bl })) }] });
  for (const p of peers) assert.ok(reg.noteHeartbeat(p, hb(1)));
  assert.equal(reg.noteHeartbeat(peers[0] as never, hb(1)), false, 'not newer: ignored');
  const m = toHex(model);
  const v = toHex(block);
  reg.begin(a);
  reg.succeeded(a, 30);
  reg.begin(b);
  reg.succeeded(b, 10);
  assert.deepEqual(reg.replicas(m, 'layer0.expert1', v), [b, a, c], 'fastest first, unmeasured last');
  assert.deepEqual(reg.replicas(m, 'layer0.expert1', toHex(model)), [], 'another version has no replica');
  reg.begin(b);
  reg.failed(b, 'P2P_TIMEOUT', { down: true });
  assert.deepEqual(reg.replicas(m, 'layer0.expert1', v), [a, c]);
  now += 5001;
  for (const [i, p] of peers.entries()) reg.noteHeartbeat(p, hb(2 + i));
  assert.deepEqual(reg.replicas(m, 'layer0.expert1', v), [b, a, c], 'back after the down period');
  reg.quarantine(b, 'layer0.expert1');
  assert.ok(reg.isQuarantined(b));
  assert.deepEqual(reg.replicas(m, 'layer0.expert1', v), [a, c]);
  // a moves to another version; c goes silent for more than three intervals.
  const other = new Uint8Array(32).fill(9);
  reg.noteHeartbeat(peers[0] as never, hb(10, [other]));
  assert.deepEqual(reg.replicas(m, 'layer0.expert1', v), [c]);
  now += 4500;
  reg.noteHeartbeat(peers[0] as never, hb(11, [other]));
  assert.deepEqual(reg.replicas(m, 'layer0.expert1', v), []);
  assert.deepEqual(reg.replicas(m, 'layer0.expert1', toHex(other)), [a]);
  reg.dropVersion(a, m, 'layer0.expert1', toHex(other));
  assert.deepEqual(reg.replicas(m, 'layer0.expert1', toHex(other)), [], 'a refused it: forgotten until it announces again');
  assert.ok(events.includes('worker-quarantined') && events.includes('worker-down'));
});
