import { BlyanError } from '../errors.ts';
import { ledgerUrlFrom } from '../ledger/openLedger.ts';
import { ledgerProducerOf, loadNodeConfig } from '../node/config.ts';
import { readLedgerMode } from '../node/ledgerMode.ts';
import { readRunFile } from '../node/runFile.ts';

/**
 * Where a CLI command that adds chain-C transactions (`wallet send`, `ledger faucet`, `ledger pay-rewards`)
 * sends them. Chain C has one producer per network (docs/ledger.md §9.4), and a command that applied its
 * transaction to the data dir's ledger would author a chain-C block of its own:
 *
 * - a PostgreSQL ledger (`--ledger-url`, $BLYAN_LEDGER_URL): here, as before; the processes sharing it produce
 *   chain C together, ordered by its lock (§9.2);
 * - a node runs on the data dir: through it (POST /tx). It owns chain C there: as the producer it batches the
 *   transaction with the others, as a follower it forwards it to the network's producer (a worker, which has no
 *   ledger API, is refused);
 * - no node runs and the data dir follows a network (its node.json or $BLYAN_* say so, or its node last ran as a
 *   follower, e.g. `blyan up --bootstrap …`): refused with LEDGER_FOLLOWER_OFFLINE; a block written here would
 *   fork the network's chain C;
 * - otherwise (a single node, stopped): here, as before.
 */
export type LedgerTarget = { readonly kind: 'local' } | { readonly kind: 'node'; readonly url: string };

export function ledgerTargetOf(dataDir: string, ledgerUrl: string | undefined): LedgerTarget {
  if (ledgerUrlFrom(ledgerUrl) !== undefined) return { kind: 'local' };
  const run = readRunFile(dataDir);
  if (run !== undefined) {
    if (run.role === 'worker') {
      // A worker serves no ledger API, and writing here would race the chain C it keeps.
      throw new BlyanError('BAD_ARGUMENT', `the node running on ${dataDir} is a worker, which takes no ledger transactions: use the data dir of a full, service or seed node of the network`, { dataDir });
    }
    return { kind: 'node', url: run.url };
  }
  const why = followerReason(dataDir);
  if (why !== undefined) {
    throw new BlyanError(
      'LEDGER_FOLLOWER_OFFLINE',
      `${dataDir} follows a network's ledger producer (${why}) and no node is running on it: start it (\`blyan up --data ${dataDir}\`, with its --bootstrap peers) and run this again, or use the data dir of a running node; writing chain C here would fork the network's`,
      { dataDir },
    );
  }
  return { kind: 'local' };
}

/** Why the data dir is a follower's, or undefined when it produces (a single node). */
function followerReason(dataDir: string): string | undefined {
  // The configuration `blyan up --data DIR` would start with (node.json, $BLYAN_*), without flags.
  const config = loadNodeConfig({ data: dataDir });
  if (!ledgerProducerOf(config)) return config.ledgerProducer === 'off' ? 'its configuration says ledgerProducer: off' : 'its configuration names bootstrap peers';
  // Flags are not kept: the last run says what `blyan up` was given. An explicit `ledgerProducer: on` wins.
  if (config.ledgerProducer !== 'on' && readLedgerMode(dataDir) === 'follower') return 'its node last ran as a follower';
  return undefined;
}
