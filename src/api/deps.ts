import type { BlockStore } from '../chain/store.ts';
import type { EngineHost } from '../node/engineHost.ts';

/** What the routes may use: handed in by the node, so the API holds no state of its own. */
export interface ApiDeps {
  readonly store: BlockStore;
  readonly engine: EngineHost;
  readonly role: 'full';
  readonly bodyLimit: number;
  /** Aborted when the node shuts down: streams end at their next token. */
  readonly shutdown: AbortSignal;
}
