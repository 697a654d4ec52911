import '../polyfill.ts';
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { BlyanError, isBlyanError } from '../../errors.ts';
import { FrameReader, type FrameStream, withDeadline, writeFrame } from '../framing.ts';
import { errorContent, openStream, type RpcLimits, responseContent, responseFrameMax, STATUS_ERROR, STATUS_OK, toRemote } from './rpc.ts';

/**
 * Request/response on one long-lived stream per pair of peers (docs/expert-rpc.md §2), for protocols whose
 * exchanges are small and frequent — one per layer of every generated token. A fresh stream per exchange
 * (protocols/rpc.ts) costs a multistream-select round trip and a close handshake each time, several
 * milliseconds on a busy machine; here the stream is negotiated once and requests follow each other on it.
 *
 *   requester → responder   frame(u32be id ‖ request body)
 *   responder → requester   frame(u32be id ‖ status u8 ‖ content)       status and content as in rpc.ts
 *
 * The responder answers requests one at a time, in the order they came, each with the id of its request;
 * the requester may send the next before the last is answered (they queue in the stream). An error answer
 * (status 0x01) ends that request only; the session goes on. A frame over the limit, a frame without an id,
 * an answer to no request or out of order, or a deadline missed ends the session (the stream is aborted).
 */
export const ID_BYTES = 4;

function idBytes(id: number): Uint8Array {
  const b = new Uint8Array(ID_BYTES);
  new DataView(b.buffer).setUint32(0, id, false);
  return b;
}

function readId(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, ID_BYTES).getUint32(0, false);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export interface SessionServeOptions {
  readonly protocol: string;
  /** Read at every request, so a caller may change them while sessions run (hosted models change). */
  readonly limits: RpcLimits;
  /** Deadline for the rest of a request once its first byte arrived, then again for writing the answer. */
  readonly timeoutMs: number;
  /** A session with no request for this long is ended (the requester closes idle sessions sooner). */
  readonly idleMs: number;
  /** `connection`: the libp2p connection, absent on the direct channel (direct/sealedStream.ts). */
  readonly handle: (request: Uint8Array, peer: PeerId, connection?: Connection) => Promise<readonly Uint8Array[]> | readonly Uint8Array[];
  /** Told about every failure a peer caused, for scoring. */
  readonly onPeerError: (peer: PeerId, err: BlyanError) => void;
  readonly onServed?: (peer: PeerId, bytes: number) => void;
}

/** Waits for the next request's first byte, or the end of the session; false after idleMs of silence. */
async function nextRequest(reader: FrameReader, idleMs: number): Promise<'request' | 'end' | 'idle'> {
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<'idle'>((resolve) => {
    timer = setTimeout(() => resolve('idle'), idleMs);
  });
  try {
    return await Promise.race([reader.atEnd().then((end) => (end ? 'end' : 'request')), idle]);
  } finally {
    clearTimeout(timer);
  }
}

/** The stream handler of a session protocol. It never throws: a bad peer cannot stop the node. */
export function serveSession(opts: SessionServeOptions): (stream: Stream, connection: Connection) => Promise<void> {
  const serve = serveSessionStream(opts);
  return (stream, connection) => serve(stream, connection.remotePeer, connection);
}

/** Serves a session on any frame stream: a libp2p stream, or a sealed connection of the direct channel. */
export function serveSessionStream(opts: SessionServeOptions): (stream: FrameStream, peer: PeerId, connection?: Connection) => Promise<void> {
  return async (stream, peer, connection) => {
    const reader = new FrameReader(stream);
    const what = `${opts.protocol} request`;
    const fail = (err: unknown) => {
      stream.abort(asError(err));
      if (isBlyanError(err) && err.code !== 'P2P_STREAM_CLOSED') opts.onPeerError(peer, err);
    };
    const reply = (id: number, parts: readonly Uint8Array[]) =>
      withDeadline(stream, opts.timeoutMs, `${opts.protocol} response`, () => writeFrame(stream, [idBytes(id), ...parts]));
    for (;;) {
      let next: 'request' | 'end' | 'idle';
      try {
        next = await nextRequest(reader, opts.idleMs);
      } catch {
        stream.abort(new Error('session ended'));
        return;
      }
      if (next === 'end') {
        await stream.close().catch(() => undefined);
        return;
      }
      if (next === 'idle') {
        stream.abort(new BlyanError('P2P_TIMEOUT', `${opts.protocol}: session idle for ${opts.idleMs} ms`));
        return;
      }
      let id: number;
      let request: Uint8Array;
      try {
        const got = await withDeadline(stream, opts.timeoutMs, what, async () => {
          let length: number;
          try {
            length = await reader.readFrameLength(ID_BYTES + opts.limits.requestBytes, what);
          } catch (err) {
            // Too large: answer that request (its id follows the length), then end the session, since its body
            // is not read.
            if (!isBlyanError(err, 'P2P_FRAME_TOO_LARGE')) throw err;
            return { tooLarge: err, id: readId(await reader.readBytes(ID_BYTES, what)) };
          }
          if (length < ID_BYTES) throw new BlyanError('P2P_MALFORMED', `${what}: frame of ${length} bytes has no request id`);
          const body = await reader.readBytes(length, what);
          return { id: readId(body), request: body.subarray(ID_BYTES) };
        });
        if ('tooLarge' in got) {
          opts.onPeerError(peer, got.tooLarge);
          await reply(got.id, [Uint8Array.of(STATUS_ERROR), errorContent('TOO_LARGE', got.tooLarge.message)]).catch(() => undefined);
          stream.abort(got.tooLarge);
          return;
        }
        ({ id, request } = got);
      } catch (err) {
        fail(err);
        return;
      }
      let answer: readonly Uint8Array[];
      let bytes = 0;
      try {
        const parts = await opts.handle(request, peer, connection);
        for (const p of parts) bytes += p.byteLength;
        answer = [Uint8Array.of(STATUS_OK), ...parts];
      } catch (err) {
        const remote = toRemote(err);
        if (remote.local !== undefined) opts.onPeerError(peer, remote.local);
        answer = [Uint8Array.of(STATUS_ERROR), errorContent(remote.code, remote.message)];
        bytes = -1;
      }
      try {
        await reply(id, answer);
      } catch (err) {
        fail(err);
        return;
      }
      if (bytes >= 0) opts.onServed?.(peer, bytes);
    }
  };
}

interface Pending {
  readonly id: number;
  readonly limits: RpcLimits;
  readonly what: string;
  readonly resolve: (parts: Uint8Array[]) => void;
  readonly reject: (err: BlyanError) => void;
  timer: NodeJS.Timeout | undefined;
  /** Sent on a session that had answered before: a stream the responder closed meanwhile is worth one retry. */
  readonly reused: boolean;
}

/** One open session with one peer (the requesting side). */
class Session {
  private readonly reader: FrameReader;
  private readonly queue: Pending[] = [];
  private writes: Promise<void> = Promise.resolve();
  private nextId = 1;
  private answered = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    private readonly stream: FrameStream,
    private readonly what: string,
    private readonly idleMs: number,
    private readonly onClosed: () => void,
  ) {
    this.reader = new FrameReader(stream);
    void this.readLoop();
    this.armIdle();
  }

  call(body: Uint8Array, limits: RpcLimits, timeoutMs: number): Promise<Uint8Array[]> {
    clearTimeout(this.idleTimer);
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise((resolve, reject) => {
      const p: Pending = { id, limits, what: this.what, resolve, reject, timer: undefined, reused: this.answered > 0 };
      p.timer = setTimeout(() => this.abort(new BlyanError('P2P_TIMEOUT', `${this.what}: no complete answer within ${timeoutMs} ms`, { timeoutMs })), timeoutMs);
      this.queue.push(p);
      this.writes = this.writes.then(() => writeFrame(this.stream, [idBytes(id), body])).catch((err: unknown) => this.abort(err));
    });
  }

  /** Ends the session: every request waiting gets `err` (a BlyanError) or P2P_STREAM_CLOSED. */
  abort(err: unknown): void {
    if (this.closed && this.queue.length === 0) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.onClosed();
    const e = isBlyanError(err) ? err : new BlyanError('P2P_STREAM_CLOSED', `${this.what}: ${asError(err).message}`, {}, { cause: err });
    this.stream.abort(e);
    for (const p of this.queue.splice(0)) {
      clearTimeout(p.timer);
      p.reject(p.reused && e.code === 'P2P_STREAM_CLOSED' ? new BlyanError('P2P_STREAM_CLOSED', e.message, { reused: true }, { cause: e }) : e);
    }
  }

  /** Closes an idle session gracefully (the responder sees the end of the stream). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.onClosed();
    if (this.queue.length > 0) this.abort(new BlyanError('P2P_STREAM_CLOSED', `${this.what}: session closed`));
    else void this.stream.close().catch(() => undefined);
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.queue.length > 0 || this.closed) return;
    this.idleTimer = setTimeout(() => this.close(), this.idleMs);
    this.idleTimer.unref();
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        // The limit depends on the request answered, known only once the length is here: checked right after.
        const length = await this.reader.readFrameLength(0xffffffff, this.what);
        const head = this.queue[0];
        if (head === undefined) throw new BlyanError('P2P_MALFORMED', `${this.what}: an answer to no request`);
        const max = ID_BYTES + responseFrameMax(head.limits);
        if (length > max) throw new BlyanError('P2P_FRAME_TOO_LARGE', `${this.what}: frame of ${length} bytes exceeds the limit of ${max}`, { length, limit: max });
        if (length < ID_BYTES) throw new BlyanError('P2P_MALFORMED', `${this.what}: frame of ${length} bytes has no request id`);
        const id = readId(await this.reader.readBytes(ID_BYTES, this.what));
        if (id !== head.id) throw new BlyanError('P2P_MALFORMED', `${this.what}: answer to request ${id}, expected ${head.id}`);
        const parts: Uint8Array[] = [];
        await this.reader.readInto(length - ID_BYTES, this.what, (p) => parts.push(p));
        this.queue.shift();
        clearTimeout(head.timer);
        this.answered++;
        this.armIdle();
        try {
          head.resolve(responseContent(parts, head.limits, head.what));
        } catch (err) {
          head.reject(err as BlyanError);
          // A malformed answer or one over its limit condemns the session; a remote error answer does not.
          if (!isBlyanError(err, 'P2P_REMOTE_ERROR') && !isBlyanError(err, 'P2P_WRONG_GENESIS')) throw err;
        }
      }
    } catch (err) {
      this.abort(err);
    }
  }
}

export interface SessionRequestOptions {
  readonly limits: RpcLimits;
  /** Deadline for the whole exchange: opening the session if needed, the request, the complete answer. */
  readonly timeoutMs: number;
}

/**
 * The requesting side: one session per peer, opened on the first request and closed after `idleMs` without
 * one. Remote errors become typed BlyanErrors as in rpc.ts; the whole session fails with P2P_TIMEOUT,
 * P2P_STREAM_CLOSED, P2P_MALFORMED or P2P_FRAME_TOO_LARGE.
 */
export class RpcSessions {
  private readonly sessions = new Map<string, Promise<Session>>();
  private stopped = false;

  constructor(
    private readonly libp2p: Libp2p,
    private readonly protocol: string,
    private readonly idleMs = 30_000,
    /** Opens sessions on the direct channel when it can (direct/directSessions.ts); otherwise a libp2p stream. */
    private readonly direct?: { open(peer: PeerId, protocol: string, timeoutMs: number): Promise<FrameStream | undefined> },
  ) {}

  async request(peer: PeerId, body: Uint8Array, opts: SessionRequestOptions): Promise<Uint8Array[]> {
    try {
      return await this.once(peer, body, opts);
    } catch (err) {
      // The responder ended a session that had been idle just as this request went out: one retry on a new one.
      if (isBlyanError(err, 'P2P_STREAM_CLOSED') && err.data['reused'] === true && !this.stopped) return this.once(peer, body, opts);
      throw err;
    }
  }

  /** Open sessions (for status and tests). */
  get size(): number {
    return this.sessions.size;
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sessions.values()) void s.then((x) => x.close(), () => undefined);
    this.sessions.clear();
  }

  private async once(peer: PeerId, body: Uint8Array, opts: SessionRequestOptions): Promise<Uint8Array[]> {
    const t0 = performance.now();
    const session = await this.session(peer, opts.timeoutMs);
    return session.call(body, opts.limits, Math.max(1, opts.timeoutMs - (performance.now() - t0)));
  }

  private session(peer: PeerId, timeoutMs: number): Promise<Session> {
    if (this.stopped) return Promise.reject(new BlyanError('P2P_STREAM_CLOSED', `${this.protocol}: the node is stopping`));
    const key = peer.toString();
    const open = this.sessions.get(key);
    if (open !== undefined) return open;
    const what = `${this.protocol} from ${key.slice(-8)}`;
    const opening = (async () => {
      const t0 = performance.now();
      const direct = await this.direct?.open(peer, this.protocol, Math.floor(timeoutMs / 2));
      const stream = direct ?? (await openStream(this.libp2p, peer, this.protocol, Math.max(1, Math.floor(timeoutMs - (performance.now() - t0))), what));
      const s: Session = new Session(stream, direct === undefined ? what : `${what} (direct)`, this.idleMs, () => {
        if (this.sessions.get(key) === opening) this.sessions.delete(key);
      });
      if (this.stopped) s.close();
      return s;
    })();
    this.sessions.set(key, opening);
    opening.catch(() => {
      if (this.sessions.get(key) === opening) this.sessions.delete(key);
    });
    return opening;
  }
}
