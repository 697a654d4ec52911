// Ledger benchmarks (issue 6): signed transactions verified and applied per second on one core, quote→capture
// round trips per second through the LMDB ledger, and the audit time for 100k transactions.
// BLYAN_BENCH_LEDGER_TXS changes the audit size (default 100,000).
import { sha256 } from '../src/chain/hash.ts';
import { TINY } from '../src/chain/presets.ts';
import { addressOf } from '../src/chain/sign.ts';
import { BlockStore } from '../src/chain/store.ts';
import { GENESIS_PRIVATE_KEY } from '../src/chain/genesis.ts';
import { ONE_BLY } from '../src/ledger/amount.ts';
import { applyBlock } from '../src/ledger/apply.ts';
import { auditLedger } from '../src/ledger/audit.ts';
import { Ledger } from '../src/ledger/ledger.ts';
import { MemoryLedgerState } from '../src/ledger/memoryState.ts';
import { ledgerParamsFor } from '../src/ledger/params.ts';
import { authorizeMessage, makeQuote } from '../src/ledger/pricing.ts';
import { type Hex20, hexAddress } from '../src/ledger/systemAccounts.ts';
import { type AnyTx, ledgerDomain, signTx } from '../src/ledger/tx.ts';
import { encodeBatch } from '../src/ledger/txCodec.ts';
import { tempDir } from '../test/helpers/fixtures.ts';

const PARAMS = ledgerParamsFor(TINY);
const DOMAIN = ledgerDomain(TINY.chainId);
const T0 = TINY.genesisTime + 86_400_000;
const AUTH = hexAddress(addressOf(GENESIS_PRIVATE_KEY));

interface Key {
  key: Uint8Array;
  addr: Hex20;
}
function keys(n: number, tag: string): Key[] {
  return Array.from({ length: n }, (_, i) => {
    const key = sha256(new TextEncoder().encode(`bench ledger ${tag} ${i}`));
    return { key, addr: hexAddress(addressOf(key)) };
  });
}

/** `perSender` transfers from each sender, nonces 0…perSender−1, interleaved across senders. */
function transfers(senders: Key[], perSender: number, to: Hex20): AnyTx[] {
  const out: AnyTx[] = [];
  for (let n = 0; n < perSender; n++) {
    for (const s of senders) out.push(signTx('Transfer', { from: s.addr, to, amount: 1000n, nonce: BigInt(n) }, DOMAIN, s.key));
  }
  return out;
}

function grants(senders: Key[]): AnyTx[] {
  return senders.map((s, i) => signTx('Grant', { from: AUTH, to: s.addr, amount: ONE_BLY, nonce: BigInt(i) }, DOMAIN, GENESIS_PRIVATE_KEY));
}

export async function benchLedger(): Promise<Record<string, unknown>> {
  const tStart = performance.now();
  const auditTxs = Number(process.env.BLYAN_BENCH_LEDGER_TXS ?? 100_000);
  const senders = keys(1000, 'sender');
  const sink = keys(1, 'sink')[0] as Key;

  // 1. verify + apply (pure, one core): decode the batch payload, check every EIP-712 signature, apply.
  let state = new MemoryLedgerState();
  state.merge(applyBlock(state, { chain: 'C', index: 0, type: 'genesis', time: T0 }, new Uint8Array(0), PARAMS));
  state.merge(applyBlock(state, { chain: 'C', index: 1, type: 'txbatch', time: T0 }, encodeBatch(grants(senders)), PARAMS));
  const batch = transfers(senders, 10, sink.addr);
  const payload = encodeBatch(batch);
  const cpu0 = process.cpuUsage();
  const t1 = performance.now();
  const diff = applyBlock(state, { chain: 'C', index: 2, type: 'txbatch', time: T0 }, payload, PARAMS);
  const applySec = (performance.now() - t1) / 1000;
  // CPU time of this (single) thread: the rate on one core even when the machine is shared.
  const cpu1 = process.cpuUsage(cpu0);
  const applyCpuSec = (cpu1.user + cpu1.system) / 1e6;
  state = state.merge(diff, false);

  // 2. quote → authorize → capture round trips through the LMDB ledger (each step a committed block when sequential).
  const { dir, cleanup } = tempDir('blyan-bench-ledger-');
  const { store } = BlockStore.init(dir, TINY);
  const producer = keys(1, 'producer')[0] as Key;
  const provider = keys(1, 'provider')[0] as Key;
  const user = senders[0] as Key;
  let now = T0;
  const ledger = Ledger.open(store, { producerKey: producer.key, now: () => now, maxBatch: 10_000 });
  let authNonce = 0n;
  await ledger.submit(signTx('Grant', { from: AUTH, to: user.addr, amount: 100_000n * ONE_BLY, nonce: authNonce++ }, DOMAIN, GENESIS_PRIVATE_KEY));
  let userNonce = 0n;
  let provNonce = 0n;
  const roundTrip = () => {
    const q = makeQuote({ provider: provider.addr, maxTokens: 1000n, now }, PARAMS);
    const a = signTx('Authorize', authorizeMessage(q, user.addr, userNonce++), DOMAIN, user.key);
    const c = signTx('Capture', { from: provider.addr, quoteId: q.quoteId, tokensUsed: 700n, nonce: provNonce++ }, DOMAIN, provider.key);
    return { a, c };
  };
  let seq = 0;
  const tSeq = performance.now();
  while (performance.now() - tSeq < 1500) {
    const { a, c } = roundTrip();
    await ledger.submit(a);
    await ledger.submit(c);
    seq++;
  }
  const seqPerSec = seq / ((performance.now() - tSeq) / 1000);
  const concurrent = 2000;
  const pairs = Array.from({ length: concurrent }, roundTrip);
  const tCon = performance.now();
  await Promise.all(pairs.map((p) => ledger.submit(p.a)));
  await Promise.all(pairs.map((p) => ledger.submit(p.c)));
  const conPerSec = concurrent / ((performance.now() - tCon) / 1000);

  // 3. a ledger of `auditTxs` transactions, committed in blocks of 10,000, then audited from C:0.
  const perSender = Math.ceil(auditTxs / senders.length);
  const g = senders.map((s) => signTx('Grant', { from: AUTH, to: s.addr, amount: ONE_BLY, nonce: authNonce++ }, DOMAIN, GENESIS_PRIVATE_KEY));
  await Promise.all(g.map((tx) => ledger.submit(tx)));
  const tSign = performance.now();
  // senders[0] already used nonces for the round trips: start everyone above them
  const base = userNonce;
  const bulk: AnyTx[] = [];
  for (let n = 0; n < perSender && bulk.length < auditTxs; n++) {
    for (const s of senders) {
      if (bulk.length >= auditTxs) break;
      bulk.push(signTx('Transfer', { from: s.addr, to: sink.addr, amount: 1000n, nonce: base + BigInt(n) }, DOMAIN, s.key));
    }
  }
  const signSec = (performance.now() - tSign) / 1000;
  const tCommit = performance.now();
  for (let i = 0; i < bulk.length; i += 10_000) {
    now += 1;
    await Promise.all(bulk.slice(i, i + 10_000).map((tx) => ledger.submit(tx)));
  }
  const commitSec = (performance.now() - tCommit) / 1000;
  const auditCpu0 = process.cpuUsage();
  const report = auditLedger(store, ledger.store);
  const auditCpu = process.cpuUsage(auditCpu0);
  await store.close();
  cleanup();

  return {
    bench: 'ledger',
    verifyApplyTxPerSec: Math.round(batch.length / applySec),
    verifyApplyTxPerCpuSec: Math.round(batch.length / applyCpuSec),
    verifyApplyBatch: batch.length,
    quoteCaptureRoundTripsPerSecSequential: Math.round(seqPerSec),
    quoteCaptureRoundTripsPerSecConcurrent: Math.round(conPerSec),
    lmdbCommittedTxPerSec: Math.round(bulk.length / commitSec),
    signTxPerSec: Math.round(bulk.length / signSec),
    auditTransactions: report.transactions,
    auditPostings: report.postings,
    auditMs: report.ms,
    auditCpuMs: Math.round((auditCpu.user + auditCpu.system) / 1000),
    totalSec: Math.round((performance.now() - tStart) / 100) / 10,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchLedger())}\n`);
}
