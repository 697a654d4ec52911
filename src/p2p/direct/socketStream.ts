import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { BlyanError } from '../../errors.ts';
import type { FrameStream, StreamChunk } from '../framing.ts';

/**
 * A TCP socket seen as a frame stream (src/p2p/framing.ts), so the bulk channel reads and writes frames with
 * the same reader, limits and deadlines as libp2p streams. One reader per socket for its whole life: the
 * reader keeps bytes that arrived after a frame for the next one.
 */
export function socketStream(socket: Socket, receiver?: RingReceiver): FrameStream & { readonly socket: Socket } {
  const it = (receiver ?? socket)[Symbol.asyncIterator]() as AsyncIterator<StreamChunk>;
  return {
    socket,
    send: (data) => socket.write(data),
    onDrain: () => drained(socket, () => new Error('socket closed')),
    close: () => new Promise<void>((resolve) => socket.end(resolve)),
    abort: (err) => socket.destroy(err),
    [Symbol.asyncIterator]: () => it,
  };
}

/** Resolves at the socket's next `drain`; rejects with `closedError()` if it closes first. */
export function drained(socket: Socket, closedError: () => Error): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      socket.off('drain', ok);
      socket.off('close', closed);
      if (err === undefined) resolve();
      else reject(err);
    };
    const ok = () => done();
    const closed = () => done(closedError());
    socket.once('drain', ok);
    socket.once('close', closed);
  });
}

/**
 * Opens a TCP connection that must be up within `timeoutMs` (a firewalled port drops the attempt silently), and
 * adds it to `open` until it closes. Errors after the connection opened are left to its reader.
 */
export function connectWithin(opts: { host: string; port: number; onread?: NetConnectOpts['onread'] }, timeoutMs: number, what: string, open: Set<Socket>): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: opts.host, port: opts.port, noDelay: true, ...(opts.onread === undefined ? {} : { onread: opts.onread }) });
    const timer = setTimeout(() => socket.destroy(new BlyanError('P2P_TIMEOUT', `${what} to ${opts.host}:${opts.port}: not open within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.on('error', () => undefined);
      open.add(socket);
      socket.once('close', () => open.delete(socket));
      resolve(socket);
    });
  });
}

/** Resolves once everything written to `socket` so far has been handed to the kernel (a write callback). */
export function flushed(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(new Uint8Array(0), (err) => (err == null ? resolve() : reject(err)));
  });
}

/** Receive buffers in the ring, and their size: 64 × 64 KiB. */
const RING_SLOTS = 64;
const SLOT_BYTES = 64 * 1024;
/** Reading pauses once this many received chunks wait, so the ring never overwrites one still unread. */
const PAUSE_AT = RING_SLOTS - 16;

/**
 * Reads a socket into a fixed ring of buffers (Node's `onread`), with no allocation per read: a fresh 64 KiB
 * buffer per read costs page faults that on small VMs outweigh the copy (docs/sync-protocol.md §11). Each chunk
 * is a view into the ring, valid until the ring comes round again: the reader must copy or finish with a chunk
 * before it pulls about 16 more (FrameReader does: it holds a chunk only while a read needs it, and a caller
 * that keeps bytes past the next reads copies them — readTileInto copies its proof).
 */
export class RingReceiver {
  private readonly slots: Uint8Array[];
  private next = 0;
  private readonly queue: Uint8Array[] = [];
  private waiter: { resolve: (r: IteratorResult<Uint8Array>) => void; reject: (err: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  private socket: Socket | undefined;
  private paused = false;

  constructor() {
    const backing = new Uint8Array(RING_SLOTS * SLOT_BYTES);
    this.slots = Array.from({ length: RING_SLOTS }, (_, i) => backing.subarray(i * SLOT_BYTES, (i + 1) * SLOT_BYTES));
  }

  /** The `onread` option for net.connect. */
  get onread(): { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean } {
    return {
      buffer: () => {
        const slot = this.slots[this.next] as Uint8Array;
        this.next = (this.next + 1) % RING_SLOTS;
        return slot;
      },
      callback: (n, buf) => {
        this.deliver(buf.subarray(0, n));
        if (this.queue.length >= PAUSE_AT) {
          this.paused = true;
          return false;
        }
        return true;
      },
    };
  }

  /** Binds the socket (after connect): its end and errors finish the iteration. */
  attach(socket: Socket): void {
    this.socket = socket;
    socket.once('end', () => this.finish());
    socket.once('close', () => this.finish(this.ended ? undefined : new Error('socket closed')));
    socket.on('error', (err) => this.finish(err));
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => {
        const chunk = this.queue.shift();
        if (chunk !== undefined) {
          if (this.paused && this.queue.length < PAUSE_AT / 2) {
            this.paused = false;
            this.socket?.resume();
          }
          return Promise.resolve({ done: false, value: chunk });
        }
        if (this.failure !== undefined) return Promise.reject(this.failure);
        if (this.ended) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve, reject) => {
          this.waiter = { resolve, reject };
        });
      },
    };
  }

  private deliver(chunk: Uint8Array): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w.resolve({ done: false, value: chunk });
      return;
    }
    this.queue.push(chunk);
  }

  private finish(err?: Error): void {
    if (this.ended || this.failure !== undefined) return;
    if (err === undefined) this.ended = true;
    else this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    if (w === undefined) return;
    if (err === undefined) w.resolve({ done: true, value: undefined });
    else w.reject(err);
  }
}

/**
 * The first `n` bytes a socket receives, read before anything else takes it (the bulk server's token, the
 * direct channel's accept byte): bytes after them are put back for whoever reads next, and the socket is left
 * paused. Rejects when the connection ends first or after `ms`.
 */
export function readPrefix(socket: Socket, n: number, ms: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const done = (err: Error | undefined, prefix?: Uint8Array) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      if (err !== undefined) reject(err);
      else resolve(prefix as Uint8Array);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.byteLength;
      if (got < n) return;
      socket.pause();
      const all = Buffer.concat(chunks);
      if (all.byteLength > n) socket.unshift(all.subarray(n));
      done(undefined, new Uint8Array(all.subarray(0, n)));
    };
    const onEnd = () => done(new Error(`connection ended within its first ${n} bytes`));
    const timer = setTimeout(() => done(new Error(`fewer than ${n} bytes within ${ms} ms`)), ms);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.resume();
  });
}
