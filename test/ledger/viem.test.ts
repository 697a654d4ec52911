import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { hashTypedData, type TypedDataDomain } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { isBlyanError } from '../../src/errors.ts';
import { txDigest, verifyTx } from '../../src/ledger/tx.ts';
import { txFromJson } from '../../src/ledger/txCodec.ts';
import { TX_KINDS, TX_TYPES } from '../../src/ledger/txTypes.ts';
import { DOMAIN, user } from './helpers.ts';

const alice = user('alice');
const account = privateKeyToAccount(`0x${Buffer.from(alice.key).toString('hex')}`);
const domain: TypedDataDomain = { name: DOMAIN.name, version: DOMAIN.version, chainId: DOMAIN.chainId };

const samples: Record<string, Record<string, unknown>> = {
  Transfer: { to: '0x00000000000000000000000000000000000000aa', amount: 1500000000000000000n, nonce: 0n },
  Stake: { amount: 7n, nonce: 3n },
  Unstake: { amount: 7n, nonce: 4n },
  Authorize: { provider: '0x00000000000000000000000000000000000000bb', quoteId: `0x${'ab'.repeat(32)}`, maxTokens: 1000n, amount: 10n ** 18n, expiresAt: 1767312000000n, nonce: 5n },
  Capture: { quoteId: `0x${'cd'.repeat(32)}`, tokensUsed: 900n, nonce: 6n },
  Release: { quoteId: `0x${'ef'.repeat(32)}`, nonce: 7n },
  Refund: { quoteId: `0x${'01'.repeat(32)}`, amount: 5n, nonce: 8n },
  Grant: { to: '0x00000000000000000000000000000000000000cc', amount: 1n, nonce: 9n },
  DeltaReward: { miner: '0x00000000000000000000000000000000000000dd', deltaBlock: `0x${'02'.repeat(32)}`, model: `0x${'03'.repeat(32)}`, component: 'layer3.expert7', improvementPpm: 25000n, nonce: 10n },
  UsageReward: { host: '0x00000000000000000000000000000000000000ee', expert: 'layer1.expert2', epoch: 3n, usage: 12345n, speedPpm: 1200000n, qualityPpm: 900000n, recencyPpm: 1000000n, nonce: 11n },
  ValidatorReward: { epoch: 4n, validators: ['0x00000000000000000000000000000000000000f1', '0x00000000000000000000000000000000000000f2'], nonce: 12n },
};

function jsonMessage(m: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]));
}

for (const kind of TX_KINDS) {
  test(`viem-signed ${kind} is accepted as it is; one changed field is refused`, async () => {
    const message = { from: alice.addr, ...samples[kind] };
    const types = { [kind]: TX_TYPES[kind].map((f) => ({ ...f })) };
    const signature = await account.signTypedData({ domain, types, primaryType: kind, message } as never);
    const digest = hashTypedData({ domain, types, primaryType: kind, message } as never);
    const tx = txFromJson({ domain, primaryType: kind, message: jsonMessage(message), signature });
    // Our EIP-712 digest equals viem's, and the signature recovers to the signer.
    assert.equal(`0x${Buffer.from(txDigest(tx)).toString('hex')}`, digest);
    assert.equal(`0x${Buffer.from(verifyTx(tx, DOMAIN)).toString('hex')}`, digest);
    // Independent check of the recovery with @noble/curves.
    const sig = Buffer.from(signature.slice(2), 'hex');
    const recovered = secp256k1.Signature.fromBytes(sig.subarray(0, 64), 'compact')
      .addRecoveryBit((sig[64] as number) - 27)
      .recoverPublicKey(Buffer.from(digest.slice(2), 'hex'))
      .toBytes(false);
    assert.equal(`0x${Buffer.from(keccak_256(recovered.subarray(1)).subarray(12)).toString('hex')}`, alice.addr);
    // Change each field in turn: the signature no longer matches.
    for (const f of TX_TYPES[kind]) {
      if (f.name === 'from') continue;
      const changed = { ...jsonMessage(message) };
      const v = changed[f.name];
      changed[f.name] =
        f.type === 'string' ? `${v as string}x` : f.type === 'address[]' ? [...(v as string[]), '0x00000000000000000000000000000000000000f3'] : f.type === 'address' || f.type === 'bytes32' ? `${(v as string).slice(0, -1)}9` : (BigInt(v as string) + 1n).toString();
      const bad = txFromJson({ domain, primaryType: kind, message: changed, signature });
      assert.throws(() => verifyTx(bad, DOMAIN), (e) => isBlyanError(e, 'LEDGER_BAD_SIGNATURE'), `${kind}.${f.name}`);
    }
  });
}

test('wrong domain and wrong chain id have their own codes', async () => {
  const message = { from: alice.addr, ...samples.Transfer };
  const types = { Transfer: TX_TYPES.Transfer.map((f) => ({ ...f })) };
  const other = { ...domain, chainId: 1 };
  const sig1 = await account.signTypedData({ domain: other, types, primaryType: 'Transfer', message } as never);
  const tx1 = txFromJson({ domain: other, primaryType: 'Transfer', message: jsonMessage(message), signature: sig1 });
  assert.throws(() => verifyTx(tx1, DOMAIN), (e) => isBlyanError(e, 'LEDGER_WRONG_CHAIN_ID'));
  const renamed = { ...domain, name: 'NotBlyan' };
  const sig2 = await account.signTypedData({ domain: renamed, types, primaryType: 'Transfer', message } as never);
  const tx2 = txFromJson({ domain: renamed, primaryType: 'Transfer', message: jsonMessage(message), signature: sig2 });
  assert.throws(() => verifyTx(tx2, DOMAIN), (e) => isBlyanError(e, 'LEDGER_WRONG_DOMAIN'));
  // Lying about the domain in the envelope does not help: the signature was made over another one.
  const lied = txFromJson({ domain, primaryType: 'Transfer', message: jsonMessage(message), signature: sig1 });
  assert.throws(() => verifyTx(lied, DOMAIN), (e) => isBlyanError(e, 'LEDGER_BAD_SIGNATURE'));
});
