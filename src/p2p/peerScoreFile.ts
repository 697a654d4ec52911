import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomicSync } from '../atomicFile.ts';
import { MAX_PEERS, type PeerScoreRecord, type PenaltyReason } from './peerScore.ts';

/**
 * Peer scores kept across restarts (docs/sync-protocol.md §8): `<data>/p2p/peer-scores.json`, next to the peer
 * key. A JSON file rather than an LMDB database: it is a few hundred records at most, written on a ban (not on
 * every answer), read once at start, node-local (never consensus), and an operator can read or delete it. An
 * LMDB db would mean a second environment or a new sub-db in the block store for that. Written to a temporary
 * file, synced and renamed, so a crash leaves the old file or the new one; one that is unreadable anyway (a
 * disk fault, a hand edit) is ignored with a warning: losing bans must never keep a node from starting.
 */

const REASONS = ['bad-data', 'wrong-network', 'malformed', 'timeout', 'not-found', 'useless'] as const satisfies readonly PenaltyReason[];
// Every reason must be listed, or a file holding a new one would be refused as damaged.
const ALL_REASONS: Exclude<PenaltyReason, (typeof REASONS)[number]> extends never ? true : never = true;
void ALL_REASONS;
const Count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const Time = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const RecordJson = z.strictObject({
  peer: z.string().min(1).max(128),
  score: z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
  bannedUntil: Time,
  penalties: z.partialRecord(z.enum(REASONS), Count),
  penalisedAt: Time,
});
const ScoreFile = z.strictObject({ v: z.literal(1), peers: z.array(RecordJson).max(MAX_PEERS) });

/** Writes are batched: a burst of bans (a sync against several liars) costs one write. */
const SAVE_DELAY_MS = 1000;

export function peerScorePath(dataDir: string): string {
  return join(dataDir, 'p2p', 'peer-scores.json');
}

export type LoadedScores = { readonly records: PeerScoreRecord[]; readonly warning?: undefined } | { readonly records: []; readonly warning: string };

export class PeerScoreFile {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly path: string;

  /** `records` gives what to write (PeerScores.records); `onWarning` hears about a file it could not read or write. */
  constructor(
    dataDir: string,
    private readonly records: () => PeerScoreRecord[],
    private readonly onWarning: (message: string) => void,
  ) {
    this.path = peerScorePath(dataDir);
  }

  /** The records of the last run; none (and a warning) when the file is unreadable, none when there is no file. */
  load(): LoadedScores {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [] };
      return { records: [], warning: `cannot read ${this.path}: ${(err as Error).message}; starting without saved peer scores` };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      return { records: [], warning: `${this.path} is not JSON (${(err as Error).message}); starting without saved peer scores` };
    }
    const parsed = ScoreFile.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return { records: [], warning: `${this.path} is damaged (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}); starting without saved peer scores` };
    }
    return { records: parsed.data.peers };
  }

  /** Writes within SAVE_DELAY_MS (once for all the changes meanwhile). */
  saveSoon(): void {
    // A penalty that lands after stop (a delayed hang-up) must not write into a data dir that may be gone.
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.saveNow();
    }, SAVE_DELAY_MS);
    // A pending write must not keep a stopping process alive; stop() writes what is left.
    this.timer.unref();
  }

  saveNow(): void {
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      writeFileAtomicSync(this.path, `${JSON.stringify({ v: 1, peers: this.records() })}\n`, { mode: 0o600 });
    } catch (err) {
      // A full disk must not take the node down: the bans still hold in memory until it stops.
      this.onWarning(`cannot write ${this.path}: ${(err as Error).message}`);
    }
  }

  /** Cancels a pending write and writes now (the node is stopping). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.saveNow();
  }
}
