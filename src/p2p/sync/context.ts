import type { PeerId } from '@libp2p/interface';
import type { BlockStore } from '../../chain/store.ts';
import { isBlyanError } from '../../errors.ts';
import type { Host } from '../host.ts';
import { type PenaltyReason, transportPenalty } from '../peerScore.ts';
import type { StatusMessage } from '../protocols/status.ts';
import type { TileTarget } from '../protocols/tiles.ts';
import type { SyncProgress } from './progress.ts';
import type { SyncState } from './syncState.ts';

/** A connected peer on our network, with the status it last told us. */
export interface SyncPeer {
  readonly id: string;
  readonly peerId: PeerId;
  readonly status: StatusMessage;
}

export interface SyncTimeouts {
  /** Whole status exchange. */
  readonly statusMs: number;
  /** Whole headers exchange (up to 512 records, ≤ 4 MiB). */
  readonly headersMs: number;
  /** Whole tile exchange (≤ 4 MiB): 30 s is a floor of about 140 KB/s. */
  readonly tileMs: number;
  /** Responder side: reading a request, then again writing the response. */
  readonly serveMs: number;
}

export const DEFAULT_TIMEOUTS: SyncTimeouts = { statusMs: 10_000, headersMs: 20_000, tileMs: 30_000, serveMs: 30_000 };

export interface SyncTuning {
  /** Headers fetched per chain per round before payloads are fetched and blocks appended. */
  readonly headerWindow: number;
  /** Tile requests in flight to one peer. */
  readonly tilesPerPeer: number;
  /**
   * Most payload bytes held in memory while their tiles arrive (at least one payload is always admitted); the
   * window in use is twice what the connected peers can have in flight, up to this.
   */
  readonly memoryBudget: number;
  /**
   * A verified tile of a multi-tile payload is written to the sync side database (for a restart to resume
   * from) once it has waited this long for the rest of its payload; a payload finished sooner is written
   * only once, by its append. 0 keeps every tile at once. A run that stops short keeps its tiles at once.
   */
  readonly keepTilesAfterMs: number;
}

export const DEFAULT_TUNING: SyncTuning = { headerWindow: 4096, tilesPerPeer: 4, memoryBudget: 256 * 1024 * 1024, keepTilesAfterMs: 2000 };

/** Which chain-B components to sync; everything when absent. */
export interface SyncFilter {
  /** Routed experts to keep, e.g. `layer3.expert7`. Model-wide parts (base, routers, shared) are always kept. */
  readonly experts: ReadonlySet<string>;
}

/** What a sync run needs from the node. */
export interface SyncContext {
  readonly libp2p: Host;
  readonly store: BlockStore;
  readonly state: SyncState;
  readonly timeouts: SyncTimeouts;
  readonly tuning: SyncTuning;
  readonly progress: SyncProgress;
  readonly filter: SyncFilter | undefined;
  /** Connected peers on our network that are not banned, with a fresh status. */
  readonly refreshPeers: () => Promise<SyncPeer[]>;
  /** Connected, not banned, status known (no network traffic). */
  readonly currentPeers: () => SyncPeer[];
  readonly isBanned: (peer: string) => boolean;
  readonly penalise: (peer: string, reason: PenaltyReason, err: unknown) => void;
  readonly reward: (peer: string) => void;
  /**
   * Fetches one tile into `into` and checks it (requestTileInto's contract): over the bulk channel when the peer
   * offers one, else, or when that fails, over `/blyan/tile/1`.
   */
  readonly fetchTile: (peer: PeerId, target: TileTarget, index: number, timeoutMs: number, into: Uint8Array) => Promise<void>;
  /** Observability hook: tile requests, verification failures (tests count tile requests with it). */
  readonly onEvent: (event: SyncEvent) => void;
}

export type SyncEvent =
  | { readonly type: 'tile-request'; readonly peer: string; readonly payload: string; readonly index: number }
  | { readonly type: 'tile-stored'; readonly payload: string; readonly index: number; readonly bytes: number }
  | { readonly type: 'tile-resumed'; readonly payload: string; readonly index: number; readonly bytes: number }
  | { readonly type: 'tile-failed'; readonly peer: string; readonly payload: string; readonly index: number; readonly code: string }
  | { readonly type: 'headers'; readonly peer: string; readonly chain: string; readonly from: number; readonly count: number }
  | { readonly type: 'rejected'; readonly peer: string; readonly code: string; readonly message: string }
  | { readonly type: 'appended'; readonly blocks: number; readonly bytes: number };

/** How much a failed exchange should cost the peer (undefined: not the peer's fault). */
export function penaltyFor(err: unknown): PenaltyReason | undefined {
  if (!isBlyanError(err)) return undefined;
  switch (err.code) {
    case 'P2P_BAD_DATA':
      return 'bad-data';
    case 'P2P_WRONG_GENESIS':
      return 'wrong-network';
    case 'P2P_REMOTE_ERROR':
      return err.data['remote'] === 'NOT_FOUND' ? 'not-found' : 'useless';
    case 'BLOCK_FUTURE_TIME':
      // The author's clock, or ours, may be off: not proof that the peer is lying.
      return 'useless';
    case 'LEDGER_BLOCK_INVALID':
    case 'LEDGER_NOT_PRODUCER':
      // A chain-C block that breaks a ledger rule against the state at its parent (src/ledger/blockGate.ts).
      return 'bad-data';
    default:
      // A block-rule failure (BLOCK_*) in what the peer served.
      return err.code.startsWith('BLOCK_') ? 'bad-data' : transportPenalty(err.code);
  }
}
