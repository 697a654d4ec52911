import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBlock } from '../../src/chain/block.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlyanError } from '../../src/errors.ts';
import { classifyBlockError, decodeBlockMessage, encodeBlockMessage } from '../../src/p2p/gossip.ts';
import { PeerScores, transportPenalty } from '../../src/p2p/peerScore.ts';
import { penaltyFor } from '../../src/p2p/sync/context.ts';
import { formatProgress, SyncProgress } from '../../src/p2p/sync/progress.ts';
import { TEST_KEY } from '../helpers/fixtures.ts';

test('bad data bans at once; lesser faults ban only when they add up; bans expire', () => {
  let now = 1000;
  const banned: string[] = [];
  const s = new PeerScores({ now: () => now, banMs: 60_000, onBan: (p) => banned.push(p) });
  s.penalise('liar', 'bad-data');
  assert.equal(s.isBanned('liar'), true);
  for (let i = 0; i < 2; i++) s.penalise('slow', 'timeout');
  assert.equal(s.isBanned('slow'), false);
  for (let i = 0; i < 6; i++) s.penalise('slow', 'timeout');
  assert.equal(s.isBanned('slow'), true);
  assert.deepEqual(banned, ['liar', 'slow'], 'onBan once per ban');
  s.reward('good');
  s.reward('good', 100);
  assert.equal(s.score('good'), 20, 'credit is capped');
  now += 61_000;
  assert.equal(s.isBanned('liar'), false);
  assert.ok(s.score('liar') < 0);
});

function linear(index: number, type: 'txbatch' = 'txbatch') {
  return createBlock({ chain: 'C', index, prev: new Uint8Array(32), deps: [], type, time: TINY.genesisTime + index }, new Uint8Array(3), TEST_KEY, TINY);
}

test('gossip verdicts: invalid → reject, duplicates and gaps → ignore (gaps start a sync)', () => {
  const b = linear(5);
  const e = (code: BlyanError['code']) => new BlyanError(code, 'x');
  assert.deepEqual(classifyBlockError(e('BLOCK_BAD_SIGNATURE'), b, 4), { verdict: 'reject', unknownParent: false });
  assert.deepEqual(classifyBlockError(e('BLOCK_WEAK_POW'), b, 4), { verdict: 'reject', unknownParent: false });
  assert.deepEqual(classifyBlockError(e('BLOCK_BAD_PAYLOAD'), b, 4), { verdict: 'reject', unknownParent: false });
  assert.deepEqual(classifyBlockError(e('BLOCK_DUPLICATE'), b, 4), { verdict: 'ignore', unknownParent: false });
  assert.deepEqual(classifyBlockError(e('BLOCK_FUTURE_TIME'), b, 4), { verdict: 'ignore', unknownParent: false });
  assert.deepEqual(classifyBlockError(e('BLOCK_UNKNOWN_DEP'), b, 4), { verdict: 'ignore', unknownParent: true });
  // Linear chain: ahead of our head → we are behind; at or below → stale or a fork.
  assert.deepEqual(classifyBlockError(e('BLOCK_BAD_INDEX'), b, 2), { verdict: 'ignore', unknownParent: true });
  assert.deepEqual(classifyBlockError(e('BLOCK_BAD_PREV'), b, 4), { verdict: 'ignore', unknownParent: false });
  assert.deepEqual(classifyBlockError(new Error('?'), b, 4), { verdict: 'ignore', unknownParent: false });
});

test('block gossip messages round-trip; payloads over 1 MiB are not inlined', () => {
  const small = new Uint8Array(100).fill(1);
  const block = createBlock({ chain: 'C', index: 1, prev: new Uint8Array(32), deps: [], type: 'txbatch', time: TINY.genesisTime }, small, TEST_KEY, TINY);
  const m = decodeBlockMessage(encodeBlockMessage(block, small));
  assert.deepEqual(m.block.id, block.id);
  assert.deepEqual(m.payload, small);
  const big = new Uint8Array(1024 * 1024 + 1);
  const bigBlock = createBlock({ chain: 'C', index: 1, prev: new Uint8Array(32), deps: [], type: 'txbatch', time: TINY.genesisTime }, big, TEST_KEY, TINY);
  assert.equal(decodeBlockMessage(encodeBlockMessage(bigBlock, big)).payload, undefined);
  assert.throws(() => decodeBlockMessage(new Uint8Array([1, 2, 3])), (err: unknown) => err instanceof BlyanError && err.code === 'P2P_MALFORMED');
});

test('progress reports heights, bytes and MB/s as JSON and as one line', () => {
  let now = 0;
  const p = new SyncProgress(undefined, () => now);
  p.start();
  p.setHeights({ A: 1, B: 0, C: 1, D: 1 }, { A: 2, B: 10, C: 1, D: 1 }, 2);
  p.addExpected(20e6);
  now = 1000;
  p.addFetched(4e6);
  now = 2000;
  p.addFetched(4e6);
  const s = p.status();
  assert.deepEqual(s.heights.B, { local: 0, target: 10 });
  assert.deepEqual(s.bytes, { done: 8e6, resumed: 0, total: 20e6 });
  assert.equal(s.mbps, 4);
  assert.equal(s.done, false);
  p.finish();
  assert.equal(p.status().done, true);
  assert.match(formatProgress(p.status()), /^sync A 1\/2 B 0\/10 C 1\/1 D 1\/1 \| 8\.0\/20\.0 MB \| 4\.0 MB\/s \| 2 peers \| done$/);
});

test('failures of the exchange itself cost the same in every protocol; protocol errors map on top', () => {
  assert.equal(transportPenalty('P2P_MALFORMED'), 'malformed');
  assert.equal(transportPenalty('P2P_FRAME_TOO_LARGE'), 'malformed');
  assert.equal(transportPenalty('P2P_TIMEOUT'), 'timeout');
  assert.equal(transportPenalty('P2P_STREAM_CLOSED'), 'timeout');
  assert.equal(transportPenalty('P2P_BAD_DATA'), undefined);
  // Sync: its own codes first, the transport's as the fallback, and nothing for what is not the peer's doing.
  assert.equal(penaltyFor(new BlyanError('P2P_TIMEOUT', 'slow')), 'timeout');
  assert.equal(penaltyFor(new BlyanError('P2P_FRAME_TOO_LARGE', 'big')), 'malformed');
  assert.equal(penaltyFor(new BlyanError('P2P_BAD_DATA', 'bad')), 'bad-data');
  assert.equal(penaltyFor(new BlyanError('BLOCK_BAD_SIGNATURE', 'forged')), 'bad-data');
  assert.equal(penaltyFor(new BlyanError('IO_ERROR', 'our disk')), undefined);
  assert.equal(penaltyFor(new Error('not typed')), undefined);
});
