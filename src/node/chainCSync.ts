import type { Ledger } from '../ledger/ledger.ts';
import type { LedgerStore } from '../ledger/ledgerStore.ts';

/**
 * With a PostgreSQL ledger, chain C lives in the database and every node process writes to it; each process
 * mirrors the blocks into its own block store (verified like any block) so /chains, the explorer and exports
 * see them. Polls, one pass at a time; a failed pass is retried on the next tick.
 */
export class ChainCSync {
  private timer: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();
  lastError: unknown;

  constructor(
    private readonly ledger: Ledger<LedgerStore>,
    intervalMs = 1000,
  ) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
    this.tick();
  }

  private tick(): void {
    this.running = this.running.then(() =>
      this.ledger.syncChain().then(
        () => {
          this.lastError = undefined;
        },
        (err: unknown) => {
          this.lastError = err;
        },
      ),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
