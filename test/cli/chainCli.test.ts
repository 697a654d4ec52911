import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TINY } from '../../src/chain/presets.ts';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';

interface Summary {
  created: boolean;
  genesis: string;
  chains: { chain: string; height: number; head: string | null }[];
}
interface Row {
  id: string;
  chain: string;
  index: number;
  type: string;
}

test('init creates the tiny network once; another preset on the same dir is refused', () => {
  const { dir, cleanup } = tempDir();
  try {
    const first = blyanJson<Summary>(['init', '--preset', 'tiny', '--data', dir]);
    assert.equal(first.created, true);
    assert.equal(first.genesis, TINY.genesisId);
    assert.deepEqual(first.chains.map((c) => c.height), [1, 0, 1, 1]);
    assert.equal(first.chains[0]?.head, TINY.genesisId);
    const second = blyanJson<Summary>(['init', '--preset', 'tiny', '--data', dir]);
    assert.equal(second.created, false);
    const clash = blyan(['init', '--preset', 'devnet', '--data', dir]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /^error \[STORE_GENESIS_MISMATCH\]/);
    assert.equal(clash.stderr.trim().split('\n').length, 1, 'one-line reason');
  } finally {
    cleanup();
  }
});

test('chain list, show and verify agree on the genesis blocks', () => {
  const { dir, cleanup } = tempDir();
  try {
    blyanJson(['init', '--preset', 'tiny', '--data', dir]);
    const rows = blyanJson<Row[]>(['chain', 'list', '--data', dir]);
    assert.deepEqual(rows.map((r) => `${r.chain}:${r.index}:${r.type}`), ['A:0:genesis', 'C:0:genesis', 'D:0:genesis']);
    const onlyC = blyanJson<Row[]>(['chain', 'list', '--chain', 'c', '--data', dir]);
    assert.deepEqual(onlyC.map((r) => r.chain), ['C']);
    const byRef = blyanJson<Row & { cid: string }>(['chain', 'show', 'A:0', '--data', dir]);
    assert.equal(byRef.id, TINY.genesisId);
    assert.match(byRef.cid, /^bafyrei/);
    const byHash = blyanJson<Row>(['chain', 'show', `0x${TINY.genesisId}`, '--data', dir]);
    assert.deepEqual(byHash, byRef);
    const verified = blyanJson<{ ok: boolean; blocks: number }>(['chain', 'verify', '--data', dir]);
    assert.deepEqual([verified.ok, verified.blocks], [true, 3]);
    const human = blyan(['chain', 'verify', '--data', dir]);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /^ok: 3 blocks/);
  } finally {
    cleanup();
  }
});

test('bad arguments give a typed one-line error and a non-zero exit', () => {
  const { dir, cleanup } = tempDir();
  try {
    const missing = blyan(['chain', 'list', '--data', dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /error \[STORE_NOT_INITIALISED\].*blyan init/);
    blyanJson(['init', '--preset', 'tiny', '--data', dir]);
    const cases: [string[], RegExp][] = [
      [['chain', 'show', 'Z:1'], /BAD_ARGUMENT/],
      [['chain', 'show', 'A:9'], /NOT_FOUND/],
      [['chain', 'show', '00'.repeat(32)], /NOT_FOUND/],
      [['chain', 'list', '--chain', 'Q'], /BAD_ARGUMENT/],
      [['chain', 'list', '--limit', '-3'], /BAD_ARGUMENT/],
      [['init', '--preset', 'mainnet'], /BAD_ARGUMENT.*tiny, devnet/],
      [['chain', 'import', `${dir}/no-such.car`], /IO_ERROR/],
    ];
    for (const [args, re] of cases) {
      const r = blyan([...args, '--data', dir]);
      assert.equal(r.code, 1, `${args.join(' ')} exits 1`);
      assert.match(r.stderr, re, args.join(' '));
    }
    const unknown = blyan(['frobnicate']);
    assert.equal(unknown.code, 2);
  } finally {
    cleanup();
  }
});

test('--help works on every command', () => {
  for (const args of [[], ['init'], ['up'], ['chain'], ['chain', 'list'], ['chain', 'show'], ['chain', 'verify'], ['chain', 'export'], ['chain', 'import'], ['wallet'], ['wallet', 'new'], ['wallet', 'show'], ['wallet', 'import'], ['wallet', 'export']]) {
    const r = blyan([...args, '--help']);
    assert.equal(r.code, 0, `${args.join(' ')} --help`);
    assert.match(r.stdout, /Usage: blyan/);
  }
});

test('up initialises a devnet data dir when there is none', () => {
  const { dir, cleanup } = tempDir();
  try {
    const s = blyanJson<Summary & { preset: string }>(['up', '--once', '--data', dir]);
    assert.equal(s.preset, 'devnet');
    // Genesis blocks plus the shipped model (assets/devnet-model.car): its meta block on A, 43 components on B
    // (embed, 4 × (attention, router, 8 experts), head, tokenizer) and the tinyshakespeare dataset on D.
    assert.deepEqual(s.chains.map((c) => c.height), [2, 43, 1, 2]);
    const models = blyanJson<{ name: string; tokenizer: boolean }[]>(['model', 'list', '--data', dir]);
    assert.deepEqual(models.map((m) => [m.name, m.tokenizer]), [['char-moe', true]]);
    const bare = tempDir();
    try {
      const empty = blyanJson<Summary>(['init', '--empty', '--data', bare.dir]);
      assert.deepEqual(empty.chains.map((c) => c.height), [1, 0, 1, 1]);
    } finally {
      bare.cleanup();
    }
    const again = blyan(['up', '--once', '--data', dir]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /blyan-devnet/);
  } finally {
    cleanup();
  }
});
