import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { readJsonFileSync } from '../src/jsonFile.ts';

const Schema = z.object({ mode: z.enum(['a', 'b']), n: z.number().int() });

test('readJsonFileSync: the parsed value, or undefined when missing, not JSON or not of the schema', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'blyan-jsonfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'f.json');
  assert.equal(readJsonFileSync(path, Schema), undefined);
  writeFileSync(path, '{"mode":"a","n":3}\n');
  assert.deepEqual(readJsonFileSync(path, Schema), { mode: 'a', n: 3 });
  writeFileSync(path, '{"mode":"a","n":');
  assert.equal(readJsonFileSync(path, Schema), undefined);
  writeFileSync(path, '{"mode":"c","n":3}');
  assert.equal(readJsonFileSync(path, Schema), undefined);
  // A directory where the file should be is unreadable, not a crash.
  assert.equal(readJsonFileSync(dir, Schema), undefined);
});
