/**
 * Local peer scores (docs/sync-protocol.md §8). Every peer starts at 0; good answers add a little (capped),
 * failures subtract by kind. Serving data that breaks a rule (a forged header, a tile that does not verify,
 * an invalid gossiped block) or being on another network bans the peer at once: it is disconnected and
 * refused by the connection gater until the ban expires. Lesser faults ban only when they add up.
 */
export type PenaltyReason =
  /** Data that fails verification: forged or corrupt headers, tiles, gossip. */
  | 'bad-data'
  /** Another genesis or chain id. */
  | 'wrong-network'
  /** Frames that break the wire format or exceed the limits. */
  | 'malformed'
  /** No complete answer before the deadline (slow-loris included). */
  | 'timeout'
  /** Claimed to have something (a status head) and then did not serve it. */
  | 'not-found'
  /** A chain that does not extend ours (a fork we cannot switch to), or a request refused. */
  | 'useless';

const PENALTY: Record<PenaltyReason, number> = {
  'bad-data': 1000,
  'wrong-network': 1000,
  malformed: 40,
  timeout: 15,
  'not-found': 5,
  useless: 10,
};

export interface PeerScoreOptions {
  /** A peer at or below this score is banned. */
  readonly banThreshold?: number;
  readonly banMs?: number;
  readonly maxScore?: number;
  /** Called once when a peer becomes banned (disconnect it). */
  readonly onBan?: (peer: string, reason: PenaltyReason) => void;
  /** Called after every penalty: what records() returns changed (persist it; src/p2p/peerScoreFile.ts). */
  readonly onChange?: () => void;
  /** A kept record (a negative score, an expired ban) is forgotten this long after the peer's last fault. */
  readonly recordTtlMs?: number;
  /** Wall-clock milliseconds: bans and records are kept across restarts, so they run out while a node is down too. */
  readonly now?: () => number;
}

export interface PeerScoreEntry {
  readonly peer: string;
  readonly score: number;
  readonly banned: boolean;
  readonly penalties: Readonly<Partial<Record<PenaltyReason, number>>>;
}

/**
 * What survives a restart (src/p2p/peerScoreFile.ts): bans, and the faults of peers not yet banned, so neither a
 * peer that served bad data nor one whose faults were adding up starts clean when this node restarts. Positive
 * credit is not kept: a good peer earns it back in a few answers.
 */
export interface PeerScoreRecord {
  readonly peer: string;
  readonly score: number;
  /** Wall-clock ms the ban runs until; 0 when not banned. */
  readonly bannedUntil: number;
  readonly penalties: Readonly<Partial<Record<PenaltyReason, number>>>;
  /** Wall-clock ms of the peer's last penalty: the record expires recordTtlMs later. */
  readonly penalisedAt: number;
}

interface Entry {
  score: number;
  bannedUntil: number;
  penalties: Partial<Record<PenaltyReason, number>>;
  penalisedAt: number;
}

/**
 * The penalty for a failure of the exchange itself, whatever the protocol: frames that break the wire format or
 * the limits, no complete answer in time or a stream cut short. Undefined for anything else: each protocol maps
 * its own errors (sync/context.ts penaltyFor, remoteExperts.ts) and falls back on this.
 */
export function transportPenalty(code: string): PenaltyReason | undefined {
  switch (code) {
    case 'P2P_MALFORMED':
    case 'P2P_FRAME_TOO_LARGE':
      return 'malformed';
    case 'P2P_TIMEOUT':
    case 'P2P_STREAM_CLOSED':
      return 'timeout';
    default:
      return undefined;
  }
}

/** Bounded: at most this many peers are remembered; the least recently touched is forgotten first. */
export const MAX_PEERS = 4096;

export class PeerScores {
  private readonly entries = new Map<string, Entry>();
  private readonly banThreshold: number;
  private readonly banMs: number;
  private readonly maxScore: number;
  private readonly recordTtlMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: PeerScoreOptions = {}) {
    this.banThreshold = opts.banThreshold ?? -100;
    this.banMs = opts.banMs ?? 30 * 60_000;
    this.maxScore = opts.maxScore ?? 20;
    this.recordTtlMs = opts.recordTtlMs ?? 24 * 60 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  private entry(peer: string): Entry {
    let e = this.entries.get(peer);
    if (e === undefined) {
      if (this.entries.size >= MAX_PEERS) this.entries.delete(this.entries.keys().next().value as string);
      e = { score: 0, bannedUntil: 0, penalties: {}, penalisedAt: 0 };
    } else {
      this.entries.delete(peer);
    }
    this.entries.set(peer, e);
    return e;
  }

  penalise(peer: string, reason: PenaltyReason): void {
    const e = this.entry(peer);
    const wasBanned = e.bannedUntil > this.now();
    e.score -= PENALTY[reason];
    e.penalties[reason] = (e.penalties[reason] ?? 0) + 1;
    e.penalisedAt = this.now();
    if (e.score <= this.banThreshold) {
      e.bannedUntil = this.now() + this.banMs;
      if (!wasBanned) this.opts.onBan?.(peer, reason);
    }
    this.opts.onChange?.();
  }

  reward(peer: string, amount = 1): void {
    const e = this.entry(peer);
    if (e.bannedUntil > this.now()) return;
    e.score = Math.min(this.maxScore, e.score + amount);
  }

  score(peer: string): number {
    return this.entries.get(peer)?.score ?? 0;
  }

  isBanned(peer: string): boolean {
    const e = this.entries.get(peer);
    if (e === undefined || e.bannedUntil === 0) return false;
    if (e.bannedUntil > this.now()) return true;
    this.unban(e);
    return false;
  }

  /** The ban ran out: the peer may come back, from a clean slate short of its old credit. */
  private unban(e: Entry): void {
    e.bannedUntil = 0;
    e.score = Math.min(0, this.banThreshold / 2);
  }

  /** The entries worth keeping across a restart (PeerScoreRecord), least recently touched first. */
  records(): PeerScoreRecord[] {
    const now = this.now();
    const out: PeerScoreRecord[] = [];
    for (const [peer, e] of this.entries) {
      if (e.bannedUntil !== 0 && e.bannedUntil <= now) this.unban(e);
      const banned = e.bannedUntil > now;
      if (!banned && (e.score >= 0 || e.penalisedAt + this.recordTtlMs <= now)) continue;
      out.push({ peer, score: e.score, bannedUntil: e.bannedUntil, penalties: { ...e.penalties }, penalisedAt: e.penalisedAt });
    }
    return out;
  }

  /**
   * Takes back records() of an earlier run (in the order given: the last is the most recently touched). A ban
   * that ran out meanwhile is dropped as if it had run out here (the peer keeps a negative score), and a record
   * whose last fault is older than recordTtlMs is forgotten.
   */
  restore(records: readonly PeerScoreRecord[]): void {
    const now = this.now();
    for (const r of records) {
      const e: Entry = { score: Math.min(r.score, this.maxScore), bannedUntil: r.bannedUntil, penalties: { ...r.penalties }, penalisedAt: r.penalisedAt };
      if (e.bannedUntil !== 0 && e.bannedUntil <= now) this.unban(e);
      // A clock set back must not stretch a ban beyond what one fault here would give.
      e.bannedUntil = Math.min(e.bannedUntil, now + this.banMs);
      if (e.bannedUntil === 0 && (e.score >= 0 || e.penalisedAt + this.recordTtlMs <= now)) continue;
      this.entries.delete(r.peer);
      if (this.entries.size >= MAX_PEERS) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(r.peer, e);
    }
  }

  snapshot(): PeerScoreEntry[] {
    return [...this.entries].map(([peer, e]) => ({ peer, score: e.score, banned: this.isBanned(peer), penalties: { ...e.penalties } }));
  }
}
