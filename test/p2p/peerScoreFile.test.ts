import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { PeerScores } from '../../src/p2p/peerScore.ts';
import { PeerScoreFile, peerScorePath } from '../../src/p2p/peerScoreFile.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A node's scores on a data dir as startP2p wires them: loaded at start, saved on change and at stop. */
function node(dataDir: string, clock: { now: number }) {
  const warnings: string[] = [];
  const scores: PeerScores = new PeerScores({ now: () => clock.now, onChange: () => file.saveSoon() });
  const file = new PeerScoreFile(dataDir, () => scores.records(), (m) => warnings.push(m));
  const loaded = file.load();
  if (loaded.warning !== undefined) warnings.push(loaded.warning);
  scores.restore(loaded.records);
  return { scores, file, warnings };
}

test('a banned peer is still banned after a restart, until its ban runs out; faults short of a ban are kept too', () => {
  const t = tempDir('blyan-scores-');
  try {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const a = node(t.dir, clock);
    a.scores.penalise('liar', 'bad-data');
    a.scores.penalise('stranger', 'wrong-network');
    a.scores.penalise('slow', 'timeout');
    a.scores.reward('good', 5);
    assert.deepEqual([a.scores.isBanned('liar'), a.scores.isBanned('stranger'), a.scores.isBanned('slow')], [true, true, false]);
    a.file.stop();

    clock.now += 10 * MINUTE;
    const b = node(t.dir, clock);
    assert.deepEqual(b.warnings, []);
    assert.equal(b.scores.isBanned('liar'), true, 'banned across the restart');
    assert.equal(b.scores.isBanned('stranger'), true);
    assert.equal(b.scores.score('slow'), -15, 'a fault short of a ban is remembered');
    assert.equal(b.scores.isBanned('slow'), false);
    assert.equal(b.scores.score('good'), 0, 'credit is not kept: it is earned back');
    assert.deepEqual(b.scores.snapshot().find((e) => e.peer === 'liar')?.penalties, { 'bad-data': 1 });
    // Faults add up across the restart: 15 before, 6 × 15 now → −105, banned.
    for (let i = 0; i < 6; i++) b.scores.penalise('slow', 'timeout');
    assert.equal(b.scores.isBanned('slow'), true);
    b.file.stop();

    // The 30-minute bans run out while the node is down: dropped at load, the peers keep a negative score.
    clock.now += 25 * MINUTE;
    const c = node(t.dir, clock);
    assert.equal(c.scores.isBanned('liar'), false);
    assert.equal(c.scores.isBanned('stranger'), false);
    assert.ok(c.scores.score('liar') < 0);
    assert.equal(c.scores.isBanned('slow'), true, 'banned 25 minutes ago: 5 minutes to go');
    c.file.stop();
    const saved = JSON.parse(readFileSync(peerScorePath(t.dir), 'utf8')) as { peers: { peer: string; bannedUntil: number }[] };
    assert.deepEqual(
      saved.peers.filter((p) => p.bannedUntil !== 0).map((p) => p.peer),
      ['slow'],
      'expired bans are not written back',
    );

    // A day after their last fault, the records are forgotten altogether.
    clock.now += 25 * HOUR;
    const d = node(t.dir, clock);
    assert.deepEqual(d.scores.snapshot(), []);
  } finally {
    t.cleanup();
  }
});

test('a ban from a clock far ahead is cut to one ban length', () => {
  const t = tempDir('blyan-scores-');
  try {
    const clock = { now: Date.UTC(2030, 0, 1) };
    const a = node(t.dir, clock);
    a.scores.penalise('liar', 'bad-data');
    a.file.stop();
    clock.now = Date.UTC(2026, 0, 1);
    const b = node(t.dir, clock);
    assert.equal(b.scores.isBanned('liar'), true);
    clock.now += 31 * MINUTE;
    assert.equal(b.scores.isBanned('liar'), false, 'not banned for four years');
  } finally {
    t.cleanup();
  }
});

test('a ban is written within a second, without waiting for the stop', async () => {
  const t = tempDir('blyan-scores-');
  try {
    const clock = { now: Date.now() };
    const a = node(t.dir, clock);
    a.scores.penalise('liar', 'bad-data');
    // A node killed after that write but before any stop: a new one still knows the ban.
    await until('the ban written', () => existsSync(peerScorePath(t.dir)), (written) => written);
    const b = node(t.dir, clock);
    assert.equal(b.scores.isBanned('liar'), true);
    a.file.stop();
  } finally {
    t.cleanup();
  }
});

test('a corrupt or unreadable score file is ignored with a warning and replaced at the next write', () => {
  const t = tempDir('blyan-scores-');
  try {
    const path = peerScorePath(t.dir);
    mkdirSync(dirname(path), { recursive: true });
    const clock = { now: Date.now() };
    const bad = ['{"v":1,"peers":[{"peer":"x"', '{"v":2,"peers":[]}', '{"v":1,"peers":[{"peer":"x","score":"-1000","bannedUntil":0,"penalties":{},"penalisedAt":0}]}', '[]', ''];
    for (const text of bad) {
      writeFileSync(path, text);
      const n = node(t.dir, clock);
      assert.equal(n.warnings.length, 1, `warned about ${JSON.stringify(text)}`);
      assert.match(n.warnings[0] as string, /peer-scores\.json/);
      assert.deepEqual(n.scores.snapshot(), []);
    }
    const n = node(t.dir, clock);
    n.scores.penalise('liar', 'bad-data');
    n.file.stop();
    assert.equal(node(t.dir, clock).scores.isBanned('liar'), true, 'the damaged file was replaced');
    // A directory where the file should be: unreadable and unwritable, and still no crash.
    const t2 = tempDir('blyan-scores-');
    try {
      mkdirSync(peerScorePath(t2.dir), { recursive: true });
      const m = node(t2.dir, clock);
      assert.equal(m.warnings.length, 1);
      m.scores.penalise('liar', 'bad-data');
      assert.equal(m.scores.isBanned('liar'), true, 'bans still hold in memory');
      m.file.stop();
      assert.equal(m.warnings.length, 2);
      assert.match(m.warnings[1] as string, /cannot write/);
    } finally {
      t2.cleanup();
    }
  } finally {
    t.cleanup();
  }
});
