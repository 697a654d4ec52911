import type { BlockStore } from '../chain/store.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { LedgerStore } from '../ledger/ledgerStore.ts';
import type { Billing } from '../node/billing.ts';
import type { EngineHost } from '../node/engineHost.ts';
import type { ExpertUsage } from '../node/expertUsage.ts';
import type { NodeLearning } from '../node/learning.ts';
import type { NodeRole } from '../node/config.ts';
import type { NodeKey } from '../node/nodeKey.ts';
import type { P2pService } from '../node/p2pService.ts';
import type { Credentials } from './auth/sessions.ts';
import type { SiweNonces } from './auth/siwe.ts';
import type { ApiMetrics } from './metrics.ts';

export interface RateLimitConfig {
  /** Requests per minute per IP or credential; 0 turns rate limiting off. */
  readonly perMinute: number;
  /** Chat requests (any chat endpoint) per minute per IP or credential. */
  readonly chatPerMinute: number;
}

/** What the routes may use: handed in by the node, so the API holds no state of its own. */
export interface ApiDeps {
  readonly store: BlockStore;
  /** The node's data dir (its wallets decide who is the operator). */
  readonly dataDir: string;
  readonly engine: EngineHost;
  readonly ledger: Ledger<LedgerStore>;
  readonly billing: Billing;
  readonly credentials: Credentials;
  readonly siwe: SiweNonces;
  readonly usage: ExpertUsage;
  readonly nodeKey: NodeKey;
  readonly metrics: ApiMetrics;
  /** Datasets, mining jobs and Proof-of-Learning records (routes/datasets.ts, mine.ts, pol.ts). */
  readonly learning: NodeLearning;
  readonly role: NodeRole;
  /** The node on the peer-to-peer network; undefined when started without it. */
  readonly p2p: P2pService | undefined;
  readonly bodyLimit: number;
  readonly rateLimit: RateLimitConfig;
  /** pino log level, or false for no request logs (tests, benches). */
  readonly logLevel: string | false;
  /** Aborted when the node shuts down: streams end at their next token. */
  readonly shutdown: AbortSignal;
}
