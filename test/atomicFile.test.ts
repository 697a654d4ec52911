import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomicSync } from '../src/atomicFile.ts';

test('writeFileAtomicSync replaces the whole file, with the mode asked for, and leaves no temporary file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'blyan-atomic-'));
  try {
    const path = join(dir, 'f.json');
    writeFileSync(path, 'old');
    writeFileAtomicSync(path, new Uint8Array([1, 2, 3]), { mode: 0o600 });
    assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    writeFileAtomicSync(path, 'text');
    assert.equal(readFileSync(path, 'utf8'), 'text');
    assert.deepEqual(readdirSync(dir), ['f.json']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomicSync that cannot rename leaves the old file and no temporary file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'blyan-atomic-'));
  try {
    // A directory in the way: the rename fails (EISDIR), after the temporary file was written.
    const path = join(dir, 'taken');
    writeFileSync(join(dir, 'keep'), 'x');
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'y');
    assert.throws(() => writeFileAtomicSync(path, 'new'));
    assert.deepEqual(readdirSync(dir).sort(), ['keep', 'taken']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
