import type { BlockStore } from '../chain/store.ts';
import type { FollowerOptions } from '../ledger/follower.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { LedgerStore } from '../ledger/ledgerStore.ts';
import { type ParamsSchedule, paramsScheduleOf } from '../ledger/paramsSchedule.ts';
import type { Hex20 } from '../ledger/systemAccounts.ts';

/**
 * A running node in automatic ledger mode follows chain A's choice of producer (docs/ledger.md §9.4), not only at
 * start: when a `params` block hands production over, the node named stops following and produces, and the node
 * that produced follows, at the time the block set — without a restart.
 *
 * The old producer refuses to build a block timed at or after the hand-over (rule C1) and, from then on, forwards
 * what it is given. The new one waits `graceMs` past the hand-over before it produces, so that the old producer's
 * last blocks (timed before it) have reached it: its first block must extend them. A producer whose clock runs
 * behind by more than that could still time a block before the hand-over after the new one has built on the same
 * parent, which each node then resolves by the block it saw first (a fork of chain C); the grace is the bound
 * on the clock error this tolerates.
 */
export type LedgerRole = 'producer' | 'follower';

/** How long the node named producer waits past the hand-over before its first block (see above). */
export const LEDGER_HANDOVER_GRACE_MS = 5_000;

/**
 * The role chain A gives `self` at `now`, for a node now in role `current`, or undefined when it names nobody
 * (the role chosen at start stays). Following starts at once. A follower named the producer starts producing
 * `graceMs` after the time the naming took effect; a node already producing when it is named (it produced before
 * anyone was named, or was named again) goes on, as nobody else's blocks can be in flight.
 */
export function ledgerRoleAt(schedule: ParamsSchedule, now: number, self: Hex20, graceMs: number, current: LedgerRole): LedgerRole | undefined {
  const entry = schedule.entryAt(now);
  const named = entry.params.producer;
  if (named === null) return undefined;
  if (named !== self) return 'follower';
  if (current === 'producer') return 'producer';
  // Named since entry.activeFrom, or earlier if the entries before it named self too (no hand-over then).
  let since = entry.activeFrom;
  for (let i = schedule.entries.indexOf(entry) - 1; i >= 0; i--) {
    const e = schedule.entries[i];
    if (e === undefined || e.params.producer !== self) break;
    since = e.activeFrom;
  }
  return now >= since + graceMs ? 'producer' : 'follower';
}

export interface LedgerRoleWatchOptions {
  readonly store: BlockStore;
  readonly ledger: Ledger<LedgerStore>;
  /** This node's address (its node key: the author of the blocks it produces). */
  readonly self: Hex20;
  /** How the ledger follows when it does (the node's transaction relay). */
  readonly follow: FollowerOptions;
  readonly graceMs: number;
  /** Called after each switch (the node records its mode, logs it). */
  readonly onSwitch: (role: LedgerRole) => void;
  readonly intervalMs?: number;
  readonly now?: () => number;
}

/** Checks chain A's producer once a second (the schedule is cached until chain A grows) and switches the ledger. */
export class LedgerRoleWatch {
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly opts: LedgerRoleWatchOptions) {
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => {
      try {
        this.check();
      } catch {
        // A read of chain A that failed (the store busy or closing): the next tick tries again; never the process.
      }
    }, opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Applies the role chain A gives now; returns it (undefined: nobody named, nothing changed). */
  check(): LedgerRole | undefined {
    const { ledger } = this.opts;
    const current: LedgerRole = ledger.mode === 'follower' ? 'follower' : 'producer';
    const role = ledgerRoleAt(paramsScheduleOf(this.opts.store, ledger.params), this.now(), this.opts.self, this.opts.graceMs, current);
    if (role === undefined) return undefined;
    if (role === current) return role;
    if (role === 'producer') ledger.produce();
    else ledger.follow(this.opts.follow);
    this.opts.onSwitch(role);
    return role;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
