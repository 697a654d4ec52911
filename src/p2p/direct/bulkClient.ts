import type { Socket } from 'node:net';
import type { PeerId } from '@libp2p/interface';
import { BlyanError, isBlyanError } from '../../errors.ts';
import { type FrameReader, FrameReader as Reader, withDeadline, writeFrame } from '../framing.ts';
import type { Host } from '../host.ts';
import { requestBulkTicket } from '../protocols/bulk.ts';
import { decodeRemoteError, ERROR_CONTENT_MAX, STATUS_ERROR, STATUS_OK } from '../protocols/rpc.ts';
import { checkDestination, encodeTileRequest, readTileInto, TILE_LIMITS, type TileTarget } from '../protocols/tiles.ts';
import { connectWithin, RingReceiver, socketStream } from './socketStream.ts';

/** Idle bulk connections kept per peer: as many as tile requests the sync runs on one peer at a time. */
const IDLE_PER_PEER = 4;
/** After a failure on a peer's bulk channel, its tiles go over libp2p this long before the channel is tried again. */
const RETRY_AFTER_MS = 60_000;
/** How long opening a bulk connection may take before the tile goes over libp2p. */
const CONNECT_TIMEOUT_MS = 3_000;
/** A ticket this close to its expiry is renewed before a new connection presents it. */
const TICKET_MARGIN_MS = 30_000;

interface Conn {
  readonly socket: Socket;
  readonly stream: ReturnType<typeof socketStream>;
  readonly reader: FrameReader;
}

interface PeerBulk {
  ticket: Promise<{ host: string; port: number; token: Uint8Array; expires: number } | undefined>;
  readonly idle: Conn[];
  failedAt: number;
}

/**
 * The requester's side of the bulk channel (docs/sync-protocol.md §6.1). `tileInto` fetches a tile over plain
 * TCP when the peer gave a ticket, and resolves false whenever the channel cannot serve it — no ticket (an older
 * node, a relayed connection, bulk switched off), a refused or broken connection, or a tile that does not
 * verify — so the caller fetches that tile over `/blyan/tile/1`, whose outcome alone scores the peer: bytes on
 * an unauthenticated channel are never held against the peer the libp2p connection vouches for.
 */
export class BulkClient {
  private readonly peers = new Map<string, PeerBulk>();
  private readonly open = new Set<Socket>();

  constructor(
    private readonly libp2p: Host,
    private readonly ticketTimeoutMs: number,
  ) {}

  async tileInto(peer: PeerId, target: TileTarget, index: number, timeoutMs: number, into: Uint8Array): Promise<boolean> {
    checkDestination(target, index, into);
    const state = this.stateOf(peer);
    if (state === undefined) return false;
    const ticket = await state.ticket;
    if (ticket === undefined) {
      // None given (an older node, bulk off, no direct connection yet): asked again after a while.
      if (state.failedAt === 0) state.failedAt = Date.now();
      return false;
    }
    let conn = state.idle.pop();
    if (conn === undefined && ticket.expires - Date.now() < TICKET_MARGIN_MS) {
      // A new connection needs a live token: ask for a fresh ticket, and fetch this tile over libp2p meanwhile.
      this.drop(peer.toString());
      this.stateOf(peer);
      return false;
    }
    try {
      // A firewalled port drops the connection attempt silently: give up on it quickly, not at the tile deadline.
      conn ??= await this.connect(ticket, Math.min(timeoutMs, CONNECT_TIMEOUT_MS));
      const c = conn;
      const what = `bulk tile from ${peer.toString().slice(-8)}`;
      const ok = await withDeadline(c.stream, timeoutMs, what, async () => {
        await writeFrame(c.stream, [encodeTileRequest({ payload: target.payloadHash, index })]);
        const length = await c.reader.readFrameLength(1 + Math.max(TILE_LIMITS.responseBytes, ERROR_CONTENT_MAX), what);
        if (length === 0) throw new BlyanError('P2P_MALFORMED', `${what}: empty response frame`);
        const status = (await c.reader.readBytes(1, what))[0];
        if (status === STATUS_OK) {
          await readTileInto(c.reader, length - 1, what, target, index, into);
          return true;
        }
        if (status !== STATUS_ERROR || length - 1 > ERROR_CONTENT_MAX) throw new BlyanError('P2P_MALFORMED', `${what}: unknown response status ${status}`);
        const e = decodeRemoteError(await c.reader.readBytes(length - 1, what), what);
        throw new BlyanError('P2P_REMOTE_ERROR', `${what}: ${e.code}: ${e.message}`, { remote: e.code });
      });
      if (state.idle.length < IDLE_PER_PEER) state.idle.push(c);
      else c.socket.end();
      return ok;
    } catch (err) {
      conn?.socket.destroy();
      this.fail(state, err);
      return false;
    }
  }

  /** Forgets a peer (disconnected or banned): its ticket and idle connections. */
  drop(peer: string): void {
    const s = this.peers.get(peer);
    if (s === undefined) return;
    this.peers.delete(peer);
    for (const c of s.idle) c.socket.destroy();
  }

  stop(): void {
    for (const s of this.open) s.destroy();
    this.peers.clear();
  }

  private stateOf(peer: PeerId): PeerBulk | undefined {
    const id = peer.toString();
    let s = this.peers.get(id);
    const now = Date.now();
    if (s !== undefined && s.failedAt > 0) {
      if (now - s.failedAt < RETRY_AFTER_MS) return undefined;
      this.drop(id);
      s = undefined;
    }
    if (s === undefined) {
      s = { ticket: this.askTicket(peer), idle: [], failedAt: 0 };
      this.peers.set(id, s);
    }
    return s;
  }

  private async askTicket(peer: PeerId): Promise<{ host: string; port: number; token: Uint8Array; expires: number } | undefined> {
    const host = directHost(this.libp2p, peer);
    if (host === undefined) return undefined;
    try {
      const t = await requestBulkTicket(this.libp2p, peer, this.ticketTimeoutMs);
      return { host, port: t.port, token: t.token, expires: Date.now() + t.ttlMs };
    } catch {
      // NOT_FOUND-like refusals and older nodes alike: this peer's tiles go over libp2p.
      return undefined;
    }
  }

  private async connect(ticket: { host: string; port: number; token: Uint8Array }, timeoutMs: number): Promise<Conn> {
    const receiver = new RingReceiver();
    // Attached before any I/O callback can run: the promise settles in the microtasks after 'connect'.
    const socket = await connectWithin({ host: ticket.host, port: ticket.port, onread: receiver.onread }, timeoutMs, 'bulk connection', this.open);
    receiver.attach(socket);
    socket.write(ticket.token);
    const stream = socketStream(socket, receiver);
    return { socket, stream, reader: new Reader(stream) };
  }

  private fail(state: PeerBulk, err: unknown): void {
    // A tile the peer does not have is an answer, not a broken channel; anything else sends this peer's
    // tiles back to libp2p for a while.
    if (isBlyanError(err, 'P2P_REMOTE_ERROR') && err.data['remote'] === 'NOT_FOUND') return;
    state.failedAt = Date.now();
    for (const c of state.idle.splice(0)) c.socket.destroy();
  }
}

/**
 * The IP address of a direct TCP connection to `peer`, where its direct channel (bulk tiles, sealed sessions)
 * listens; undefined for a relayed or other connection, which gets no ticket.
 */
export function directHost(libp2p: Host, peer: PeerId): string | undefined {
  const conn = libp2p.getConnections(peer).find((c) => c.limits === undefined);
  const parts = conn?.remoteAddr.getComponents() ?? [];
  const ip = parts.find((p) => p.name === 'ip4' || p.name === 'ip6');
  if (ip?.value === undefined || !parts.some((p) => p.name === 'tcp') || parts.some((p) => p.name === 'p2p-circuit')) return undefined;
  return ip.value;
}
