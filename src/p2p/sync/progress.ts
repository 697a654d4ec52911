import { CHAINS, type ChainLetter } from '../../chain/types.ts';

/**
 * Sync progress for a CLI bar or `--json`: heights per chain (what this node holds, what its peers hold),
 * payload bytes (downloaded, resumed from disk, expected), the download rate and whether the run is done.
 */
export interface SyncStatus {
  readonly heights: Readonly<Record<ChainLetter, { readonly local: number; readonly target: number }>>;
  readonly bytes: { readonly done: number; readonly resumed: number; readonly total: number };
  readonly tiles: { readonly fetched: number; readonly resumed: number; readonly failed: number };
  /** Download rate over the last few seconds, MB/s (10^6 bytes). */
  readonly mbps: number;
  /** Average download rate since the run started, MB/s. */
  readonly avgMbps: number;
  readonly running: boolean;
  readonly done: boolean;
  readonly peers: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /** Why the last run stopped short, when it did. */
  readonly error: { readonly code: string; readonly message: string } | null;
}

const WINDOW_MS = 5000;

export class SyncProgress {
  private heights = Object.fromEntries(CHAINS.map((c) => [c, { local: 0, target: 0 }])) as Record<ChainLetter, { local: number; target: number }>;
  private done = 0;
  private resumed = 0;
  private total = 0;
  private tilesFetched = 0;
  private tilesResumed = 0;
  private tilesFailed = 0;
  private samples: { t: number; bytes: number }[] = [];
  private startedAt: number | null = null;
  private finishedAt: number | null = null;
  private running = false;
  private complete = false;
  private peers = 0;
  private error: { code: string; message: string } | null = null;

  constructor(
    private readonly onChange?: (s: SyncStatus) => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.startedAt = this.now();
    this.finishedAt = null;
    this.running = true;
    this.complete = false;
    this.error = null;
    this.done = 0;
    this.resumed = 0;
    this.total = 0;
    this.tilesFetched = 0;
    this.tilesResumed = 0;
    this.tilesFailed = 0;
    this.samples = [];
    this.emit();
  }

  setHeights(local: Record<ChainLetter, number>, target: Record<ChainLetter, number>, peers: number): void {
    for (const c of CHAINS) this.heights[c] = { local: local[c], target: Math.max(target[c], local[c]) };
    this.peers = peers;
    this.emit();
  }

  addExpected(bytes: number): void {
    this.total += bytes;
    this.emit();
  }

  addFetched(bytes: number): void {
    this.done += bytes;
    this.tilesFetched++;
    const t = this.now();
    this.samples.push({ t, bytes: this.done });
    while (this.samples.length > 2 && (this.samples[0] as { t: number }).t < t - WINDOW_MS) this.samples.shift();
    this.emit();
  }

  addResumed(bytes: number): void {
    this.resumed += bytes;
    this.tilesResumed++;
    this.emit();
  }

  addFailed(): void {
    this.tilesFailed++;
  }

  finish(error?: { code: string; message: string }): void {
    this.running = false;
    this.finishedAt = this.now();
    this.complete = error === undefined;
    this.error = error ?? null;
    this.emit();
  }

  status(): SyncStatus {
    const t = this.now();
    const first = this.samples[0];
    const last = this.samples.at(-1);
    const recent = first !== undefined && last !== undefined && last.t > first.t ? (last.bytes - first.bytes) / ((t - first.t) / 1000) / 1e6 : 0;
    const elapsed = this.startedAt === null ? 0 : ((this.finishedAt ?? t) - this.startedAt) / 1000;
    return {
      heights: Object.fromEntries(CHAINS.map((c) => [c, { ...this.heights[c] }])) as SyncStatus['heights'],
      bytes: { done: this.done, resumed: this.resumed, total: this.total },
      tiles: { fetched: this.tilesFetched, resumed: this.tilesResumed, failed: this.tilesFailed },
      mbps: round2(recent),
      avgMbps: round2(elapsed > 0 ? this.done / elapsed / 1e6 : 0),
      running: this.running,
      done: this.complete,
      peers: this.peers,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      error: this.error,
    };
  }

  private emit(): void {
    this.onChange?.(this.status());
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** One line for a terminal: `sync A 3/3 B 12/20 C 1/1 D 1/1 | 12.3/40.0 MB | 85.2 MB/s`. */
export function formatProgress(s: SyncStatus): string {
  const chains = CHAINS.map((c) => `${c} ${s.heights[c].local}/${s.heights[c].target}`).join(' ');
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const state = s.running ? '' : s.done ? ' | done' : s.error !== null ? ` | stopped: ${s.error.code}` : '';
  return `sync ${chains} | ${mb(s.bytes.done + s.bytes.resumed)}/${mb(s.bytes.total)} MB | ${s.mbps.toFixed(1)} MB/s | ${s.peers} peers${state}`;
}
