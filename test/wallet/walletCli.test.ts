import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatAddress } from '../../src/chain/address.ts';
import { addressOf } from '../../src/chain/sign.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'blyan.js');
const PASSPHRASE = 'tr0ub4dor & 3 horses 🐎';
const RAW_KEY_HEX = '4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every output of every run, so the last test can check that no secret ever leaked. */
const seen: string[] = [];
let tmp = '';

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'blyan-wallet-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Runs the real CLI with stdin not a TTY; `passphrase: null` leaves BLYAN_PASSPHRASE unset. */
function blyan(args: string[], passphrase: string | null = PASSPHRASE): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.BLYAN_DATA;
  delete env.BLYAN_PASSPHRASE;
  if (passphrase !== null) env.BLYAN_PASSPHRASE = passphrase;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      seen.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return run;
}

function fails(run: Run, code: string): void {
  assert.equal(run.code, 1, `expected exit 1, got ${run.code}\nstderr: ${run.stderr}`);
  assert.match(run.stderr, new RegExp(`error \\[${code}\\]`));
}

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

test('wallet new, then show --json lists it; dir 0700, file 0600', async () => {
  const data = join(tmp, 'a');
  const created = JSON.parse(ok(await blyan(['wallet', 'new', '--data', data, '--light-kdf', '--json'])).stdout);
  assert.match(created.address, /^0x[0-9a-fA-F]{40}$/);
  assert.equal(dirname(created.file), join(data, 'keystore'));
  assert.match(created.file, new RegExp(`/UTC--[0-9T.Z-]+--${created.address.slice(2).toLowerCase()}\\.json$`));
  assert.equal(await mode(join(data, 'keystore')), 0o700);
  assert.equal(await mode(created.file), 0o600);
  // No temporary file is left behind.
  assert.deepEqual(await readdir(join(data, 'keystore')), [created.file.split('/').pop()]);

  const listed = JSON.parse(ok(await blyan(['wallet', 'show', '--data', data, '--json'])).stdout);
  assert.deepEqual(listed, [created]);
  const text = ok(await blyan(['wallet', 'show', '--data', data])).stdout;
  assert.ok(text.includes(created.address) && text.includes(created.file));
});

test('export → import into another data dir gives the same address', async () => {
  const from = join(tmp, 'b');
  const to = join(tmp, 'c');
  const created = JSON.parse(ok(await blyan(['wallet', 'new', '--data', from, '--light-kdf', '--json'])).stdout);

  const out = join(tmp, 'b-export.json');
  const exported = JSON.parse(ok(await blyan(['wallet', 'export', '--data', from, '--out', out, '--json'])).stdout);
  assert.deepEqual(exported, { address: created.address, file: out });
  assert.equal(await mode(out), 0o600);
  const keystore = JSON.parse(await readFile(out, 'utf8'));
  assert.equal(keystore.version, 3);
  assert.equal(`0x${keystore.address}`, created.address.toLowerCase());

  // To stdout, the same keystore.
  assert.deepEqual(JSON.parse(ok(await blyan(['wallet', 'export', '--data', from])).stdout), keystore);
  // --out never overwrites.
  fails(await blyan(['wallet', 'export', '--data', from, '--out', out]), 'BAD_ARGUMENT');

  const imported = JSON.parse(ok(await blyan(['wallet', 'import', out, '--data', to, '--light-kdf', '--json'])).stdout);
  assert.equal(imported.address, created.address);
  assert.equal(await mode(imported.file), 0o600);
  fails(await blyan(['wallet', 'import', out, '--data', to, '--light-kdf']), 'WALLET_EXISTS');
  fails(await blyan(['wallet', 'import', out, '--data', join(tmp, 'd'), '--light-kdf'], 'not it'), 'KEYSTORE_BAD_PASSPHRASE');
});

test('import of a raw hex key file, and --address selection among several wallets', async () => {
  const data = join(tmp, 'e');
  const keyFile = join(tmp, 'raw.key');
  await writeFile(keyFile, `0x${RAW_KEY_HEX}\n`, { mode: 0o600 });
  const expected = formatAddress(addressOf(new Uint8Array(Buffer.from(RAW_KEY_HEX, 'hex'))));
  const imported = JSON.parse(ok(await blyan(['wallet', 'import', keyFile, '--data', data, '--light-kdf', '--json'])).stdout);
  assert.equal(imported.address, expected);

  const other = JSON.parse(ok(await blyan(['wallet', 'new', '--data', data, '--light-kdf', '--json'])).stdout);
  const several = await blyan(['wallet', 'export', '--data', data]);
  fails(several, 'WALLET_NOT_FOUND');
  assert.match(several.stderr, /several wallets.*--address/);
  const chosen = JSON.parse(ok(await blyan(['wallet', 'export', '--data', data, '--address', other.address])).stdout);
  assert.equal(`0x${chosen.address}`, other.address.toLowerCase());
  const shown = JSON.parse(ok(await blyan(['wallet', 'show', '--data', data, '--address', expected, '--json'])).stdout);
  assert.deepEqual(shown, [imported]);

  const junk = join(tmp, 'junk.txt');
  await writeFile(junk, 'hello');
  fails(await blyan(['wallet', 'import', junk, '--data', data]), 'BAD_ARGUMENT');
});

test('no wallet → WALLET_NOT_FOUND that says what to do', async () => {
  const run = await blyan(['wallet', 'export', '--data', join(tmp, 'empty')]);
  fails(run, 'WALLET_NOT_FOUND');
  assert.match(run.stderr, /blyan wallet new/);
  assert.deepEqual(JSON.parse(ok(await blyan(['wallet', 'show', '--data', join(tmp, 'empty'), '--json'])).stdout), []);
});

test('no passphrase and no TTY → exit 1 with PASSPHRASE_REQUIRED, nothing written', async () => {
  const data = join(tmp, 'f');
  const run = await blyan(['wallet', 'new', '--data', data, '--light-kdf'], null);
  fails(run, 'PASSPHRASE_REQUIRED');
  assert.match(run.stderr, /BLYAN_PASSPHRASE/);
  await assert.rejects(readdir(join(data, 'keystore')));
});

test('--help describes the subcommands and their options', async () => {
  const run = ok(await blyan(['wallet', 'new', '--help']));
  assert.match(run.stdout, /--light-kdf/);
  assert.match(run.stdout, /--data/);
  assert.match(ok(await blyan(['wallet', '--help'])).stdout, /import/);
});

test('no run ever printed the passphrase or the raw private key', () => {
  assert.ok(seen.length > 0);
  for (const text of seen) {
    assert.ok(!text.includes(PASSPHRASE), 'passphrase leaked');
    assert.ok(!text.toLowerCase().includes(RAW_KEY_HEX), 'private key leaked');
  }
});
