import './polyfill.ts';
import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../cborBounds.ts';
import { type Message, TopicValidatorResult } from '@libp2p/gossipsub';
import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { z } from 'zod';
import { RAW_CODE, SHA2_256_CODE } from '../chain/cid.ts';
import { type Hash, sha256, toHex } from '../chain/hash.ts';
import { BlyanError } from '../errors.ts';
import type { HostedExperts } from './expertRpc.ts';
import type { Host } from './host.ts';
import type { PenaltyReason } from './peerScore.ts';

/**
 * Who runs which expert versions (docs/expert-rpc.md §5). Workers announce the versions they host two ways:
 *
 *  - a gossip heartbeat on `/blyan/<tag>/experts/1` every few seconds: the list of {model, expert, block id}
 *    plus the worker's addresses. It doubles as liveness: an entry not refreshed within three intervals is
 *    dropped from routing;
 *  - a provider record in the Kademlia DHT under a CID derived from each version's block id, so a node that
 *    has not heard a heartbeat yet (another part of the mesh, just started) can still find replicas.
 *
 * The service node keeps a table per worker: what it hosts, when it was last heard of, an EWMA of its RPC
 * times (seeded by a libp2p ping), and whether it is down (an RPC failed: skipped for a while) or quarantined
 * (caught returning wrong results: never used again until the quarantine ends). Routing asks the table for
 * the live replicas of one exact version, fastest first.
 */
export function expertsTopic(networkTag: string): string {
  return `/blyan/${networkTag}/experts/1`;
}

/** CIDv1(raw, sha2-256, SHA-256("/blyan/expert/1" ‖ block id)): "runs this version", distinct from the block's own CID ("stores it"). */
export function expertProviderCid(block: Hash): CID {
  return CID.createV1(RAW_CODE, Digest.create(SHA2_256_CODE, sha256(new TextEncoder().encode('/blyan/expert/1'), block)));
}

export const HEARTBEAT_MAX_BYTES = 512 * 1024;
export const HEARTBEAT_MAX_ENTRIES = 8192;
const MAX_ADDRS = 16;

export interface HeartbeatMessage {
  readonly v: 1;
  /** Strictly increasing per worker (milliseconds since the epoch at sending, bumped if equal). */
  readonly seq: number;
  /** Milliseconds until the next heartbeat. */
  readonly interval: number;
  readonly addrs: readonly string[];
  readonly models: readonly { readonly id: Hash; readonly experts: readonly { readonly name: string; readonly block: Hash }[] }[];
}

const bytes32 = z.instanceof(Uint8Array).refine((b) => b.byteLength === 32, 'must be 32 bytes');
const HeartbeatSchema = z
  .object({
    v: z.literal(1),
    seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    interval: z.number().int().min(100).max(600_000),
    addrs: z.array(z.string().max(256)).max(MAX_ADDRS),
    models: z
      .array(
        z
          .object({
            id: bytes32,
            experts: z.array(z.object({ name: z.string().max(32).regex(/^layer\d{1,4}\.expert\d{1,6}$/), block: bytes32 }).strict()).max(HEARTBEAT_MAX_ENTRIES),
          })
          .strict(),
      )
      .max(64),
  })
  .strict();

export function encodeHeartbeat(m: HeartbeatMessage): Uint8Array {
  return dagCbor.encode({ v: m.v, seq: m.seq, interval: m.interval, addrs: m.addrs, models: m.models.map((x) => ({ id: x.id, experts: x.experts.map((e) => ({ name: e.name, block: e.block })) })) });
}

export function decodeHeartbeat(data: Uint8Array): HeartbeatMessage {
  if (data.byteLength > HEARTBEAT_MAX_BYTES) throw new BlyanError('P2P_FRAME_TOO_LARGE', `heartbeat of ${data.byteLength} bytes`);
  let value: unknown;
  try {
    value = decodeUntrustedCbor(data);
  } catch (err) {
    throw new BlyanError('P2P_MALFORMED', `heartbeat is not DAG-CBOR: ${(err as Error).message}`);
  }
  const parsed = HeartbeatSchema.safeParse(value);
  if (!parsed.success) throw new BlyanError('P2P_MALFORMED', `heartbeat: ${parsed.error.issues[0]?.message ?? 'bad shape'}`);
  const total = parsed.data.models.reduce((a, m) => a + m.experts.length, 0);
  if (total > HEARTBEAT_MAX_ENTRIES) throw new BlyanError('P2P_MALFORMED', `heartbeat lists ${total} experts; at most ${HEARTBEAT_MAX_ENTRIES}`);
  return parsed.data;
}

function versionKey(modelHex: string, name: string, blockHex: string): string {
  return `${modelHex}/${name}@${blockHex}`;
}

export interface WorkerView {
  readonly peer: string;
  readonly experts: number;
  readonly source: 'gossip' | 'dht';
  readonly lastSeenMsAgo: number;
  readonly latencyMs: number | null;
  readonly inflight: number;
  readonly live: boolean;
  readonly down: boolean;
  readonly quarantined: boolean;
  readonly calls: number;
  readonly failures: number;
  readonly mismatches: number;
}

interface Worker {
  readonly peer: string;
  readonly peerId: PeerId;
  versions: Set<string>;
  source: 'gossip' | 'dht';
  lastSeq: number;
  lastSeen: number;
  intervalMs: number;
  latencyMs: number | undefined;
  /** A ping to seed latencyMs is in flight. */
  measuring: boolean;
  inflight: number;
  downUntil: number;
  quarantinedUntil: number;
  calls: number;
  failures: number;
  mismatches: number;
}

export type RegistryEvent =
  | { readonly type: 'worker-heartbeat'; readonly peer: string; readonly experts: number; readonly isNew: boolean }
  | { readonly type: 'worker-discovered'; readonly peer: string; readonly expert: string; readonly via: 'dht' }
  | { readonly type: 'worker-down'; readonly peer: string; readonly code: string }
  | { readonly type: 'worker-quarantined'; readonly peer: string; readonly expert: string };

export interface WorkerRegistryOptions {
  readonly libp2p: Host;
  readonly networkTag: string;
  readonly isBanned: (peer: string) => boolean;
  readonly penalise: (peer: string, reason: PenaltyReason, err: unknown) => void;
  readonly onEvent: (e: RegistryEvent) => void;
  /** A worker that failed an RPC is skipped this long (default 15 s). */
  readonly downMs?: number;
  /** A worker caught returning wrong results is not used this long (default 30 min, the ban's length). */
  readonly quarantineMs?: number;
  /** Weight of a new RPC time in the latency average (default 0.3). */
  readonly ewmaAlpha?: number;
  readonly now?: () => number;
}

/** Bounded: at most this many workers are remembered; the least recently heard of is forgotten first. */
const MAX_WORKERS = 4096;
/** A DHT-found worker is considered live this long without a heartbeat. */
const DHT_TTL_MS = 60_000;

export class WorkerRegistry {
  readonly topic: string;
  private readonly workers = new Map<string, Worker>();
  private readonly byVersion = new Map<string, Set<string>>();
  private readonly discovering = new Map<string, Promise<number>>();
  private readonly lastDiscovery = new Map<string, number>();
  private readonly now: () => number;
  private readonly downMs: number;
  private readonly quarantineMs: number;
  private readonly alpha: number;
  private started = false;

  constructor(private readonly opts: WorkerRegistryOptions) {
    this.topic = expertsTopic(opts.networkTag);
    this.now = opts.now ?? Date.now;
    this.downMs = opts.downMs ?? 15_000;
    this.quarantineMs = opts.quarantineMs ?? 30 * 60_000;
    this.alpha = opts.ewmaAlpha ?? 0.3;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const pubsub = this.opts.libp2p.services.pubsub;
    pubsub.topicValidators.set(this.topic, (peer, msg) => this.validate(peer, msg));
    pubsub.subscribe(this.topic);
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    const pubsub = this.opts.libp2p.services.pubsub;
    pubsub.topicValidators.delete(this.topic);
    try {
      pubsub.unsubscribe(this.topic);
    } catch {
      // already stopped
    }
  }

  /** Gossip validation: a well-formed, newer heartbeat from its signer updates the table and is forwarded. */
  private validate(from: PeerId, msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject;
    let hb: HeartbeatMessage;
    try {
      hb = decodeHeartbeat(msg.data);
    } catch (err) {
      this.opts.penalise(from.toString(), 'malformed', err);
      return TopicValidatorResult.Reject;
    }
    const origin = msg.from.toString();
    if (origin === this.opts.libp2p.peerId.toString()) return TopicValidatorResult.Ignore;
    return this.noteHeartbeat(msg.from, hb) ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore;
  }

  /** Applies a heartbeat (also used directly by tests); false when it is not newer than the last one. */
  noteHeartbeat(peerId: PeerId, hb: HeartbeatMessage): boolean {
    const peer = peerId.toString();
    const old = this.workers.get(peer);
    if (old !== undefined && hb.seq <= old.lastSeq) return false;
    const w = old ?? this.newWorker(peerId);
    w.lastSeq = hb.seq;
    w.lastSeen = this.now();
    w.intervalMs = hb.interval;
    w.source = 'gossip';
    const versions = new Set<string>();
    for (const m of hb.models) {
      const mh = toHex(m.id);
      for (const e of m.experts) versions.add(versionKey(mh, e.name, toHex(e.block)));
    }
    this.setVersions(w, versions);
    // Addresses let a node that only hears the worker through the mesh dial it.
    const addrs = hb.addrs.flatMap((a) => {
      try {
        return [multiaddr(a)];
      } catch {
        return [];
      }
    });
    if (addrs.length > 0) this.opts.libp2p.peerStore.merge(peerId, { multiaddrs: addrs }).catch(() => {});
    this.opts.onEvent({ type: 'worker-heartbeat', peer, experts: versions.size, isNew: old === undefined });
    // Until a ping or a call has measured it (a ping can fail: the peer still dialling, a busy machine), each
    // heartbeat tries again: routing ranks workers by latency, and an unmeasured one ranks last.
    if (w.latencyMs === undefined) this.measure(w);
    return true;
  }

  private newWorker(peerId: PeerId): Worker {
    const peer = peerId.toString();
    if (this.workers.size >= MAX_WORKERS) {
      const oldest = [...this.workers.values()].reduce((a, b) => (a.lastSeen <= b.lastSeen ? a : b));
      this.forget(oldest.peer);
    }
    const w: Worker = {
      peer,
      peerId,
      versions: new Set(),
      source: 'gossip',
      lastSeq: -1,
      lastSeen: this.now(),
      intervalMs: 10_000,
      latencyMs: undefined,
      measuring: false,
      inflight: 0,
      downUntil: 0,
      quarantinedUntil: 0,
      calls: 0,
      failures: 0,
      mismatches: 0,
    };
    this.workers.set(peer, w);
    return w;
  }

  private forget(peer: string): void {
    const w = this.workers.get(peer);
    if (w === undefined) return;
    this.setVersions(w, new Set());
    this.workers.delete(peer);
  }

  private setVersions(w: Worker, versions: Set<string>): void {
    for (const k of w.versions) if (!versions.has(k)) this.byVersion.get(k)?.delete(w.peer);
    for (const k of versions) {
      let s = this.byVersion.get(k);
      if (s === undefined) {
        s = new Set();
        this.byVersion.set(k, s);
      }
      s.add(w.peer);
    }
    for (const k of w.versions) if (this.byVersion.get(k)?.size === 0) this.byVersion.delete(k);
    w.versions = versions;
  }

  /** Seeds the latency estimate with a libp2p ping (RPC times take over from there); one at a time per worker. */
  private measure(w: Worker): void {
    if (w.measuring) return;
    w.measuring = true;
    this.opts.libp2p.services.ping
      .ping(w.peerId, { signal: AbortSignal.timeout(5000) })
      .then((ms) => {
        if (w.latencyMs === undefined) w.latencyMs = ms;
      })
      .catch(() => {})
      .finally(() => {
        w.measuring = false;
      });
  }

  private live(w: Worker, now: number): boolean {
    const ttl = w.source === 'dht' ? DHT_TTL_MS : 3 * w.intervalMs + 1000;
    return now - w.lastSeen <= ttl && !this.opts.isBanned(w.peer);
  }

  private usable(w: Worker, now: number): boolean {
    return this.live(w, now) && w.downUntil <= now && w.quarantinedUntil <= now;
  }

  /**
   * Live replicas of one exact version, best first: lowest latency estimate (unmeasured last), then fewest
   * requests in flight, then peer id (so the choice is stable).
   */
  replicas(modelHex: string, name: string, blockHex: string): string[] {
    const now = this.now();
    const peers = this.byVersion.get(versionKey(modelHex, name, blockHex));
    if (peers === undefined) return [];
    const ws = [...peers].map((p) => this.workers.get(p) as Worker).filter((w) => this.usable(w, now));
    ws.sort((a, b) => (a.latencyMs ?? Number.POSITIVE_INFINITY) - (b.latencyMs ?? Number.POSITIVE_INFINITY) || a.inflight - b.inflight || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
    return ws.map((w) => w.peer);
  }

  peerId(peer: string): PeerId {
    return this.workers.get(peer)?.peerId ?? peerIdFromString(peer);
  }

  /** Bookkeeping around one RPC: in-flight count, then the time taken (success) or the failure. */
  begin(peer: string): void {
    const w = this.workers.get(peer);
    if (w !== undefined) w.inflight++;
  }

  succeeded(peer: string, ms: number): void {
    const w = this.workers.get(peer);
    if (w === undefined) return;
    w.inflight = Math.max(0, w.inflight - 1);
    w.calls++;
    w.latencyMs = w.latencyMs === undefined ? ms : (1 - this.alpha) * w.latencyMs + this.alpha * ms;
  }

  failed(peer: string, code: string, opts: { down: boolean }): void {
    const w = this.workers.get(peer);
    if (w === undefined) return;
    w.inflight = Math.max(0, w.inflight - 1);
    w.failures++;
    if (opts.down) {
      w.downUntil = this.now() + this.downMs;
      this.opts.onEvent({ type: 'worker-down', peer, code });
    }
  }

  /** The worker refused a version it announced: routing forgets that version until its next heartbeat. */
  dropVersion(peer: string, modelHex: string, name: string, blockHex: string): void {
    const w = this.workers.get(peer);
    const key = versionKey(modelHex, name, blockHex);
    if (w === undefined || !w.versions.has(key)) return;
    const next = new Set(w.versions);
    next.delete(key);
    this.setVersions(w, next);
  }

  /** A worker caught returning wrong results: out of routing for the quarantine period. */
  quarantine(peer: string, expert: string): void {
    const w = this.workers.get(peer);
    if (w === undefined) return;
    w.mismatches++;
    if (w.quarantinedUntil > this.now()) return;
    w.quarantinedUntil = this.now() + this.quarantineMs;
    this.opts.onEvent({ type: 'worker-quarantined', peer, expert });
  }

  isQuarantined(peer: string): boolean {
    return (this.workers.get(peer)?.quarantinedUntil ?? 0) > this.now();
  }

  /**
   * Looks the version up in the DHT (at most once per `minGapMs` per version; concurrent callers share the
   * lookup) and adds the providers found. Returns how many providers were new or refreshed.
   */
  discover(modelHex: string, name: string, block: Hash, timeoutMs: number, minGapMs = 10_000): Promise<number> {
    const blockHex = toHex(block);
    const key = versionKey(modelHex, name, blockHex);
    const running = this.discovering.get(key);
    if (running !== undefined) return running;
    const last = this.lastDiscovery.get(key);
    if (last !== undefined && this.now() - last < minGapMs) return Promise.resolve(0);
    this.lastDiscovery.set(key, this.now());
    if (this.lastDiscovery.size > 65_536) this.lastDiscovery.clear();
    const self = this.opts.libp2p.peerId.toString();
    const p = (async () => {
      let n = 0;
      try {
        for await (const prov of this.opts.libp2p.contentRouting.findProviders(expertProviderCid(block), { signal: AbortSignal.timeout(timeoutMs) })) {
          const peer = prov.id.toString();
          if (peer === self || this.opts.isBanned(peer)) continue;
          if (prov.multiaddrs.length > 0) await this.opts.libp2p.peerStore.merge(prov.id, { multiaddrs: prov.multiaddrs }).catch(() => {});
          const old = this.workers.get(peer);
          const w = old ?? this.newWorker(prov.id);
          if (old === undefined) {
            w.source = 'dht';
            this.measure(w);
          }
          w.lastSeen = Math.max(w.lastSeen, this.now());
          if (!w.versions.has(key)) this.setVersions(w, new Set([...w.versions, key]));
          this.opts.onEvent({ type: 'worker-discovered', peer, expert: name, via: 'dht' });
          n++;
        }
      } catch {
        // A lookup that times out or finds no one leaves the table as it was.
      }
      return n;
    })().finally(() => this.discovering.delete(key));
    this.discovering.set(key, p);
    return p;
  }

  snapshot(): WorkerView[] {
    const now = this.now();
    return [...this.workers.values()].map((w) => ({
      peer: w.peer,
      experts: w.versions.size,
      source: w.source,
      lastSeenMsAgo: now - w.lastSeen,
      latencyMs: w.latencyMs === undefined ? null : Math.round(w.latencyMs * 100) / 100,
      inflight: w.inflight,
      live: this.live(w, now),
      down: w.downUntil > now,
      quarantined: w.quarantinedUntil > now,
      calls: w.calls,
      failures: w.failures,
      mismatches: w.mismatches,
    }));
  }
}

export interface AnnouncerOptions {
  readonly libp2p: Host;
  readonly topic: string;
  readonly hosted: HostedExperts;
  readonly intervalMs: number;
  /** The hosted set changed (request limits may follow the largest hidden size). */
  readonly onChange?: () => void;
  readonly onEvent?: (e: { readonly type: 'experts-announced'; readonly experts: number; readonly recipients: number } | { readonly type: 'experts-provided'; readonly experts: number }) => void;
}

/**
 * The worker's side: every interval, re-read which versions it hosts, publish a heartbeat, and put provider
 * records in the DHT for versions not provided yet (kad-dht re-provides them by itself from then on).
 */
export class ExpertAnnouncer {
  private timer: NodeJS.Timeout | undefined;
  private seq = 0;
  private readonly provided = new Set<string>();
  private providing: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly opts: AnnouncerOptions) {}

  start(): void {
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  /** Publishes a heartbeat now (also after the hosted set changed). */
  tick(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.opts.hosted.refresh()) this.opts.onChange?.();
    void this.publish();
    this.provide();
    this.timer = setTimeout(() => this.tick(), this.opts.intervalMs);
    this.timer.unref?.();
  }

  heartbeat(): HeartbeatMessage {
    const byModel = new Map<string, { id: Hash; experts: { name: string; block: Hash }[] }>();
    for (const h of this.opts.hosted.list().slice(0, HEARTBEAT_MAX_ENTRIES)) {
      let m = byModel.get(h.modelHex);
      if (m === undefined) {
        m = { id: h.model, experts: [] };
        byModel.set(h.modelHex, m);
      }
      m.experts.push({ name: h.name, block: h.block });
    }
    this.seq = Math.max(this.seq + 1, Date.now());
    const addrs = this.opts.libp2p
      .getMultiaddrs()
      .map((a) => a.toString())
      .slice(0, MAX_ADDRS);
    return { v: 1, seq: this.seq, interval: this.opts.intervalMs, addrs, models: [...byModel.values()].slice(0, 64) };
  }

  private async publish(): Promise<void> {
    const hb = this.heartbeat();
    try {
      const r = await this.opts.libp2p.services.pubsub.publish(this.opts.topic, encodeHeartbeat(hb));
      this.opts.onEvent?.({ type: 'experts-announced', experts: hb.models.reduce((a, m) => a + m.experts.length, 0), recipients: r.recipients.length });
    } catch {
      // No subscriber yet, or stopping: the next tick tries again.
    }
  }

  private provide(): void {
    if (this.providing !== undefined || this.opts.libp2p.getPeers().length === 0) return;
    const todo = this.opts.hosted.list().filter((h) => !this.provided.has(h.blockHex));
    if (todo.length === 0) return;
    this.providing = (async () => {
      let n = 0;
      for (const h of todo) {
        if (this.stopped) return;
        try {
          await this.opts.libp2p.contentRouting.provide(expertProviderCid(h.block), { signal: AbortSignal.timeout(30_000) });
          this.provided.add(h.blockHex);
          n++;
        } catch {
          // Retried at the next tick.
        }
      }
      if (n > 0) this.opts.onEvent?.({ type: 'experts-provided', experts: n });
    })().finally(() => {
      this.providing = undefined;
    });
  }
}
