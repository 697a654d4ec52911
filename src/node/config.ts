import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { resolveDataDir } from '../cli/dataDir.ts';
import { BlyanError } from '../errors.ts';

/** Flags and env give lists as comma-separated text; a config file may give a JSON array. */
function commaList(v: unknown): unknown {
  return typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter((x) => x !== '') : v;
}

/** Switches: on/off, true/false, 1/0 (flags, env and files alike). */
function toBool(v: unknown): unknown {
  return v === 'off' || v === 'false' || v === '0' ? false : v === 'on' || v === 'true' || v === '1' ? true : v;
}

/**
 * The node's configuration. Each field comes from the first of: a command-line flag, an environment
 * variable (ENV_KEYS below), the config file
 * (`--config FILE`, else `<data>/node.json` when present), the default. Every value is validated by zod.
 */
export const NodeConfig = z.strictObject({
  dataDir: z.string().min(1),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(7777),
  /**
   * full: everything (chain, API and UI, chat, mining); service: answers users (no mining); seed: serves the
   * chain to peers and its read API; worker: hosts experts for service nodes (docs/api.md "Roles").
   */
  role: z.enum(['full', 'service', 'worker', 'seed']).default('full'),
  /** Join the peer-to-peer network (libp2p on `host`, port `p2pPort`; 0 = any free port). */
  p2p: z.preprocess(toBool, z.boolean()).default(true),
  p2pPort: z.coerce.number().int().min(0).max(65535).default(0),
  /** Seed multiaddrs (…/p2p/<peer id>) to join through, comma-separated from flags and env. */
  bootstrap: z.preprocess(commaList, z.array(z.string().min(1).max(512)).max(64)).default([]),
  /**
   * A worker's routed experts (`layer{L}.expert{E}`, comma-separated from flags and env): it syncs and hosts
   * only these (plus chain A and what they depend on). Absent: a worker hosts every expert it holds.
   */
  experts: z.preprocess(commaList, z.array(z.string().regex(/^layer\d{1,4}\.expert\d{1,6}$/, 'must name experts as layer{L}.expert{E}')).min(1).max(65_536)).optional(),
  /** NAT traversal (docs/sync-protocol.md §1.1): addresses to announce instead of the listening ones. */
  announce: z.preprocess(commaList, z.array(z.string().min(1).max(512)).max(16)).default([]),
  /** Relay connections for peers that cannot be dialled (circuit relay v2 server, no data or time limit). */
  relayServer: z.preprocess(toBool, z.boolean()).default(false),
  /** Be reachable through relays (reservations on connected relays) and hole punching (DCUtR). */
  relay: z.preprocess(toBool, z.boolean()).default(false),
  /** Learn which of our addresses are reachable from outside (AutoNAT). */
  autonat: z.preprocess(toBool, z.boolean()).default(false),
  /** Ask the gateway to forward the p2p port (UPnP / NAT-PMP). */
  upnp: z.preprocess(toBool, z.boolean()).default(false),
  /**
   * TCP port of the bulk channel that serves chain tiles to syncing peers (docs/sync-protocol.md §6.1), on the
   * p2p listen address: 0 (default) any free port, "off" none (tiles then go only over libp2p).
   */
  bulkPort: z.preprocess((v) => (v === 'off' || v === false ? -1 : v), z.coerce.number().int().min(-1).max(65_535)).default(0),
  /** Largest request body in bytes. */
  bodyLimit: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /** Expert cache budget of the engine, in MiB. */
  cacheMb: z.coerce.number().int().min(1).max(1 << 20).default(2048),
  /** Chat requests that may wait for the engine before new ones get 503. */
  maxQueuedChats: z.coerce.number().int().min(0).max(1000).default(16),
  /** API requests per minute per IP or credential (0 = no limit), and chat requests among them. */
  rateLimitPerMinute: z.coerce.number().int().min(0).max(10_000_000).default(1200),
  chatRateLimitPerMinute: z.coerce.number().int().min(1).max(10_000_000).default(120),
  /** Free answers per UTC day for callers without an address (per IP); signed-in callers get their trust level's quota. */
  anonymousDailyQuota: z.coerce.number().int().min(0).max(1_000_000).default(20),
  /** A PostgreSQL ledger shared with other node processes (postgres://…); absent: the data dir's own ledger. */
  ledgerUrl: z.string().max(2048).regex(/^postgres(ql)?:\/\/\S+$/, 'must be postgres://user@host:port/database').optional(),
  /**
   * Whether this node produces chain C (docs/ledger.md §9.4). Absent (auto): a node that starts a network (no
   * bootstrap, or no p2p) or writes a PostgreSQL ledger produces; a node that joins one follows. See ledgerProducerOf.
   */
  ledgerProducer: z.preprocess((v) => (v === true || v === 'true' || v === '1' ? 'on' : v === false || v === 'false' || v === '0' ? 'off' : v), z.enum(['on', 'off', 'auto'])).optional(),
  /** How long a follower waits for the producer's block holding a transaction it forwarded (default 15 s). */
  ledgerTimeoutSeconds: z.coerce.number().min(0.1).max(600).optional(),
  /** pino JSON request logs on stderr. */
  logLevel: z.enum(['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});
export type NodeConfig = z.infer<typeof NodeConfig>;
export type NodeRole = NodeConfig['role'];

export interface NodeFlags {
  data?: string | undefined;
  host?: string | undefined;
  port?: string | undefined;
  role?: string | undefined;
  config?: string | undefined;
  ledgerUrl?: string | undefined;
  p2pPort?: string | undefined;
  bootstrap?: string | undefined;
  p2p?: boolean | undefined;
  ledgerProducer?: string | undefined;
  experts?: string | undefined;
  announce?: string | undefined;
  relayServer?: boolean | undefined;
  relay?: boolean | undefined;
  autonat?: boolean | undefined;
  upnp?: boolean | undefined;
  bulkPort?: string | undefined;
}

const ENV_KEYS = {
  host: 'BLYAN_HOST',
  port: 'BLYAN_PORT',
  role: 'BLYAN_ROLE',
  bodyLimit: 'BLYAN_BODY_LIMIT',
  cacheMb: 'BLYAN_CACHE_MB',
  rateLimitPerMinute: 'BLYAN_RATE_LIMIT',
  chatRateLimitPerMinute: 'BLYAN_CHAT_RATE_LIMIT',
  anonymousDailyQuota: 'BLYAN_ANON_DAILY_QUOTA',
  logLevel: 'BLYAN_LOG_LEVEL',
  ledgerUrl: 'BLYAN_LEDGER_URL',
  ledgerProducer: 'BLYAN_LEDGER_PRODUCER',
  ledgerTimeoutSeconds: 'BLYAN_LEDGER_TIMEOUT',
  p2p: 'BLYAN_P2P',
  p2pPort: 'BLYAN_P2P_PORT',
  bootstrap: 'BLYAN_BOOTSTRAP',
  experts: 'BLYAN_EXPERTS',
  announce: 'BLYAN_ANNOUNCE',
  relayServer: 'BLYAN_RELAY_SERVER',
  relay: 'BLYAN_RELAY',
  autonat: 'BLYAN_AUTONAT',
  upnp: 'BLYAN_UPNP',
  bulkPort: 'BLYAN_BULK_PORT',
} as const;

function readConfigFile(path: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new BlyanError('BAD_ARGUMENT', `config file ${path} is not readable JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BlyanError('BAD_ARGUMENT', `config file ${path} must hold a JSON object`);
  return raw as Record<string, unknown>;
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ''));
}

export function loadNodeConfig(flags: NodeFlags, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const dataDir = resolveDataDir(flags.data);
  const filePath = flags.config !== undefined ? resolve(flags.config) : join(dataDir, 'node.json');
  const file = flags.config !== undefined || existsSync(filePath) ? readConfigFile(filePath) : {};
  const fromEnv = defined(Object.fromEntries(Object.entries(ENV_KEYS).map(([k, name]) => [k, env[name]])));
  const fromFlags = defined({ host: flags.host, port: flags.port, role: flags.role, ledgerUrl: flags.ledgerUrl, p2pPort: flags.p2pPort, bootstrap: flags.bootstrap, ledgerProducer: flags.ledgerProducer, experts: flags.experts, announce: flags.announce, relayServer: flags.relayServer, relay: flags.relay, autonat: flags.autonat, upnp: flags.upnp, bulkPort: flags.bulkPort, ...(flags.p2p === false ? { p2p: false } : {}) });
  const parsed = NodeConfig.safeParse({ ...file, ...fromEnv, ...fromFlags, dataDir });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BlyanError('BAD_ARGUMENT', `node config: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  ledgerProducerOf(parsed.data);
  if (parsed.data.experts !== undefined && parsed.data.role !== 'worker') {
    throw new BlyanError('BAD_ARGUMENT', `node config: experts: only a worker hosts a chosen set of experts; add --role worker or drop --experts`);
  }
  return parsed.data;
}

/** Default of ledgerTimeoutSeconds. */
export const LEDGER_TIMEOUT_SECONDS = 15;

/** The ledger producer chain A names now (null: none named), and this node's own address (its node key's). */
export interface NamedProducer {
  readonly named: string | null;
  readonly self: string;
}

/** Whether the node could follow another producer: a follower reaches it over the network and keeps an LMDB ledger. */
export function canFollow(c: Pick<NodeConfig, 'ledgerUrl' | 'p2p'>): boolean {
  return c.ledgerUrl === undefined && c.p2p;
}

/**
 * Whether the node produces chain C (docs/ledger.md §9.4): `on`/`off` as configured, else (auto) it produces when
 * chain A names it the producer and follows when chain A names another; with none named, it produces when it
 * starts a network (no bootstrap peers, or no p2p) or when its ledger is PostgreSQL (the processes sharing the
 * database produce together, ordered by its lock), and follows when it joins one. BAD_ARGUMENT for what cannot
 * work: a follower needs the network to reach the producer and an LMDB ledger to apply its blocks.
 */
export function ledgerProducerOf(c: Pick<NodeConfig, 'ledgerProducer' | 'ledgerUrl' | 'p2p' | 'bootstrap'>, chain?: NamedProducer): boolean {
  const mode = c.ledgerProducer ?? 'auto';
  // A named producer decides, where following is possible (the network, an LMDB ledger); elsewhere a node that is
  // not the named one still produces, and its ledger refuses every batch (LEDGER_NOT_PRODUCER) instead of forking.
  const named = chain?.named !== null && chain?.named !== undefined && canFollow(c) ? chain.named.toLowerCase() === chain.self.toLowerCase() : undefined;
  const producer = mode === 'auto' ? (named ?? (!canFollow(c) || c.bootstrap.length === 0)) : mode === 'on';
  if (!producer && c.ledgerUrl !== undefined) {
    throw new BlyanError('BAD_ARGUMENT', 'node config: ledgerProducer: off needs the data dir\'s own ledger; the processes on a PostgreSQL ledger (ledgerUrl) produce chain C together');
  }
  if (!producer && !c.p2p) {
    throw new BlyanError('BAD_ARGUMENT', 'node config: ledgerProducer: off needs the peer-to-peer network (a follower forwards transactions to the producer); drop --no-p2p or produce');
  }
  return producer;
}
