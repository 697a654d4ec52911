/** Chain-A params blocks: strict codec, and the schedule's rules P1–P3 (docs/ledger.md §6.1). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import { GENESIS_PRIVATE_KEY } from '../../src/chain/genesis.ts';
import { TINY } from '../../src/chain/presets.ts';
import { addressOf } from '../../src/chain/sign.ts';
import { isBlyanError } from '../../src/errors.ts';
import { ledgerParamsFor } from '../../src/ledger/params.ts';
import { changeOf, decodeParamsChange, encodeParamsChange } from '../../src/ledger/paramsBlock.ts';
import { type ParamsBlockInfo, ParamsSchedule } from '../../src/ledger/paramsSchedule.ts';
import { type Hex20, hexAddress } from '../../src/ledger/systemAccounts.ts';

const BASE = ledgerParamsFor(TINY);
const AUTH = hexAddress(addressOf(GENESIS_PRIVATE_KEY));
const OTHER = '0x00000000000000000000000000000000000000aa' as Hex20;

test('codec: round trip; anything but the canonical encoding of exactly these fields is refused', () => {
  const c = { ...changeOf(BASE, 5000), pricing: { ...BASE.pricing, perKiloToken: 2n * 10n ** 18n, burnBps: 500n } };
  const bytes = encodeParamsChange(c);
  assert.deepEqual(decodeParamsChange(bytes), c);
  const raw = dagCbor.decode(bytes) as Record<string, unknown>;
  const refuse = (v: unknown) => assert.throws(() => decodeParamsChange(dagCbor.encode(v)), (e) => isBlyanError(e, 'LEDGER_BAD_PARAMS'));
  refuse({ ...raw, extra: 1 });
  refuse({ ...raw, v: 2 });
  refuse({ ...raw, pricing: { ...(raw.pricing as object), burnBps: '10001' } });
  refuse({ ...raw, pricing: { ...(raw.pricing as object), perKiloToken: '0' } });
  refuse({ ...raw, pricing: { ...(raw.pricing as object), perKiloToken: 5 } });
  refuse({ ...raw, authorities: [] });
  refuse({ ...raw, authorities: [new Uint8Array(19)] });
  assert.throws(() => decodeParamsChange(new Uint8Array([0xff, 0x00])), (e) => isBlyanError(e, 'LEDGER_BAD_PARAMS'));
  assert.throws(() => encodeParamsChange({ ...c, authorities: [AUTH, AUTH] }), (e) => isBlyanError(e, 'LEDGER_BAD_PARAMS'));
});

function block(index: number, time: number, author: Hex20, change: Parameters<typeof encodeParamsChange>[0]): ParamsBlockInfo {
  return { index, time, author, id: `b${index}`, payload: encodeParamsChange(change) };
}

test('schedule: the preset until a change is active; non-authorities and short notice ignored; authority sets hand over', () => {
  const price = (n: bigint) => ({ ...BASE.pricing, perKiloToken: n });
  const blocks = [
    block(1, 1000, AUTH, { ...changeOf(BASE, 2000), pricing: price(2n) }),
    // P2: not an authority.
    block(2, 1100, OTHER, { ...changeOf(BASE, 2100), pricing: price(99n) }),
    // Hands authority to OTHER from 3000.
    block(3, 1200, AUTH, { ...changeOf(BASE, 3000), pricing: price(3n), authorities: [OTHER] }),
    // P3: activeFrom before the block's own time + notice (notice 100 here).
    block(4, 3500, OTHER, { ...changeOf(BASE, 3550), pricing: price(98n), authorities: [OTHER] }),
    // OTHER is an authority at 3600: accepted. AUTH no longer is: ignored.
    block(5, 3600, OTHER, { ...changeOf(BASE, 4000), pricing: price(4n), authorities: [OTHER] }),
    block(6, 3700, AUTH, { ...changeOf(BASE, 5000), pricing: price(97n) }),
  ];
  const s = new ParamsSchedule(BASE, blocks, 100);
  assert.equal(s.at(0).pricing.perKiloToken, BASE.pricing.perKiloToken);
  assert.equal(s.at(1999).pricing.perKiloToken, BASE.pricing.perKiloToken);
  assert.equal(s.at(2000).pricing.perKiloToken, 2n);
  assert.equal(s.at(3000).pricing.perKiloToken, 3n);
  assert.deepEqual(s.at(3000).authorities, [OTHER]);
  assert.equal(s.at(4000).pricing.perKiloToken, 4n);
  assert.equal(s.at(10_000).pricing.perKiloToken, 4n);
  assert.deepEqual(s.refused.map((r) => r.block), ['b2', 'b4', 'b6']);
  assert.match(s.refused[0]?.reason ?? '', /P2/);
  assert.match(s.refused[1]?.reason ?? '', /P3/);
  // Chain id and genesis balances never change.
  assert.equal(s.at(10_000).chainId, BASE.chainId);
  assert.deepEqual(s.at(10_000).genesis, BASE.genesis);
  // Garbage payloads are ignored, not fatal.
  const junk = new ParamsSchedule(BASE, [{ index: 1, time: 1, author: AUTH, id: 'j', payload: new Uint8Array([1, 2, 3]) }], 0);
  assert.equal(junk.at(5).pricing.perKiloToken, BASE.pricing.perKiloToken);
  assert.equal(junk.refused.length, 1);
});

test('codec v2: a producer makes a v2 payload that round-trips; without one the payload stays v1, byte for byte', () => {
  const v1 = changeOf(BASE, 5000);
  assert.equal(v1.producer, null);
  const v1Bytes = encodeParamsChange(v1);
  assert.equal((dagCbor.decode(v1Bytes) as { v: number }).v, 1);
  assert.deepEqual(decodeParamsChange(v1Bytes), v1);
  const v2 = { ...v1, producer: OTHER };
  const v2Bytes = encodeParamsChange(v2);
  const raw = dagCbor.decode(v2Bytes) as Record<string, unknown>;
  assert.equal(raw.v, 2);
  assert.deepEqual(decodeParamsChange(v2Bytes), v2);
  const refuse = (v: unknown) => assert.throws(() => decodeParamsChange(dagCbor.encode(v)), (e) => isBlyanError(e, 'LEDGER_BAD_PARAMS'));
  refuse({ ...raw, v: 1 }); // a producer key in a v1 payload is an unknown key (P1)
  refuse({ ...raw, producer: new Uint8Array(19) });
  refuse({ ...raw, producer: 'x' });
  refuse({ ...raw, v: 3 });
  const { producer: _dropped, ...noProducer } = raw;
  refuse(noProducer); // v2 without its producer
});

test('schedule: the producer is in force from activeFrom; a later v1 change names none again', () => {
  const blocks = [block(1, 1000, AUTH, { ...changeOf(BASE, 2000), producer: OTHER }), block(2, 2500, AUTH, changeOf(BASE, 3000))];
  const s = new ParamsSchedule(BASE, blocks, 100);
  assert.deepEqual(s.refused, []);
  assert.equal(s.at(1999).producer, null);
  assert.equal(s.at(2000).producer, OTHER);
  assert.equal(s.at(3000).producer, null);
});
