import './polyfill.ts';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import type { ExpertRunner } from '../engine/expertRunner.ts';
import { loadKernels } from '../engine/kernels/index.ts';
import type { Kernels } from '../engine/kernels/types.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import { BlyanError, isBlyanError } from '../errors.ts';
import type { AnyTx } from '../ledger/tx.ts';
import { encodeBatch } from '../ledger/txCodec.ts';
import { EXPERT_PROTOCOL, type ExpertServerStats, ExpertServer, expertLimits, type HostedExpert, HostedExperts } from './expertRpc.ts';
import { Gossip, GOSSIP_MAX_BYTES, type GossipEvent, type GossipVerdict, TX_MESSAGE_MAX } from './gossip.ts';
import { createHost, type Host, type NatOptions } from './host.ts';
import { loadOrCreatePeerKey } from './peerId.ts';
import { type PeerScoreEntry, PeerScores, type PenaltyReason } from './peerScore.ts';
import { PeerScoreFile } from './peerScoreFile.ts';
import { HEADERS_LIMITS, HEADERS_PROTOCOL, handleHeaders } from './protocols/headers.ts';
import { RpcError, serveRpc } from './protocols/rpc.ts';
import { RpcSessions, type SessionServeOptions, serveSession, serveSessionStream } from './protocols/rpcSession.ts';
import { type HeadsJson, handleStatus, headsJson, localStatus, requestStatus, STATUS_LIMITS, STATUS_PROTOCOL, type StatusMessage } from './protocols/status.ts';
import { handleTile, LeafCache, requestTileInto, TILE_LIMITS, TILE_PROTOCOL } from './protocols/tiles.ts';
import { BULK_LIMITS, BULK_PROTOCOL, decodeBulkRequest, encodeBulkTicket } from './protocols/bulk.ts';
import { BulkClient } from './direct/bulkClient.ts';
import { DirectServer } from './direct/directServer.ts';
import { DirectSessions, type DirectSessionStats } from './direct/directSessions.ts';
import { DIRECT_LIMITS, DIRECT_PROTOCOL, decodeDirectRequest, encodeDirectTicket } from './protocols/direct.ts';
import { handleTx, pushTx, TX_PROTOCOL, txLimits } from './protocols/txPush.ts';
import { DEFAULT_TIMEOUTS, DEFAULT_TUNING, penaltyFor, type SyncContext, type SyncEvent, type SyncPeer, type SyncTimeouts, type SyncTuning } from './sync/context.ts';
import { syncPayloads } from './sync/payloadSync.ts';
import { SyncProgress, type SyncStatus } from './sync/progress.ts';
import { blameLedgerRefusal, runSync, type SyncResult } from './sync/syncer.ts';
import { SyncState } from './sync/syncState.ts';
import { type RemoteExpertEvent, RemoteExpertRunner, type RemoteRunnerOptions } from './remoteExperts.ts';
import { ExpertAnnouncer, type RegistryEvent, type WorkerView, WorkerRegistry } from './workerRegistry.ts';

/**
 * A node's presence on the network: the libp2p host, the request/response protocols (status, headers, tiles, tx), chain sync,
 * gossip and peer scores, behind one small API (`startP2p`). The caller owns the store; stop() leaves it open.
 */
export interface StartP2pOptions {
  readonly store: BlockStore;
  /** The node's data dir: the peer key lives in `<dataDir>/p2p/peer-key`. */
  readonly dataDir: string;
  /** Listen multiaddrs; default `/ip4/127.0.0.1/tcp/0` (loopback, any free port). */
  readonly listen?: readonly string[];
  /** Seed multiaddrs including `/p2p/<peer id>`; dialled at start. */
  readonly bootstrap?: readonly string[];
  /** Connection limit (default 64). */
  readonly maxConnections?: number;
  /** NAT traversal: announced addresses, circuit relay (server, client + hole punching), AutoNAT, UPnP. */
  readonly nat?: NatOptions;
  /** Sync only these routed experts of chain B (plus chain A, model-wide parts, and their deps). */
  readonly experts?: readonly string[];
  /** Start a sync by itself when a peer turns out to be ahead or gossip shows a gap (default true). */
  readonly autoSync?: boolean;
  /**
   * The bulk channel (docs/sync-protocol.md §6.1): tiles over plain TCP on this port (0: any free port) of the
   * listen address, to peers holding a ticket; false: none (tiles only over libp2p). Default: on, any port.
   */
  readonly bulk?: false | { readonly port: number };
  /** Peer ids this node never connects with, either way (an operator's blocklist). */
  readonly denyPeers?: readonly string[];
  /** Milliseconds between status refreshes with connected peers (default 5000); only with autoSync. */
  readonly statusRefreshMs?: number;
  readonly timeouts?: Partial<SyncTimeouts>;
  readonly tuning?: Partial<SyncTuning>;
  /** Every progress change of the main sync (a CLI bar redraws from it). */
  readonly onProgress?: (status: SyncStatus) => void;
  /** Protocol events: tile requests, rejections, gossip verdicts, penalties (logs, tests, metrics). */
  readonly onEvent?: (event: P2pEvent) => void;
  /** Mempool hook for gossiped transactions (signature and domain already verified). */
  readonly onTx?: (tx: AnyTx, txId: string, from: string) => GossipVerdict;
  /**
   * Be an expert worker (docs/expert-rpc.md): the routed experts (`layer{L}.expert{E}`) to host, or 'all'.
   * Of those, the current versions whose blocks and payloads are in the store and hash right are hosted.
   */
  readonly hostExperts?: readonly string[] | 'all';
  /** Serve `/blyan/expert/2` for the hosted experts and announce them (default true when hostExperts is set). */
  readonly serveExperts?: boolean;
  /** Kernels that run hosted experts (default: loaded on the first request and closed by stop()). */
  readonly kernels?: Kernels;
  readonly expertRpc?: Partial<ExpertRpcTuning>;
}

export interface ExpertRpcTuning {
  /** Worker heartbeat period; a worker unheard of for three periods is not routed to. */
  readonly heartbeatMs: number;
  /** Worker side: deadline to read a request, then again to compute and write the answer. */
  readonly serveMs: number;
  /** Worker side: byte budget of the cache of loaded expert weights. */
  readonly cacheBytes: number;
  /** Service side: a worker whose RPC failed is skipped this long. */
  readonly downMs: number;
}

/** A worker ends an expert session after this long without a request (requesters close theirs after 30 s). */
const SESSION_IDLE_SERVE_MS = 120_000;
/** Peers a transaction is pushed to directly when gossip did not carry it: enough that one slow peer does not matter. */
const TX_PUSH_FANOUT = 3;
/** How often, and with how many connected peers, status is exchanged again (anti-entropy; docs/sync-protocol.md §7). */
const STATUS_REFRESH_MS = 5_000;
const STATUS_REFRESH_PEERS = 3;

export const DEFAULT_EXPERT_RPC: ExpertRpcTuning = { heartbeatMs: 10_000, serveMs: 30_000, cacheBytes: 1024 * 1024 * 1024, downMs: 15_000 };

export type P2pEvent =
  | SyncEvent
  | GossipEvent
  | { readonly type: 'peer-status'; readonly peer: string; readonly heads: HeadsJson }
  | { readonly type: 'penalty'; readonly peer: string; readonly reason: PenaltyReason; readonly code: string; readonly message: string }
  | { readonly type: 'ban'; readonly peer: string; readonly reason: PenaltyReason }
  /** The saved peer scores (`<data>/p2p/peer-scores.json`) could not be read or written; the node carries on. */
  | { readonly type: 'peer-scores-warning'; readonly message: string }
  | { readonly type: 'served'; readonly protocol: string; readonly peer: string; readonly bytes: number }
  | RegistryEvent
  | RemoteExpertEvent
  | { readonly type: 'experts-announced'; readonly experts: number; readonly recipients: number }
  | { readonly type: 'experts-provided'; readonly experts: number }
  | { readonly type: 'experts-served'; readonly peer: string; readonly jobs: number; readonly rows: number };

export interface ServedCounters {
  status: number;
  headers: number;
  tiles: number;
  tileBytes: number;
  refused: number;
}

export interface P2pStatus {
  readonly peerId: string;
  readonly multiaddrs: string[];
  readonly peers: { readonly id: string; readonly heads: HeadsJson; readonly score: number }[];
  readonly scores: PeerScoreEntry[];
  readonly sync: SyncStatus;
  readonly served: Readonly<ServedCounters>;
  readonly experts: {
    /** Expert versions this node hosts (0 unless it is a worker). */
    readonly hosted: number;
    readonly served: Readonly<ExpertServerStats> | null;
    /** Workers this node has heard of. */
    readonly workers: WorkerView[];
    /** Expert sessions this node opened on the direct channel, fell back to libp2p for, or lost to a broken channel. */
    readonly direct: Readonly<DirectSessionStats> | null;
  };
}

export interface P2pNode {
  readonly peerId: string;
  multiaddrs(): string[];
  /** Connects to a peer and exchanges status; throws P2P_WRONG_GENESIS for another network. */
  dial(addr: string): Promise<string>;
  /** Catches up with the connected peers; concurrent calls share one run. */
  sync(): Promise<SyncResult>;
  status(): P2pStatus;
  publishBlock(block: Block, payload?: Uint8Array): Promise<number>;
  publishTx(tx: AnyTx): Promise<number>;
  /** Peers subscribed to the transaction topic (a follower waits for one before it publishes; docs/ledger.md §9.4). */
  txSubscribers(): number;
  /**
   * Hands a transaction to up to TX_PUSH_FANOUT subscribers of the transaction topic directly (`/blyan/tx/1`),
   * for when gossip did not carry it; resolves with how many answered (took it, or knew it already).
   */
  pushTx(tx: AnyTx, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
  /** The libp2p node itself (tests, metrics). */
  readonly libp2p: Host;
  /** Workers heard of through heartbeats and the DHT: what they host, latency, liveness, quarantine. */
  readonly workers: WorkerRegistry;
  /** The `/blyan/expert/2` handler when this node serves experts (tests wrap it). */
  readonly expertServer: ExpertServer | undefined;
  /**
   * Serves a session protocol (protocols/rpcSession.ts) on libp2p and, when the node has one, on the direct
   * channel (docs/expert-rpc.md §2.1); replaces a handler registered before.
   */
  handleSession(opts: SessionServeOptions, streams?: { maxInboundStreams?: number; maxOutboundStreams?: number }): Promise<void>;
  /** Expert versions this node hosts. */
  hostedExperts(): HostedExpert[];
  /** Re-reads the hosted versions and announces them now (e.g. after a new version was accepted). */
  announceExperts(): void;
  /**
   * Routed experts of `model` on workers: pass the result as `MoeModel.load(…, { runner })`. The local runner
   * it is given does the spot checks and the fallback.
   */
  expertRunner(model: ModelEntry, opts?: RemoteRunnerOptions): (local: ExpertRunner) => RemoteExpertRunner;
}

type StatusOutcome = { readonly peer: SyncPeer } | { readonly error: unknown };

export async function startP2p(opts: StartP2pOptions): Promise<P2pNode> {
  const store = opts.store;
  const timeouts: SyncTimeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const tuning: SyncTuning = { ...DEFAULT_TUNING, ...opts.tuning };
  const emit = (e: P2pEvent) => opts.onEvent?.(e);
  const networkTag = store.preset.genesisId.slice(0, 16);
  const book = new Map<string, SyncPeer>();
  const served: ServedCounters = { status: 0, headers: 0, tiles: 0, tileBytes: 0, refused: 0 };
  let libp2p: Host | undefined;
  let directServer: DirectServer | undefined;
  let bulkClient: BulkClient | undefined;

  // Bans and faults outlive a restart (docs/sync-protocol.md §8): loaded before the host starts, so the
  // connection gater refuses a still-banned peer from the first connection on.
  const warnScores = (message: string) => {
    emit({ type: 'peer-scores-warning', message });
    process.emitWarning(message, { code: 'BLYAN_PEER_SCORES' });
  };
  const scores: PeerScores = new PeerScores({
    onBan: (peer, reason) => {
      book.delete(peer);
      emit({ type: 'ban', peer, reason });
      libp2p?.hangUp(peerIdFromString(peer)).catch(() => {});
      directServer?.revoke(peer);
      bulkClient?.drop(peer);
    },
    onChange: () => scoreFile.saveSoon(),
  });
  const scoreFile = new PeerScoreFile(opts.dataDir, () => scores.records(), warnScores);
  const saved = scoreFile.load();
  if (saved.warning !== undefined) warnScores(saved.warning);
  scores.restore(saved.records);
  const penalise = (peer: string, reason: PenaltyReason, err: unknown) => {
    emit({ type: 'penalty', peer, reason, code: isBlyanError(err) ? err.code : 'ERROR', message: err instanceof Error ? err.message : String(err) });
    scores.penalise(peer, reason);
  };

  const denied = new Set(opts.denyPeers ?? []);
  const privateKey = await loadOrCreatePeerKey(opts.dataDir);
  const host = await createHost({
    privateKey,
    listen: opts.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: opts.bootstrap ?? [],
    maxConnections: opts.maxConnections ?? 64,
    networkTag,
    isDenied: (peer) => denied.has(peer) || scores.isBanned(peer),
    maxGossipBytes: GOSSIP_MAX_BYTES,
    ...(opts.nat === undefined ? {} : { nat: opts.nat }),
  });
  libp2p = host;

  const connected = (peer: string) => host.getConnections(peerIdFromString(peer)).length > 0;
  const onPeerError = (peer: PeerId, err: BlyanError) => {
    served.refused++;
    const reason = penaltyFor(err);
    if (reason !== undefined) penalise(peer.toString(), reason, err);
  };

  // ---- responder side ----
  const statusInflight = new Map<string, Promise<StatusOutcome>>();
  /** Peers found on another network (either side noticed), with the reason; bounded like the scores. */
  const otherNetwork = new Map<string, string>();
  const noteOtherNetwork = (peer: string, reason: string) => {
    if (otherNetwork.size >= 4096) otherNetwork.delete(otherNetwork.keys().next().value as string);
    otherNetwork.set(peer, reason);
  };
  const remember = (peerId: PeerId, status: StatusMessage): SyncPeer => {
    const p: SyncPeer = { id: peerId.toString(), peerId, status };
    book.set(p.id, p);
    emit({ type: 'peer-status', peer: p.id, heads: headsJson(status.heads) });
    return p;
  };
  await host.handle(
    STATUS_PROTOCOL,
    serveRpc({
      protocol: STATUS_PROTOCOL,
      limits: STATUS_LIMITS,
      timeoutMs: Math.min(timeouts.serveMs, timeouts.statusMs),
      handle: handleStatus({
        store,
        onPeerStatus: (peer, status) => {
          remember(peer, status);
          maybeAutoSync(status);
        },
        onWrongNetwork: (peer, reason) => {
          noteOtherNetwork(peer.toString(), reason);
          // Let the refusal reach the peer before hanging up on it (the answer is written after this returns,
          // and a loaded machine can take tens of milliseconds for that; a peer of another network gains
          // nothing from a second more).
          setTimeout(() => penalise(peer.toString(), 'wrong-network', new BlyanError('P2P_WRONG_GENESIS', reason)), 1000).unref();
        },
      }),
      onPeerError,
      onServed: () => {
        served.status++;
      },
    }),
    { maxInboundStreams: 4, maxOutboundStreams: 4 },
  );
  const isKnownPeer = (peer: PeerId) => book.has(peer.toString());
  await host.handle(
    HEADERS_PROTOCOL,
    serveRpc({
      protocol: HEADERS_PROTOCOL,
      limits: HEADERS_LIMITS,
      timeoutMs: timeouts.serveMs,
      handle: handleHeaders({ store, isKnownPeer }),
      onPeerError,
      onServed: () => {
        served.headers++;
      },
    }),
    { maxInboundStreams: 8, maxOutboundStreams: 16 },
  );
  const leaves = new LeafCache();
  await host.handle(
    TILE_PROTOCOL,
    serveRpc({
      protocol: TILE_PROTOCOL,
      limits: TILE_LIMITS,
      timeoutMs: timeouts.serveMs,
      handle: handleTile({ store, isKnownPeer, leaves }),
      onPeerError,
      onServed: (peer, bytes) => {
        served.tiles++;
        served.tileBytes += bytes;
        emit({ type: 'served', protocol: TILE_PROTOCOL, peer: peer.toString(), bytes });
      },
    }),
    { maxInboundStreams: 16, maxOutboundStreams: 32 },
  );
  const bulkHost = opts.bulk === false ? undefined : listenHost(opts.listen ?? ['/ip4/127.0.0.1/tcp/0']);
  if (bulkHost !== undefined && opts.bulk !== false) {
    const server = new DirectServer({
      host: bulkHost,
      port: opts.bulk?.port ?? 0,
      handleTile: handleTile({ store, isKnownPeer, leaves, lendBuffers: true }),
      writeMs: timeouts.serveMs,
      onPeerError,
      onServed: (peer, bytes) => {
        served.tiles++;
        served.tileBytes += bytes;
        emit({ type: 'served', protocol: BULK_PROTOCOL, peer: peer.toString(), bytes });
      },
    });
    directServer = server;
    await host.handle(
      BULK_PROTOCOL,
      serveRpc({
        protocol: BULK_PROTOCOL,
        limits: BULK_LIMITS,
        timeoutMs: timeouts.serveMs,
        handle: async (request, peer) => {
          decodeBulkRequest(request);
          if (!isKnownPeer(peer)) throw new RpcError('STATUS_REQUIRED', 'exchange /blyan/status/1 first');
          return [encodeBulkTicket(await server.ticket(peer))];
        },
        onPeerError,
      }),
      { maxInboundStreams: 2, maxOutboundStreams: 2 },
    );
    await host.handle(
      DIRECT_PROTOCOL,
      serveRpc({
        protocol: DIRECT_PROTOCOL,
        limits: DIRECT_LIMITS,
        timeoutMs: timeouts.serveMs,
        handle: async (request, peer) => {
          const req = decodeDirectRequest(request);
          return [encodeDirectTicket(await server.sessionTicket(peer, req.protocol))];
        },
        onPeerError,
      }),
      { maxInboundStreams: 4, maxOutboundStreams: 4 },
    );
  }
  const directSessions = opts.bulk === false ? undefined : new DirectSessions(host);
  const client = new BulkClient(host, timeouts.statusMs);
  bulkClient = client;

  // ---- requester side ----
  /** One status exchange per peer at a time: the connect handler and dial() share it. */
  const exchangeStatus = (peerId: PeerId): Promise<StatusOutcome> => {
    const id = peerId.toString();
    const running = statusInflight.get(id);
    if (running !== undefined) return running;
    const p = (async (): Promise<StatusOutcome> => {
      try {
        const status = await requestStatus(host, peerId, localStatus(store), timeouts.statusMs);
        return { peer: remember(peerId, status) };
      } catch (err) {
        // The other side may have refused us and hung up before our own request completed.
        const refused = otherNetwork.get(id);
        if (isBlyanError(err, 'P2P_WRONG_GENESIS')) {
          book.delete(id);
          noteOtherNetwork(id, err.message);
          penalise(id, 'wrong-network', err);
          return { error: err };
        }
        if (refused !== undefined) {
          book.delete(id);
          return { error: new BlyanError('P2P_WRONG_GENESIS', refused, {}, { cause: err }) };
        }
        // A peer already known keeps its last status through one failed refresh (a busy moment); sync scores it.
        return { error: err };
      } finally {
        statusInflight.delete(id);
      }
    })();
    statusInflight.set(id, p);
    return p;
  };

  const currentPeers = (): SyncPeer[] => [...book.values()].filter((p) => !scores.isBanned(p.id) && connected(p.id));
  const refreshPeers = async (): Promise<SyncPeer[]> => {
    const ids = host.getPeers().filter((p) => !scores.isBanned(p.toString()));
    const got = await Promise.all(ids.map((p) => exchangeStatus(p)));
    return got.flatMap((o) => ('peer' in o && !scores.isBanned(o.peer.id) ? [o.peer] : []));
  };

  const state = new SyncState(store);
  const filter = opts.experts === undefined ? undefined : { experts: new Set(opts.experts) };
  const makeCtx = (progress: SyncProgress): SyncContext => ({
    libp2p: host,
    store,
    state,
    timeouts,
    tuning,
    progress,
    filter,
    refreshPeers,
    currentPeers,
    isBanned: (p) => scores.isBanned(p),
    penalise,
    reward: (p) => scores.reward(p),
    onEvent: emit,
    fetchTile: async (peer, target, index, timeoutMs, into) => {
      if (opts.bulk !== false && (await client.tileInto(peer, target, index, timeoutMs, into))) return;
      await requestTileInto(host, peer, target, index, timeoutMs, into);
    },
  });
  const progress = new SyncProgress(opts.onProgress);
  const syncCtx = makeCtx(progress);

  let running: Promise<SyncResult> | undefined;
  let again = false;
  let stopping = false;
  const sync = (): Promise<SyncResult> => {
    if (running !== undefined) return running;
    running = runSync(syncCtx).finally(() => {
      running = undefined;
      if (again && !stopping) {
        again = false;
        requestSync();
      }
    });
    return running;
  };
  let syncTimer: NodeJS.Timeout | undefined;
  const requestSync = () => {
    if (stopping || opts.autoSync === false) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    if (syncTimer !== undefined) return;
    syncTimer = setTimeout(() => {
      syncTimer = undefined;
      sync().catch(() => {});
    }, 200);
  };
  const maybeAutoSync = (theirs: StatusMessage) => {
    for (const c of ['A', 'C', 'D'] as const) if (theirs.heads[c].n > store.height(c)) return requestSync();
    const b = theirs.heads.B.id;
    if (filter === undefined && b !== null && !store.has(b)) requestSync();
  };

  const gossip = new Gossip({
    libp2p: host,
    store,
    networkTag,
    penalise,
    fetchPayload: async (block, from) => {
      const ctx = makeCtx(new SyncProgress());
      const pending = [{ block, from: from.toString() }];
      const r = await syncPayloads(ctx, pending);
      // A chain-C block the ledger refuses at the append costs its sender, as in a sync run.
      blameLedgerRefusal(ctx, pending, r.error);
      return store.has(block.id) ? { stored: true } : { stored: false, code: r.error?.code ?? 'P2P_SYNC_INCOMPLETE' };
    },
    requestSync,
    onTx: opts.onTx,
    onEvent: emit,
  });
  const txRpcLimits = txLimits(TX_MESSAGE_MAX);
  await host.handle(
    TX_PROTOCOL,
    serveRpc({
      protocol: TX_PROTOCOL,
      limits: txRpcLimits,
      timeoutMs: timeouts.serveMs,
      handle: handleTx({ receive: (m, from, p) => gossip.receiveTx(m, from, p), forward: (m) => gossip.forwardTx(m), penalise }),
      onPeerError,
    }),
    { maxInboundStreams: 8, maxOutboundStreams: 8 },
  );

  // ---- expert RPC (docs/expert-rpc.md) ----
  const rpcTuning: ExpertRpcTuning = { ...DEFAULT_EXPERT_RPC, ...opts.expertRpc };
  const workers = new WorkerRegistry({
    libp2p: host,
    networkTag,
    isBanned: (p) => scores.isBanned(p),
    penalise,
    onEvent: emit,
    downMs: rpcTuning.downMs,
  });
  let kernels: Promise<Kernels> | undefined = opts.kernels === undefined ? undefined : Promise.resolve(opts.kernels);
  let ownKernels = false;
  const hosted = opts.hostExperts === undefined ? undefined : new HostedExperts(store, opts.hostExperts === 'all' ? 'all' : new Set(opts.hostExperts), rpcTuning.cacheBytes);
  // Sessions close after 30 s without a request; a worker ends one after 120 s, so it rarely ends one in use.
  const expertSessions = new RpcSessions(host, EXPERT_PROTOCOL, 30_000, directSessions);
  const handleSession = async (o: SessionServeOptions, streams: { maxInboundStreams?: number; maxOutboundStreams?: number } = {}) => {
    await host.handle(o.protocol, serveSession(o), { force: true, ...streams });
    directServer?.serveSessions(o.protocol, serveSessionStream(o));
  };
  let expertServer: ExpertServer | undefined;
  let announcer: ExpertAnnouncer | undefined;
  hosted?.refresh();
  if (hosted !== undefined && opts.serveExperts !== false) {
    // Frame limits follow the largest hidden size among hosted models; updated when the hosted set changes.
    const limits: { requestBytes: number; responseBytes: number } = { ...expertLimits(Math.max(1, hosted.maxHidden())) };
    const server = new ExpertServer({
      hosted,
      kernels: () => {
        if (kernels === undefined) {
          ownKernels = true;
          kernels = loadKernels({});
        }
        return kernels;
      },
      onBadRequest: (peer, err) => penalise(peer.toString(), 'malformed', err),
      onServed: (peer, jobs, rows) => emit({ type: 'experts-served', peer: peer.toString(), jobs, rows }),
    });
    expertServer = server;
    await handleSession(
      { protocol: EXPERT_PROTOCOL, limits, timeoutMs: rpcTuning.serveMs, idleMs: SESSION_IDLE_SERVE_MS, handle: (req, peer) => server.handle(req, peer), onPeerError },
      { maxInboundStreams: 32, maxOutboundStreams: 32 },
    );
    announcer = new ExpertAnnouncer({
      libp2p: host,
      topic: workers.topic,
      hosted,
      intervalMs: rpcTuning.heartbeatMs,
      onChange: () => Object.assign(limits, expertLimits(Math.max(1, hosted.maxHidden()))),
      onEvent: emit,
    });
  }

  host.addEventListener('peer:connect', (evt) => {
    if (stopping) return;
    void exchangeStatus(evt.detail).then((o) => {
      if ('peer' in o) maybeAutoSync(o.peer.status);
    });
  });
  host.addEventListener('peer:disconnect', (evt) => {
    book.delete(evt.detail.toString());
    client.drop(evt.detail.toString());
  });

  await host.start();
  gossip.start();
  workers.start();
  announcer?.start();

  const dial = async (addr: string): Promise<string> => {
    const ma = multiaddr(addr);
    const conn = await host.dial(ma, { signal: AbortSignal.timeout(timeouts.statusMs) });
    const o = await exchangeStatus(conn.remotePeer);
    if ('error' in o) throw o.error;
    return o.peer.id;
  };
  // Seeds are dialled now rather than whenever peer discovery gets to them, so a fresh node can sync at once.
  await Promise.all((opts.bootstrap ?? []).map((a) => dial(a).catch(() => undefined)));
  // A seed that was down at start, or whose connection dropped, is dialled again: after 1 s, then doubling up
  // to a minute while it stays unreachable. A seed address without /p2p/<id> is retried while no peer is known.
  const seedRetry = new Map<string, { next: number; delay: number }>();
  const seedTimer = setInterval(() => {
    if (stopping) return;
    const now = Date.now();
    for (const addr of opts.bootstrap ?? []) {
      const id = /\/p2p\/([^/]+)$/.exec(addr)?.[1];
      let up: boolean;
      try {
        up = id === undefined ? book.size > 0 : connected(id) && book.has(id);
      } catch {
        continue; // not a peer id: the first dial already failed on it, and so would every other
      }
      const r = seedRetry.get(addr) ?? { next: 0, delay: 1000 };
      if (up) {
        seedRetry.delete(addr);
        continue;
      }
      if (now < r.next) continue;
      seedRetry.set(addr, { next: now + r.delay, delay: Math.min(r.delay * 2, 60_000) });
      void dial(addr).catch(() => undefined);
    }
  }, 1000);
  seedTimer.unref();
  // Anti-entropy: gossip gives no acknowledgement, so a block whose announcement reached nobody (or was dropped)
  // would leave a node behind until the next block shows the gap. Every few seconds a few connected peers, in
  // turn, exchange status (1 KiB each way); one that is ahead starts a sync, on either side.
  let refreshTurn = 0;
  const refreshTimer = setInterval(() => {
    if (stopping || opts.autoSync === false) return;
    const peers = currentPeers();
    if (peers.length === 0) return;
    for (let i = 0; i < Math.min(STATUS_REFRESH_PEERS, peers.length); i++) {
      const p = peers[(refreshTurn + i) % peers.length] as SyncPeer;
      void exchangeStatus(p.peerId).then((o) => {
        if ('peer' in o) maybeAutoSync(o.peer.status);
      });
    }
    refreshTurn += STATUS_REFRESH_PEERS;
  }, opts.statusRefreshMs ?? STATUS_REFRESH_MS);
  refreshTimer.unref();

  return {
    peerId: host.peerId.toString(),
    libp2p: host,
    // libp2p may list one address twice (as a listen address and again as confirmed by peers or AutoNAT).
    multiaddrs: () => [...new Set(host.getMultiaddrs().map((m) => m.toString()))],
    dial,
    sync,
    status: () => ({
      peerId: host.peerId.toString(),
      multiaddrs: host.getMultiaddrs().map((m) => m.toString()),
      peers: currentPeers().map((p) => ({ id: p.id, heads: headsJson(p.status.heads), score: scores.score(p.id) })),
      scores: scores.snapshot(),
      sync: progress.status(),
      served: { ...served },
      experts: {
        hosted: hosted?.list().length ?? 0,
        served: expertServer === undefined ? null : { ...expertServer.stats },
        workers: workers.snapshot(),
        direct: directSessions === undefined ? null : { ...directSessions.stats },
      },
    }),
    publishBlock: (block, payload) => gossip.publishBlock(block, payload),
    publishTx: (tx) => gossip.publishTx(tx),
    txSubscribers: () => host.services.pubsub.getSubscribers(gossip.txTopic).length,
    pushTx: async (tx, timeoutMs) => {
      const message = encodeBatch([tx]);
      const to = host.services.pubsub
        .getSubscribers(gossip.txTopic)
        .filter((p) => !scores.isBanned(p.toString()))
        .slice(0, TX_PUSH_FANOUT);
      const answers = await Promise.allSettled(to.map((p) => pushTx(host, p, message, txRpcLimits, timeoutMs)));
      return answers.filter((a) => a.status === 'fulfilled').length;
    },
    workers,
    expertServer,
    handleSession,
    hostedExperts: () => hosted?.list() ?? [],
    announceExperts: () => announcer?.tick(),
    expertRunner: (model, ro = {}) => (local) =>
      new RemoteExpertRunner(
        {
          sessions: expertSessions,
          registry: workers,
          model: model.id,
          hidden: model.meta.config.hiddenSize,
          versionOf: (name) => store.currentVersion(model.id, name),
          local,
          penalise,
          reward: (p) => scores.reward(p),
        },
        {
          ...ro,
          onEvent: (e) => {
            emit(e);
            ro.onEvent?.(e);
          },
        },
      ),
    stop: async () => {
      stopping = true;
      clearInterval(seedTimer);
      clearInterval(refreshTimer);
      if (syncTimer !== undefined) clearTimeout(syncTimer);
      announcer?.stop();
      expertSessions.stop();
      directSessions?.stop();
      workers.stop();
      gossip.stop();
      client.stop();
      await directServer?.stop();
      await host.stop();
      await running?.catch(() => undefined);
      scoreFile.stop();
      if (ownKernels && kernels !== undefined) await (await kernels).close();
    },
  };
}

/** The IP address of the first TCP listen multiaddr (the bulk channel listens beside it), if any. */
function listenHost(listen: readonly string[]): string | undefined {
  for (const a of listen) {
    const parts = multiaddr(a).getComponents();
    const ip = parts.find((p) => p.name === 'ip4' || p.name === 'ip6');
    if (ip?.value !== undefined && parts.some((p) => p.name === 'tcp')) return ip.value;
  }
  return undefined;
}
