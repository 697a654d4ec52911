import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { PeerId } from '@libp2p/interface';
import { toHex } from '../../chain/hash.ts';
import { type BlyanError, isBlyanError } from '../../errors.ts';
import { FrameReader, withDeadline, writeFrame } from '../framing.ts';
import { BULK_TOKEN_BYTES, type BulkTicket } from '../protocols/bulk.ts';
import { DIRECT_SECRET_BYTES, type DirectTicket } from '../protocols/direct.ts';
import { errorContent, RpcError, type RpcReply, STATUS_ERROR, STATUS_OK, toRemote } from '../protocols/rpc.ts';
import { TILE_LIMITS } from '../protocols/tiles.ts';
import { sealedKeys, sealedStream } from './sealedStream.ts';
import { flushed, readPrefix, socketStream } from './socketStream.ts';
import type { FrameStream } from '../framing.ts';

/** How long a ticket admits new connections; a requester asks for a new one after that. */
export const BULK_TICKET_TTL_MS = 10 * 60_000;
/** Bulk connections open at once (all peers), and per ticket. */
const MAX_SOCKETS = 64;
const MAX_SOCKETS_PER_TICKET = 8;
/** Live tickets kept (the oldest goes first): far more than the peers a node is connected to. */
const MAX_GRANTS = 4096;
/** The token must arrive this soon after the connection opens; a request this soon after the last answer. */
const TOKEN_DEADLINE_MS = 5_000;
const IDLE_MS = 60_000;
/** A session ticket admits its one connection within this time. */
export const SESSION_TICKET_TTL_MS = 60_000;
/** Unused session tickets kept per peer, and sealed session connections open per peer. */
const SESSION_TICKETS_PER_PEER = 16;
const SESSIONS_PER_PEER = 8;
/** The byte that tells a session requester its token was taken: only then does it send records. */
export const SESSION_ACCEPTED = 0x01;

interface SessionGrant {
  readonly peer: PeerId;
  readonly protocol: string;
  readonly secret: Uint8Array;
  readonly expires: number;
}

/** A session protocol's handler on a sealed connection (rpcSession.ts serveSessionStream). */
export type SealedSessionHandler = (stream: FrameStream, peer: PeerId) => Promise<void>;

interface Grant {
  readonly peer: PeerId;
  readonly token: Uint8Array;
  readonly expires: number;
  sockets: number;
}

export interface DirectServerOptions {
  /** The address the node's libp2p TCP listener uses (loopback, a LAN address, 0.0.0.0). */
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** The `/blyan/tile/1` handler, lending its tile buffers (they come back through the reply's `done`). */
  readonly handleTile: (request: Uint8Array, peer: PeerId) => RpcReply;
  /** Deadline for writing one answer (a requester that stops reading is cut off). */
  readonly writeMs: number;
  /** A ticket holder that sent a malformed request (as for libp2p streams). */
  readonly onPeerError: (peer: PeerId, err: BlyanError) => void;
  readonly onServed?: (peer: PeerId, bytes: number) => void;
}

/**
 * The direct channel's server: one TCP port beside the libp2p listener, for two kinds of ticket given out over
 * the authenticated libp2p connection.
 *  - Bulk tiles (docs/sync-protocol.md §6.1, `/blyan/bulk/1`): tiles over plain TCP. Tiles are public and every one
 *    is checked against the signed header's tile root by its receiver, so the channel needs integrity only there,
 *    not encryption; it saves the Noise cipher and Yamux framing on both sides of a sync.
 *  - Sealed sessions (docs/expert-rpc.md §2.1, `/blyan/direct/1`): one connection per ticket, its bytes
 *    ChaCha20-Poly1305 records (sealedStream.ts), carrying a session protocol such as expert RPC.
 * Anyone can connect; only a live token gets an answer, and a wrong one is hung up on without a word.
 */
export class DirectServer {
  private server: Server | undefined;
  private listening: Promise<number> | undefined;
  private readonly grants = new Map<string, Grant>();
  private readonly byPeer = new Map<string, Grant>();
  /** Open connections, with the peer whose ticket each presented (undefined until its token arrived). */
  private readonly sockets = new Map<Socket, PeerId | undefined>();
  /** Unused session tickets by token (hex), and the handlers of the session protocols offered. */
  private readonly sessionGrants = new Map<string, SessionGrant>();
  private readonly sessionHandlers = new Map<string, SealedSessionHandler>();
  /** Sealed session connections open per peer. */
  private readonly sessionsOf = new Map<string, number>();

  constructor(private readonly opts: DirectServerOptions) {}

  /** A ticket for `peer` (the same token while it is valid for at least half its life), listening first. */
  async ticket(peer: PeerId): Promise<BulkTicket> {
    const port = await this.listen();
    const now = Date.now();
    this.prune(now);
    let g = this.byPeer.get(peer.toString());
    if (g === undefined || g.expires - now < BULK_TICKET_TTL_MS / 2) {
      if (this.grants.size >= MAX_GRANTS) this.dropGrant(this.grants.keys().next().value as string);
      g = { peer, token: new Uint8Array(randomBytes(BULK_TOKEN_BYTES)), expires: now + BULK_TICKET_TTL_MS, sockets: 0 };
      this.grants.set(toHex(g.token), g);
      this.byPeer.set(peer.toString(), g);
    }
    return { v: 1, port, token: g.token, ttlMs: g.expires - now };
  }

  /** Offers a session protocol on the direct channel (docs/expert-rpc.md §2.1). */
  serveSessions(protocol: string, handler: SealedSessionHandler): void {
    this.sessionHandlers.set(protocol, handler);
  }

  /** A ticket for one sealed connection speaking `protocol`: NOT_FOUND when it is not offered here. */
  async sessionTicket(peer: PeerId, protocol: string): Promise<DirectTicket> {
    if (!this.sessionHandlers.has(protocol)) throw new RpcError('NOT_FOUND', `${protocol} is not offered on the direct channel`);
    const port = await this.listen();
    const now = Date.now();
    const id = peer.toString();
    let mine = 0;
    for (const [k, g] of this.sessionGrants) {
      if (g.expires <= now) this.sessionGrants.delete(k);
      else if (g.peer.toString() === id) mine++;
    }
    if (mine >= SESSION_TICKETS_PER_PEER) throw new RpcError('BUSY', `${SESSION_TICKETS_PER_PEER} session tickets of yours are unused`);
    if (this.sessionGrants.size >= MAX_GRANTS) this.sessionGrants.delete(this.sessionGrants.keys().next().value as string);
    const token = new Uint8Array(randomBytes(BULK_TOKEN_BYTES));
    const secret = new Uint8Array(randomBytes(DIRECT_SECRET_BYTES));
    this.sessionGrants.set(toHex(token), { peer, protocol, secret, expires: now + SESSION_TICKET_TTL_MS });
    return { v: 1, port, token, secret, ttlMs: SESSION_TICKET_TTL_MS };
  }

  /** Ends every ticket of a peer and its open connections (it was banned). */
  revoke(peer: string): void {
    for (const [k, g] of this.sessionGrants) if (g.peer.toString() === peer) this.sessionGrants.delete(k);
    for (const [s, p] of this.sockets) if (p !== undefined && p.toString() === peer) s.destroy();
    const g = this.byPeer.get(peer);
    if (g === undefined) return;
    this.byPeer.delete(peer);
    this.grants.delete(toHex(g.token));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets.keys()) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((r) => server.close(() => r()));
  }

  private prune(now: number): void {
    for (const [k, g] of this.grants) if (g.expires <= now) this.dropGrant(k);
  }

  private dropGrant(key: string): void {
    const g = this.grants.get(key);
    if (g === undefined) return;
    this.grants.delete(key);
    if (this.byPeer.get(g.peer.toString()) === g) this.byPeer.delete(g.peer.toString());
  }

  private listen(): Promise<number> {
    this.listening ??= new Promise<number>((resolve, reject) => {
      const server = createServer((socket) => {
        void this.serve(socket);
      });
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        this.server = server;
        resolve((server.address() as { port: number }).port);
      });
    });
    return this.listening;
  }

  private async serve(socket: Socket): Promise<void> {
    if (this.sockets.size >= MAX_SOCKETS) {
      socket.destroy();
      return;
    }
    this.sockets.set(socket, undefined);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    let onClose: (() => void) | undefined;
    socket.once('close', () => {
      this.sockets.delete(socket);
      onClose?.();
    });
    let token: Uint8Array;
    try {
      token = await readPrefix(socket, BULK_TOKEN_BYTES, TOKEN_DEADLINE_MS);
    } catch {
      socket.destroy();
      return;
    }
    const key = toHex(token);
    const session = this.sessionGrants.get(key);
    if (session !== undefined) {
      // A session ticket admits one connection: taken now, whatever follows.
      this.sessionGrants.delete(key);
      const id = session.peer.toString();
      const handler = this.sessionHandlers.get(session.protocol);
      const open = this.sessionsOf.get(id) ?? 0;
      if (handler === undefined || session.expires <= Date.now() || open >= SESSIONS_PER_PEER) {
        socket.destroy();
        return;
      }
      this.sessionsOf.set(id, open + 1);
      onClose = () => {
        const n = (this.sessionsOf.get(id) ?? 1) - 1;
        if (n > 0) this.sessionsOf.set(id, n);
        else this.sessionsOf.delete(id);
      };
      this.sockets.set(socket, session.peer);
      const stream = sealedStream(socket, sealedKeys(session.secret, token, 'responder'), `${session.protocol} (direct) from ${id.slice(-8)}`);
      socket.write(Uint8Array.of(SESSION_ACCEPTED));
      await handler(stream, session.peer);
      return;
    }
    const g = this.grants.get(key);
    if (g === undefined || g.expires <= Date.now() || g.sockets >= MAX_SOCKETS_PER_TICKET) {
      socket.destroy();
      return;
    }
    g.sockets++;
    onClose = () => {
      g.sockets--;
    };
    this.sockets.set(socket, g.peer);
    await this.serveTiles(socket, g.peer);
  }

  private async serveTiles(socket: Socket, peer: PeerId): Promise<void> {
    const stream = socketStream(socket);
    const reader = new FrameReader(stream);
    for (;;) {
      let request: Uint8Array;
      try {
        if (await withDeadline(stream, IDLE_MS, 'bulk request', () => reader.atEnd())) break;
        request = await withDeadline(stream, TOKEN_DEADLINE_MS, 'bulk request', () => reader.readFrame(TILE_LIMITS.requestBytes, 'bulk tile request'));
      } catch (err) {
        if (isBlyanError(err) && err.code !== 'P2P_TIMEOUT' && err.code !== 'P2P_STREAM_CLOSED') this.opts.onPeerError(peer, err);
        socket.destroy();
        return;
      }
      let reply: RpcReply;
      try {
        reply = this.opts.handleTile(request, peer);
      } catch (err) {
        const remote = toRemote(err);
        if (remote.local !== undefined) this.opts.onPeerError(peer, remote.local);
        try {
          await withDeadline(stream, this.opts.writeMs, 'bulk error', () => writeFrame(stream, [Uint8Array.of(STATUS_ERROR), errorContent(remote.code, remote.message)]));
        } catch {
          socket.destroy();
          return;
        }
        if (remote.local !== undefined) break;
        continue;
      }
      try {
        let bytes = 0;
        for (const p of reply.parts) bytes += p.byteLength;
        // The lent buffer is given back only once the socket no longer holds it.
        await withDeadline(stream, this.opts.writeMs, 'bulk tile', async () => {
          await writeFrame(stream, [Uint8Array.of(STATUS_OK), ...reply.parts]);
          await flushed(socket);
        });
        this.opts.onServed?.(peer, bytes);
      } catch {
        socket.destroy();
        return;
      } finally {
        reply.done?.();
      }
    }
    socket.end();
  }
}

