// Ledger benchmarks (issue 6): signed transactions verified and applied per second on one core; quote→capture
// round trips per second and committed transactions per second through the LMDB ledger and through the
// PostgreSQL ledger (a throwaway local server, fsync on like LMDB's durable commits); audit times.
// BLYAN_BENCH_LEDGER_TXS changes the LMDB audit size (default 100,000), BLYAN_BENCH_LEDGER_PG_TXS the
// PostgreSQL one (default 20,000).
import { TINY } from '../src/chain/presets.ts';
import { BlockStore } from '../src/chain/store.ts';
import { applyBlock } from '../src/ledger/apply.ts';
import { auditLedger } from '../src/ledger/audit.ts';
import { Ledger } from '../src/ledger/ledger.ts';
import { MemoryLedgerState } from '../src/ledger/memoryState.ts';
import { PgLedgerStore } from '../src/ledger/pgStore.ts';
import type { Hex20 } from '../src/ledger/systemAccounts.ts';
import { type AnyTx, signTx } from '../src/ledger/tx.ts';
import { encodeBatch } from '../src/ledger/txCodec.ts';
import { tempDir } from '../test/helpers/fixtures.ts';
import { startPostgres } from '../test/helpers/postgres.ts';
import { type Bench, bulkTransfers, DOMAIN, grant, type Key, keys, PARAMS, roundTrips, T0 } from './ledgerKit.ts';

/** `perSender` transfers from each sender, nonces 0…perSender−1, interleaved across senders. */
function transfers(senders: Key[], perSender: number, to: Hex20): AnyTx[] {
  const out: AnyTx[] = [];
  for (let n = 0; n < perSender; n++) {
    for (const s of senders) out.push(signTx('Transfer', { from: s.addr, to, amount: 1000n, nonce: BigInt(n) }, DOMAIN, s.key));
  }
  return out;
}

/** Pure verify + apply on one core: decode the batch payload, check every EIP-712 signature, apply. */
function verifyApply(senders: Key[], sink: Key): Record<string, number> {
  const b = { authNonce: 0n };
  const state = new MemoryLedgerState();
  state.merge(applyBlock(state, { chain: 'C', index: 0, type: 'genesis', time: T0 }, new Uint8Array(0), PARAMS));
  state.merge(applyBlock(state, { chain: 'C', index: 1, type: 'txbatch', time: T0 }, encodeBatch(senders.map((s) => grant(b, s.addr, 10n ** 18n))), PARAMS));
  const batch = transfers(senders, 10, sink.addr);
  const payload = encodeBatch(batch);
  const cpu0 = process.cpuUsage();
  const t1 = performance.now();
  applyBlock(state, { chain: 'C', index: 2, type: 'txbatch', time: T0 }, payload, PARAMS);
  const applySec = (performance.now() - t1) / 1000;
  // CPU time of this (single) thread: the rate on one core even when the machine is shared.
  const cpu1 = process.cpuUsage(cpu0);
  return {
    verifyApplyTxPerSec: Math.round(batch.length / applySec),
    verifyApplyTxPerCpuSec: Math.round(batch.length / ((cpu1.user + cpu1.system) / 1e6)),
    verifyApplyBatch: batch.length,
  };
}

async function lmdb(senders: Key[], sink: Key, auditTxs: number): Promise<Record<string, number>> {
  const { dir, cleanup } = tempDir('blyan-bench-ledger-');
  const { store } = BlockStore.init(dir, TINY);
  try {
    const clock = { now: T0 };
    const b: Bench = { ledger: Ledger.open(store, { producerKey: keys(1, 'producer')[0]?.key as Uint8Array, now: () => clock.now, maxBatch: 10_000 }), clock, authNonce: 0n };
    const rt = await roundTrips(b, senders[0] as Key, keys(1, 'provider')[0] as Key, 1500, 2000);
    // senders[0] already used nonces for the round trips: start everyone above them
    const bulk = await bulkTransfers(b, senders, sink.addr, auditTxs, rt.userNonce, 10_000);
    const auditCpu0 = process.cpuUsage();
    const report = await auditLedger(store, b.ledger.store);
    const auditCpu = process.cpuUsage(auditCpu0);
    return {
      quoteCaptureRoundTripsPerSecSequential: rt.sequential,
      quoteCaptureRoundTripsPerSecConcurrent: rt.concurrent,
      lmdbCommittedTxPerSec: bulk.txPerSec,
      signTxPerSec: bulk.signTxPerSec,
      auditTransactions: report.transactions,
      auditPostings: report.postings,
      auditMs: report.ms,
      auditCpuMs: Math.round((auditCpu.user + auditCpu.system) / 1000),
    };
  } finally {
    await store.close();
    cleanup();
  }
}

/** The same measurements through PostgreSQL: every block is one PostgreSQL transaction under the ledger_meta lock. */
async function postgres(senders: Key[], sink: Key, txs: number): Promise<Record<string, number | string>> {
  let server: Awaited<ReturnType<typeof startPostgres>>;
  try {
    server = await startPostgres({ durable: true });
  } catch (err) {
    return { pgError: (err as Error).message.split('\n')[0] ?? 'PostgreSQL did not start' };
  }
  const { dir, cleanup } = tempDir('blyan-bench-ledger-pg-');
  const { store: blocks } = BlockStore.init(dir, TINY);
  const store = await PgLedgerStore.open({ url: await server.createDatabase('bench'), preset: TINY, params: PARAMS });
  try {
    const clock = { now: T0 };
    const b: Bench = { ledger: Ledger.over(store, blocks, { producerKey: keys(1, 'producer')[0]?.key as Uint8Array, now: () => clock.now, maxBatch: 5_000 }), clock, authNonce: 0n };
    const rt = await roundTrips(b, senders[0] as Key, keys(1, 'provider')[0] as Key, 1500, 2000);
    const bulk = await bulkTransfers(b, senders, sink.addr, txs, rt.userNonce, 5_000);
    const report = await auditLedger(blocks, store);
    return {
      pgQuoteCaptureRoundTripsPerSecSequential: rt.sequential,
      pgQuoteCaptureRoundTripsPerSecConcurrent: rt.concurrent,
      pgCommittedTxPerSec: bulk.txPerSec,
      pgAuditTransactions: report.transactions,
      pgAuditMs: report.ms,
    };
  } finally {
    await store.close();
    await blocks.close();
    cleanup();
    server.stop();
  }
}

export async function benchLedger(): Promise<Record<string, unknown>> {
  const tStart = performance.now();
  const senders = keys(1000, 'sender');
  const sink = keys(1, 'sink')[0] as Key;
  return {
    bench: 'ledger',
    ...verifyApply(senders, sink),
    ...(await lmdb(senders, sink, Number(process.env.BLYAN_BENCH_LEDGER_TXS ?? 100_000))),
    ...(await postgres(senders, sink, Number(process.env.BLYAN_BENCH_LEDGER_PG_TXS ?? 20_000))),
    totalSec: Math.round((performance.now() - tStart) / 100) / 10,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(await benchLedger())}\n`);
}
