import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyStandalone } from '../../src/chain/block.ts';
import { buildGenesis, GENESIS_PRIVATE_KEY } from '../../src/chain/genesis.ts';
import { equalBytes, toHex } from '../../src/chain/hash.ts';
import { DEVNET, TINY } from '../../src/chain/presets.ts';
import { addressOf } from '../../src/chain/sign.ts';

for (const preset of [TINY, DEVNET]) {
  test(`${preset.name} genesis is rebuilt bit for bit and matches the pinned id`, () => {
    const g1 = buildGenesis(preset);
    const g2 = buildGenesis(preset);
    assert.equal(toHex(g1.a.block.id), preset.genesisId);
    for (const k of ['a', 'c', 'd'] as const) {
      assert.ok(equalBytes(g1[k].block.headerBytes, g2[k].block.headerBytes));
      assert.ok(equalBytes(g1[k].block.sig, g2[k].block.sig), 'RFC 6979 signatures are deterministic');
      verifyStandalone(g1[k].block, preset, { payload: g1[k].payload });
      assert.ok(equalBytes(g1[k].block.header.author, addressOf(GENESIS_PRIVATE_KEY)));
    }
    assert.ok(equalBytes(g1.c.block.header.deps[0]!, g1.a.block.id));
  });
}

test('the two presets have different genesis ids and chain ids', () => {
  assert.notEqual(TINY.genesisId, DEVNET.genesisId);
  assert.notEqual(TINY.chainId, DEVNET.chainId);
});
