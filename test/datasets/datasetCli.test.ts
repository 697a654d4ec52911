import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';

const SHAKESPEARE = resolve(import.meta.dirname, '../../../shared/data/tinyshakespeare.txt');
const ENV = { BLYAN_PASSPHRASE: 'dataset-test-passphrase' };
const MINER = '0x17FE491884Cecc7B8c5DB14A510b5d51dDdE955d';

interface DatasetView {
  id: string;
  index: number;
  name: string;
  tier: string;
  license: string;
  mediaType: string;
  size: number;
  sha256: string;
  chunkSize: number;
  chunks: number;
  author: string;
  time: string;
  report: {
    rules: string;
    input: { size: number; sha256: string };
    limits: { minBytes: number; maxBytes: number };
    pii: { mode: string; email: number; card: number; phone: number };
    toxicity: { words: number; hits: number; maxPpm: number };
  };
}

let dir = '';
let cleanup = () => {};
let wallet = '';

before(() => {
  const t = tempDir('blyan-dataset-');
  dir = t.dir;
  cleanup = t.cleanup;
  blyanJson(['init', '--preset', 'tiny', '--data', dir]);
  const w = blyanJson<{ address: string }>(['wallet', 'new', '--light-kdf', '--data', dir], ENV);
  wallet = w.address;
});

after(() => cleanup());

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every file of the data dir with its contents' hash: "nothing written" means this does not change. */
function snapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      // lock.mdb is LMDB's reader table: every process that opens the store writes its slot there.
      else if (name !== 'lock.mdb') out[p] = sha256Hex(readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

test('dataset add: tinyshakespeare passes L0 as gold and becomes D:1; list, show and verify agree', () => {
  const added = blyanJson<DatasetView>(
    ['dataset', 'add', SHAKESPEARE, '--tier', 'gold', '--license', 'LicenseRef-PublicDomain', '--name', 'tinyshakespeare', '--data', dir],
    ENV,
  );
  const text = readFileSync(SHAKESPEARE);
  assert.match(added.id, /^[0-9a-f]{64}$/);
  assert.deepEqual(
    { ...added, id: '', time: '' },
    {
      id: '',
      index: 1,
      name: 'tinyshakespeare',
      tier: 'gold',
      license: 'LicenseRef-PublicDomain',
      mediaType: 'text/plain; charset=utf-8',
      size: text.length,
      sha256: sha256Hex(text),
      chunkSize: 65_536,
      chunks: 18,
      author: wallet,
      time: '',
      report: {
        rules: 'l0/v1',
        input: { size: text.length, sha256: sha256Hex(text) },
        limits: { minBytes: 256, maxBytes: 16 * 1024 * 1024 },
        pii: { mode: 'redact', email: 0, card: 0, phone: 0 },
        toxicity: { words: added.report.toxicity.words, hits: 0, maxPpm: 10_000 },
      },
    },
  );
  const list = blyanJson<DatasetView[]>(['dataset', 'list', '--data', dir]);
  assert.deepEqual(list, [added]);
  const shown = blyanJson<DatasetView & { chunkHashes: string[] }>(['dataset', 'show', 'D:1', '--chunks', '--data', dir]);
  assert.deepEqual({ ...shown, chunkHashes: [] }, { ...added, chunkHashes: [] });
  assert.equal(shown.chunkHashes[17], sha256Hex(text.subarray(17 * 65_536)));
  const block = blyanJson<{ chain: string; type: string; deps: string[] }>(['chain', 'show', added.id, '--data', dir]);
  assert.deepEqual([block.chain, block.type, block.deps], ['D', 'dataset', []]);
  assert.equal(blyanJson<{ ok: boolean }>(['chain', 'verify', '--data', dir]).ok, true);
  const human = blyan(['dataset', 'list', '--data', dir]);
  assert.match(human.stdout, /^D:1 +gold +tinyshakespeare +1\.1 MiB/);
});

test('dataset show --shard: the miner\'s shard for a round, and --out writes its bytes', () => {
  const out = join(dir, 'shard.txt');
  const r = blyanJson<{ shard: { miner: string; round: number; shards: number; index: number; chunkStart: number; chunkEnd: number; byteStart: number; byteEnd: number; size: number; sha256: string } }>(
    ['dataset', 'show', 'tinyshakespeare', '--shard', '--miner', MINER, '--round', '0', '--out', out, '--data', dir],
  );
  const s = r.shard;
  assert.equal(s.miner, MINER);
  assert.deepEqual([s.round, s.shards, s.chunkEnd - s.chunkStart, s.byteStart], [0, 18, 1, s.chunkStart * 65_536]);
  assert.equal(s.size, s.byteEnd - s.byteStart);
  assert.equal(s.size, s.index === 17 ? 1_115_394 - 17 * 65_536 : 65_536);
  const bytes = readFileSync(out);
  assert.deepEqual(bytes, readFileSync(SHAKESPEARE).subarray(s.byteStart, s.byteEnd));
  assert.equal(sha256Hex(bytes), s.sha256);
  const again = blyanJson<{ shard: { index: number } }>(['dataset', 'show', 'D:1', '--shard', '--miner', MINER.toLowerCase(), '--round', '0', '--data', dir]);
  assert.equal(again.shard.index, s.index);
  const four = blyanJson<{ shard: { shards: number } }>(['dataset', 'show', 'D:1', '--shard', '--miner', MINER, '--round', '9', '--shards', '4', '--data', dir]);
  assert.equal(four.shard.shards, 4);
});

test('dataset add --pii redact publishes the redacted text; the report counts each kind', () => {
  const file = join(dir, 'contacts.txt');
  const body = 'Meeting notes for the quarterly review of the gardening club. '.repeat(5);
  writeFileSync(file, `${body}\nMail ann@example.org, call +44 20 7946 0958, card 4111 1111 1111 1111, order 4111 1111 1111 1112.\n`);
  const added = blyanJson<DatasetView>(['dataset', 'add', file, '--data', dir], ENV);
  assert.deepEqual([added.tier, added.license, added.name], ['experimental', 'NOASSERTION', 'contacts.txt']);
  assert.deepEqual(added.report.pii, { mode: 'redact', email: 1, card: 1, phone: 1 });
  const out = join(dir, 'contacts.out');
  blyanJson(['dataset', 'show', added.id.slice(0, 12), '--out', out, '--data', dir]);
  assert.equal(readFileSync(out, 'utf8'), `${body}\nMail [EMAIL], call [PHONE], card [CARD], order 4111 1111 1111 1112.\n`);
  assert.equal(added.sha256, sha256Hex(readFileSync(out)));
});

test('every rejection has its own code, one line, exit 1, and writes nothing (no passphrase needed)', () => {
  const prose = 'An ordinary paragraph of harmless prose about the weather and the sea. '.repeat(6);
  const files: Record<string, string | Uint8Array> = {
    'binary.bin': new Uint8Array([...Buffer.from(prose), 0, 1, 2, 3]),
    'latin1.txt': new Uint8Array([...Buffer.from(prose), 0xe9, 0x74, 0xe9]),
    'bell.txt': `${prose}\u0007`,
    'small.txt': 'too short',
    'pii.txt': `${prose} write to bob@example.com`,
    'toxic.txt': `${prose} ${'shit '.repeat(20)}`,
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const huge = join(dir, 'huge.txt');
  writeFileSync(huge, '');
  truncateSync(huge, 16 * 1024 * 1024 + 1);
  const cases: [string[], string][] = [
    [[join(dir, 'binary.bin')], 'DATASET_BINARY'],
    [[join(dir, 'latin1.txt')], 'DATASET_NOT_UTF8'],
    [[join(dir, 'bell.txt')], 'DATASET_BAD_CHARSET'],
    [[join(dir, 'small.txt')], 'DATASET_TOO_SMALL'],
    [[huge], 'DATASET_TOO_LARGE'],
    [[join(dir, 'pii.txt'), '--pii', 'reject'], 'DATASET_PII'],
    [[join(dir, 'toxic.txt')], 'DATASET_TOXIC'],
    [[SHAKESPEARE, '--tier', 'silver'], 'DATASET_DUPLICATE'],
    [[join(dir, 'pii.txt'), '--tier', 'platinum'], 'BAD_ARGUMENT'],
    [[join(dir, 'pii.txt'), '--license', 'MIT;echo'], 'BAD_ARGUMENT'],
    [[join(dir, 'pii.txt'), '--pii', 'maybe'], 'BAD_ARGUMENT'],
    [[join(dir, 'no-such-file.txt')], 'IO_ERROR'],
  ];
  const before = snapshot();
  const height = blyanJson<unknown[]>(['chain', 'list', '--chain', 'D', '--data', dir]).length;
  for (const [args, code] of cases) {
    const r = blyan(['dataset', 'add', ...args, '--data', dir, '--json']);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error \\[${code}\\]: `), args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one-line reason');
    assert.equal(r.stdout, '');
  }
  assert.deepEqual(snapshot(), before);
  assert.equal(blyanJson<unknown[]>(['chain', 'list', '--chain', 'D', '--data', dir]).length, height);
});

test('dataset show: unknown ids and bad shard flags', () => {
  const cases: [string[], string][] = [
    [['show', 'D:99'], 'DATASET_NOT_FOUND'],
    [['show', 'D:1', '--shard'], 'BAD_ARGUMENT'],
    [['show', 'D:1', '--round', '1'], 'BAD_ARGUMENT'],
    [['show', 'D:1', '--shard', '--miner', '0x12', '--round', '1'], 'BAD_ARGUMENT'],
    [['show', 'D:1', '--shard', '--miner', MINER, '--round', '1', '--shards', '19'], 'BAD_ARGUMENT'],
  ];
  for (const [args, code] of cases) {
    const r = blyan(['dataset', ...args, '--data', dir]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error \\[${code}\\]: `), args.join(' '));
  }
  for (const args of [['dataset'], ['dataset', 'add']]) {
    const r = blyan([...args, '--help']);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /Usage: blyan dataset/);
  }
});
