/**
 * The browser's block check (web/src/verify.ts) against the reference vectors: re-encoding the API's JSON
 * fields gives the exact header bytes, the hash, the proof of work and the signer, and a changed field fails.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { blockJson } from '../../src/api/blockJson.ts';
import { decodeRecord } from '../../src/chain/encoding.ts';
import { encodeHeaderFromJson, verifyBlock } from '../../web/src/verify.ts';

interface Vector {
  name: string;
  chainId: number;
  headerBytes: string;
  id: string;
  record: string;
}
const vectors = (JSON.parse(readFileSync(new URL('../vectors/blocks.json', import.meta.url), 'utf8')) as { blocks: Vector[] }).blocks;

test('re-encoding the JSON fields gives the header bytes of every vector block', async () => {
  assert.ok(vectors.length >= 5);
  for (const v of vectors) {
    const block = decodeRecord(new Uint8Array(Buffer.from(v.record, 'hex')));
    const json = blockJson(block, 0);
    assert.equal(Buffer.from(encodeHeaderFromJson(json)).toString('hex'), v.headerBytes, v.name);
    const r = await verifyBlock(json, v.chainId);
    assert.equal(r.computedHash, v.id, v.name);
    assert.equal(r.hashOk, true, v.name);
    assert.equal(r.workOk, true, v.name);
    assert.equal(r.signatureOk, true, `${v.name}: ${r.signatureError ?? ''}`);
    assert.equal(r.signer?.toLowerCase(), json.author.toLowerCase());
  }
});

test('a changed field, another network or a bad signature is caught', async () => {
  const v = vectors[0] as Vector;
  const json = blockJson(decodeRecord(new Uint8Array(Buffer.from(v.record, 'hex'))), 0);
  const tampered = await verifyBlock({ ...json, time: json.time + 1 }, v.chainId);
  assert.equal(tampered.hashOk, false);
  const otherNet = await verifyBlock(json, v.chainId + 1);
  assert.equal(otherNet.hashOk, true);
  assert.equal(otherNet.signatureOk, false);
  const badV = await verifyBlock({ ...json, sig: `${json.sig.slice(0, 128)}02` }, v.chainId);
  assert.equal(badV.signatureOk, false);
  assert.throws(() => encodeHeaderFromJson({ ...json, nonce: 'abcd' }), /nonce/);
});
