import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../api/server.ts';
import type { BlockStore } from '../chain/store.ts';
import { openStore } from '../cli/openStore.ts';
import { canFollow, LEDGER_TIMEOUT_SECONDS, ledgerProducerOf, type NodeConfig } from './config.ts';
import { Credentials } from '../api/auth/sessions.ts';
import { SiweNonces } from '../api/auth/siwe.ts';
import { ApiMetrics } from '../api/metrics.ts';
import type { Ledger } from '../ledger/ledger.ts';
import type { LedgerStore } from '../ledger/ledgerStore.ts';
import { closeLedger, openLedger } from '../ledger/openLedger.ts';
import { paramsScheduleOf } from '../ledger/paramsSchedule.ts';
import { Billing } from './billing.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import type { LoadOptions } from '../engine/moe.ts';
import { EngineHost } from './engineHost.ts';
import { ExpertUsage } from './expertUsage.ts';
import { ChainCSync } from './chainCSync.ts';
import { loadOrCreateNodeKey } from './nodeKey.ts';
import { P2pService } from './p2pService.ts';
import { removeRunFile, writeRunFile } from './runFile.ts';
import { writeLedgerMode } from './ledgerMode.ts';
import { LEDGER_HANDOVER_GRACE_MS, LedgerRoleWatch } from './ledgerRole.ts';
import { createLearning, type NodeLearning } from './learning.ts';

/**
 * A running Blyan node: the block store, the engine (loaded on the first chat) and the HTTP API.
 * start() brings them up in that order; stop() takes them down in reverse and is safe to call twice.
 */
export class BlyanNode {
  private stopped: Promise<void> | undefined;

  private constructor(
    readonly config: NodeConfig,
    readonly store: BlockStore,
    readonly engine: EngineHost,
    private readonly server: FastifyInstance,
    private readonly shutdown: AbortController,
    readonly learning: NodeLearning,
    readonly ledger: Ledger<LedgerStore>,
    private readonly chainSync: ChainCSync | undefined,
    readonly p2p: P2pService | undefined,
    private readonly roleWatch: LedgerRoleWatch | undefined,
  ) {}

  static async start(config: NodeConfig): Promise<BlyanNode> {
    const store = openStore(config.dataDir);
    // A service node runs routed experts on workers once it knows some (set when the network is up).
    let runnerFor: ((entry: ModelEntry) => LoadOptions['runner']) | undefined;
    const engine = new EngineHost(store, { cacheBytes: config.cacheMb * 1024 * 1024, maxQueued: config.maxQueuedChats, runnerFor: (e) => runnerFor?.(e) });
    const shutdown = new AbortController();
    let server: FastifyInstance | undefined;
    let learning: NodeLearning | undefined;
    let ledger: Ledger<LedgerStore> | undefined;
    let chainSync: ChainCSync | undefined;
    let p2p: P2pService | undefined;
    let roleWatch: LedgerRoleWatch | undefined;
    try {
      const nodeKey = loadOrCreateNodeKey(config.dataDir);
      // One node of a network produces chain C (batched transactions, signed with its node key); the others
      // follow: they forward transactions to it and apply its blocks (docs/ledger.md §9.4).
      const producer = ledgerProducerOf(config, { named: paramsScheduleOf(store).at(Date.now()).producer, self: nodeKey.address });
      // In automatic mode on a network, the role follows chain A while the node runs (a hand-over is a params
      // block, src/node/ledgerRole.ts), so a follower keeps its producer key for the day it is named.
      const autoRole = (config.ledgerProducer ?? 'auto') === 'auto' && canFollow(config);
      ledger = await openLedger(store, { url: config.ledgerUrl, ...(producer || autoRole ? { producerKey: nodeKey.privateKey } : {}) });
      const led = ledger;
      // A chain-C block from the network (gossip, sync) is stored only if it keeps the ledger's rules against the
      // state at its parent (docs/ledger.md §9.4): an invalid producer block is refused, not a stopped ledger. On
      // PostgreSQL chain C comes from the database only.
      ledger.guardAppends();
      // On a shared PostgreSQL ledger other processes add chain-C blocks: mirror them into this store.
      if (ledger.store.kind === 'postgres') chainSync = new ChainCSync(ledger);
      const billing = new Billing(ledger, nodeKey, { anonymousDailyQuota: config.anonymousDailyQuota });
      learning = createLearning(store, config.dataDir);
      if (config.p2p) {
        p2p = await P2pService.start({
          store,
          dataDir: config.dataDir,
          host: config.host,
          port: config.p2pPort,
          bootstrap: config.bootstrap,
          ...(config.role === 'worker' ? { hostExperts: config.experts ?? ('all' as const) } : {}),
          ...(config.experts === undefined ? {} : { experts: config.experts }),
          nat: { announce: config.announce, relayServer: config.relayServer, relayClient: config.relay, autoNat: config.autonat, upnp: config.upnp },
          bulkPort: config.bulkPort,
          onTx: (tx, txId) => led.gossipTx(tx, txId),
          onBlock: () => led.poke(),
        });
        const net = p2p;
        const follow = { relay: net.txRelay(), timeoutMs: (config.ledgerTimeoutSeconds ?? LEDGER_TIMEOUT_SECONDS) * 1000 };
        led.onCommit(() => net.announceNow());
        if (!producer) led.follow(follow);
        if (autoRole) {
          const dataDir = config.dataDir;
          roleWatch = new LedgerRoleWatch({
            store,
            ledger: led,
            self: nodeKey.address,
            follow,
            graceMs: LEDGER_HANDOVER_GRACE_MS,
            // Kept for the CLI (src/cli/ledgerTarget.ts), as at start.
            onSwitch: (role) => writeLedgerMode(dataDir, role),
          });
        }
        if (config.role === 'service') runnerFor = (e) => net.runnerFor(e);
      }
      server = await buildServer({
        store,
        dataDir: config.dataDir,
        engine,
        ledger,
        billing,
        credentials: new Credentials(store),
        siwe: new SiweNonces(),
        usage: new ExpertUsage(store),
        nodeKey,
        metrics: new ApiMetrics(store, engine),
        learning,
        role: config.role,
        p2p,
        bodyLimit: config.bodyLimit,
        rateLimit: { perMinute: config.rateLimitPerMinute, chatPerMinute: config.chatRateLimitPerMinute },
        logLevel: config.logLevel === 'silent' ? false : config.logLevel,
        shutdown: shutdown.signal,
      });
      await server.listen({ host: config.host, port: config.port });
    } catch (err) {
      shutdown.abort();
      roleWatch?.stop();
      await learning?.jobs.close().catch(() => undefined);
      await server?.close().catch(() => undefined);
      await chainSync?.stop();
      await p2p?.stop().catch(() => undefined);
      if (ledger !== undefined) await closeLedger(ledger).catch(() => undefined);
      await engine.close();
      await store.close();
      throw err;
    }
    const node = new BlyanNode(config, store, engine, server, shutdown, learning, ledger, chainSync, p2p, roleWatch);
    writeRunFile(config.dataDir, { url: node.url, pid: process.pid, role: config.role, peerId: p2p?.p2p.peerId ?? null, multiaddrs: p2p?.p2p.multiaddrs() ?? [] });
    // Kept after the node stops: ledger CLI commands refuse to write chain C on a follower's data dir (src/cli/ledgerTarget.ts).
    writeLedgerMode(config.dataDir, ledger.mode === 'follower' ? 'follower' : 'producer');
    return node;
  }

  /** The actual address (the port is chosen by the OS when configured as 0). */
  get url(): string {
    const addr = this.server.server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return `http://${host}:${addr.port}`;
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      // Stop accepting, end running generations at their next token, let responses finish, then close.
      this.shutdown.abort();
      // A mining job is cancelled (its worker writes to the store, so it must end before the store closes).
      await this.learning.jobs.close();
      removeRunFile(this.config.dataDir);
      await this.server.close();
      this.roleWatch?.stop();
      await this.p2p?.stop();
      await this.chainSync?.stop();
      await closeLedger(this.ledger);
      await this.engine.close();
      await this.store.close();
    })();
    return this.stopped;
  }

  /** Stops the node on SIGTERM or SIGINT; resolves once it has stopped. */
  untilSignal(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onSignal = () => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        this.stop().then(resolve, reject);
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    });
  }
}
