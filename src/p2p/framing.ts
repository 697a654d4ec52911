import { BlyanError } from '../errors.ts';

/**
 * Frames on a request/response stream (docs/sync-protocol.md §2):
 *
 *   frame = u32be(length) ‖ body          length ≤ the protocol's limit for that direction
 *
 * The length is checked the moment its 4 bytes arrive, before any body byte is buffered, so an
 * oversized frame costs the reader nothing. Every read and write runs under a deadline for the whole
 * frame (not an idle timer): a peer that trickles one byte a second is cut off like a silent one.
 */
export const FRAME_HEADER_BYTES = 4;

/**
 * A chunk as a libp2p v3 stream yields it: a Uint8Array, or a Uint8ArrayList (uint8arraylist), which iterates
 * over its parts. `subarray()` on a list of several parts copies them into one new array.
 */
export type StreamChunk = Uint8Array | { readonly byteLength: number; subarray(): Uint8Array; readonly [Symbol.iterator]?: () => Iterator<Uint8Array> };

/** What a frame reader and writer need of a libp2p v3 stream (tests can pass a fake). */
export interface FrameStream {
  send(data: Uint8Array): boolean;
  onDrain(options?: { signal?: AbortSignal }): Promise<void>;
  close(): Promise<void>;
  abort(err: Error): void;
  [Symbol.asyncIterator](): AsyncIterator<StreamChunk>;
}

export function frameHeader(length: number): Uint8Array {
  const h = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(h.buffer).setUint32(0, length, false);
  return h;
}

/** Reads length-prefixed frames from a stream, refusing any frame longer than the limit given per read. */
export class FrameReader {
  private readonly it: AsyncIterator<StreamChunk>;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private ended = false;

  constructor(stream: FrameStream) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** Bytes received after the last complete frame. */
  get pending(): number {
    return this.buffered;
  }

  async readFrame(maxBytes: number, what: string): Promise<Uint8Array> {
    const length = await this.readLength(maxBytes, what);
    await this.fill(length, what);
    return this.take(length);
  }

  /** The next frame's body as the received chunks (views, no copy): large tiles are copied once, by the caller. */
  async readFrameParts(maxBytes: number, what: string): Promise<Uint8Array[]> {
    const length = await this.readLength(maxBytes, what);
    await this.fill(length, what);
    const parts: Uint8Array[] = [];
    let left = length;
    while (left > 0) {
      const c = this.chunks[0] as Uint8Array;
      const k = Math.min(c.byteLength, left);
      parts.push(c.subarray(0, k));
      if (k === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      left -= k;
    }
    this.buffered -= length;
    return parts;
  }

  /**
   * Reads a frame piece by piece: its length (checked against the limit), then `readBytes` / `readInto` for
   * exactly that many bytes in total. For a large body that should be checked and copied as it arrives.
   */
  readFrameLength(maxBytes: number, what: string): Promise<number> {
    return this.readLength(maxBytes, what);
  }

  /** The next n bytes in one array (a view when they arrived in one chunk). */
  async readBytes(n: number, what: string): Promise<Uint8Array> {
    await this.fill(n, what);
    return this.take(n);
  }

  /** Hands the next n bytes to `sink` as they arrive, as views on the received chunks (no copy here). */
  async readInto(n: number, what: string, sink: (part: Uint8Array) => void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0) await this.fill(1, what);
      const c = this.chunks[0] as Uint8Array;
      const k = Math.min(c.byteLength, left);
      if (k === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      this.buffered -= k;
      left -= k;
      sink(k === c.byteLength ? c : c.subarray(0, k));
    }
  }

  private async readLength(maxBytes: number, what: string): Promise<number> {
    await this.fill(FRAME_HEADER_BYTES, what);
    const head = this.take(FRAME_HEADER_BYTES);
    const length = new DataView(head.buffer, head.byteOffset, FRAME_HEADER_BYTES).getUint32(0, false);
    if (length > maxBytes) {
      throw new BlyanError('P2P_FRAME_TOO_LARGE', `${what}: frame of ${length} bytes exceeds the limit of ${maxBytes}`, { length, limit: maxBytes });
    }
    return length;
  }

  /** True when the remote closed its side with nothing after the frames read so far. */
  async atEnd(): Promise<boolean> {
    if (this.buffered > 0) return false;
    if (this.ended) return true;
    const r = await this.it.next();
    if (r.done === true) {
      this.ended = true;
      return true;
    }
    this.pushChunk(r.value);
    return this.buffered === 0 ? this.atEnd() : false;
  }

  /** Keeps the parts of a chunk as views: a tile arrives in 64 KiB pieces and is copied once, by its reader. */
  private pushChunk(chunk: StreamChunk): void {
    if (chunk instanceof Uint8Array) this.push(chunk);
    else if (chunk[Symbol.iterator] !== undefined) for (const part of chunk as Iterable<Uint8Array>) this.push(part);
    else this.push(chunk.subarray());
  }

  private push(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.chunks.push(bytes);
    this.buffered += bytes.byteLength;
  }

  private async fill(n: number, what: string): Promise<void> {
    while (this.buffered < n) {
      if (this.ended) throw new BlyanError('P2P_STREAM_CLOSED', `${what}: stream ended after ${this.buffered} of ${n} expected bytes`);
      const r = await this.it.next();
      if (r.done === true) this.ended = true;
      else this.pushChunk(r.value);
    }
  }

  /** Removes n bytes from the front; one copy only when they span several chunks. */
  private take(n: number): Uint8Array {
    const first = this.chunks[0];
    if (n === 0) return new Uint8Array(0);
    if (first !== undefined && first.byteLength >= n) {
      const out = first.subarray(0, n);
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0] as Uint8Array;
      const k = Math.min(c.byteLength, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (k === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }
}

/**
 * Frames up to this size go out as one send: each send is a Yamux frame, a Noise message and a socket
 * write of its own, which for small frames costs far more than copying them together.
 */
const COALESCE_BYTES = 64 * 1024;

/** Writes one frame (its body given in parts, so a 4 MiB tile is never copied), honouring back-pressure. */
export async function writeFrame(stream: FrameStream, parts: readonly Uint8Array[]): Promise<void> {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  if (length <= COALESCE_BYTES) {
    const frame = new Uint8Array(FRAME_HEADER_BYTES + length);
    new DataView(frame.buffer).setUint32(0, length, false);
    let off = FRAME_HEADER_BYTES;
    for (const p of parts) {
      frame.set(p, off);
      off += p.byteLength;
    }
    if (!stream.send(frame)) await stream.onDrain();
    return;
  }
  if (!stream.send(frameHeader(length))) await stream.onDrain();
  for (const p of parts) {
    if (p.byteLength === 0) continue;
    if (!stream.send(p)) await stream.onDrain();
  }
}

/**
 * Runs `fn` with a deadline on the whole exchange. On expiry the stream is aborted, which makes any
 * pending read or drain fail; that failure is reported as P2P_TIMEOUT rather than as a closed stream.
 */
export async function withDeadline<T>(stream: FrameStream, ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stream.abort(new BlyanError('P2P_TIMEOUT', `${what}: no complete answer within ${ms} ms`));
  }, ms);
  try {
    return await fn();
  } catch (err) {
    if (timedOut) throw new BlyanError('P2P_TIMEOUT', `${what}: no complete answer within ${ms} ms`, { timeoutMs: ms }, { cause: err });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Total length of a list of parts. */
export function partsLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  return n;
}

/** Bytes start … end of a list of parts as views (no copy). */
export function sliceParts(parts: readonly Uint8Array[], start: number, end: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  for (const p of parts) {
    const a = Math.max(start, off);
    const b = Math.min(end, off + p.byteLength);
    if (a < b) out.push(p.subarray(a - off, b - off));
    off += p.byteLength;
    if (off >= end) break;
  }
  return out;
}

/** Copies parts into one array (no copy when there is a single part). */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(partsLength(parts));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
