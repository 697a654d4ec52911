import type { Socket } from 'node:net';
import type { PeerId } from '@libp2p/interface';
import type { FrameStream } from '../framing.ts';
import type { Host } from '../host.ts';
import { requestDirectTicket } from '../protocols/direct.ts';
import { directHost } from './bulkClient.ts';
import { SESSION_ACCEPTED } from './directServer.ts';
import { sealedKeys, sealedStream } from './sealedStream.ts';
import { connectWithin, readPrefix } from './socketStream.ts';

/**
 * After a failure of a peer's direct channel, its sessions go over libp2p this long before it is tried again;
 * each further failure in a row doubles the wait, up to MAX_RETRY_AFTER_MS (a firewalled port costs a session
 * opening the connect timeout only now and then).
 */
const RETRY_AFTER_MS = 60_000;
const MAX_RETRY_AFTER_MS = 30 * 60_000;
/** Opening the direct channel (ticket, connection, accept) may take this long before libp2p is used instead. */
const OPEN_TIMEOUT_MS = 3_000;

export interface DirectSessionStats {
  /** Sessions opened on the direct channel. */
  opened: number;
  /** Sessions that went to libp2p because the direct channel could not be opened (or failed lately). */
  fallbacks: number;
  /** Direct sessions that ended because the channel broke (a record that did not open, a reset). */
  broken: number;
}

/**
 * The requester's side of sealed sessions on the direct channel (docs/expert-rpc.md §2.1): `open` asks a
 * ticket over libp2p, connects to the peer's direct port on the address of the libp2p connection, presents
 * the token, and returns a sealed frame stream — or undefined, and the caller opens a libp2p stream as before:
 * when the peer has no direct address or does not offer the protocol there (an older node, bulk off), or the
 * channel failed with it in the last minute. A channel failure costs the peer nothing: only what the session
 * itself carries can.
 */
export class DirectSessions {
  readonly stats: DirectSessionStats = { opened: 0, fallbacks: 0, broken: 0 };
  /** Per peer: when its direct channel last failed, and how many times in a row. */
  private readonly failures = new Map<string, { at: number; times: number }>();
  private readonly sockets = new Set<Socket>();
  private stopped = false;

  constructor(private readonly libp2p: Host) {}

  async open(peer: PeerId, protocol: string, timeoutMs: number): Promise<FrameStream | undefined> {
    const id = peer.toString();
    const failed = this.failures.get(id);
    if (this.stopped || (failed !== undefined && Date.now() - failed.at < Math.min(MAX_RETRY_AFTER_MS, RETRY_AFTER_MS * 2 ** (failed.times - 1)))) {
      this.stats.fallbacks++;
      return undefined;
    }
    const host = directHost(this.libp2p, peer);
    if (host === undefined) {
      this.stats.fallbacks++;
      return undefined;
    }
    const budget = Math.max(1, Math.floor(Math.min(timeoutMs, OPEN_TIMEOUT_MS)));
    const t0 = Date.now();
    let socket: Socket | undefined;
    try {
      const ticket = await requestDirectTicket(this.libp2p, peer, protocol, budget);
      socket = await connectWithin({ host, port: ticket.port }, Math.max(1, budget - (Date.now() - t0)), 'direct connection', this.sockets);
      socket.write(ticket.token);
      const accepted = await readPrefix(socket, 1, Math.max(1, budget - (Date.now() - t0)));
      if (accepted[0] !== SESSION_ACCEPTED) throw new Error(`unexpected accept byte ${accepted[0]}`);
      const what = `${protocol} (direct) to ${id.slice(-8)}`;
      const stream = sealedStream(socket, sealedKeys(ticket.secret, ticket.token, 'requester'), what, {
        onBroken: () => {
          this.stats.broken++;
          this.fail(id);
        },
      });
      this.stats.opened++;
      this.failures.delete(id);
      return stream;
    } catch {
      socket?.destroy();
      this.fail(id);
      this.stats.fallbacks++;
      return undefined;
    }
  }

  private fail(peer: string): void {
    const times = (this.failures.get(peer)?.times ?? 0) + 1;
    if (this.failures.size >= 4096 && !this.failures.has(peer)) this.failures.delete(this.failures.keys().next().value as string);
    this.failures.set(peer, { at: Date.now(), times });
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}
