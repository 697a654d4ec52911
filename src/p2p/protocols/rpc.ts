import '../polyfill.ts';
import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../../cborBounds.ts';
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import type { z } from 'zod';
import { BlyanError, isBlyanError } from '../../errors.ts';
import { FrameReader, joinParts, partsLength, sliceParts, withDeadline, writeFrame } from '../framing.ts';

/**
 * One request, one response, on a fresh stream per exchange (docs/sync-protocol.md §3):
 *
 *   requester → responder   frame(request body)            then closes its write side
 *   responder → requester   frame(status u8 ‖ content)     then closes
 *
 * status 0x00: content is the protocol's answer. status 0x01: content is DAG-CBOR {code, message}
 * with a code from REMOTE_ERROR_CODES. Limits and deadlines are per protocol and per direction.
 */
export const STATUS_OK = 0x00;
export const STATUS_ERROR = 0x01;

export const REMOTE_ERROR_CODES = [
  'BAD_REQUEST',
  'TOO_LARGE',
  'NOT_FOUND',
  'WRONG_GENESIS',
  'STATUS_REQUIRED',
  'BUSY',
  'INTERNAL',
  // /blyan/expert/2 (docs/expert-rpc.md): the expert version asked is not served here; shapes that do not fit.
  'EXPERT_NOT_HOSTED',
  'BAD_SHAPE',
] as const;
export type RemoteErrorCode = (typeof REMOTE_ERROR_CODES)[number];

/** Longest error frame a responder sends (a code and a short message). */
export const ERROR_CONTENT_MAX = 1024;

export interface RpcLimits {
  /** Largest request body the responder reads. */
  readonly requestBytes: number;
  /** Largest response content (after the status byte) the requester reads. */
  readonly responseBytes: number;
}

/** An error the handler wants the requester to see, with a wire code. */
export class RpcError extends Error {
  constructor(
    readonly remoteCode: RemoteErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** Decodes a DAG-CBOR body and checks its shape; anything else is P2P_MALFORMED. */
export function decodeBody<T>(bytes: Uint8Array, schema: z.ZodType<T>, what: string): T {
  let value: unknown;
  try {
    value = decodeUntrustedCbor(bytes);
  } catch (err) {
    throw new BlyanError('P2P_MALFORMED', `${what}: not DAG-CBOR (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BlyanError('P2P_MALFORMED', `${what}: ${issue === undefined ? 'bad shape' : `${issue.path.join('.')} ${issue.message}`.trim()}`);
  }
  return parsed.data;
}

export function errorContent(code: RemoteErrorCode, message: string): Uint8Array {
  return dagCbor.encode({ code, message: message.slice(0, 512) });
}

/**
 * A response whose parts are lent (e.g. reused buffers): serveRpc calls `done` exactly once, when the stream
 * holds no reference to them any more — after the response is written and the stream closed, or after the
 * write failed and the stream was aborted. A handler that throws has no reply, so it releases what it took
 * itself. The stream's layers below (the connection's encrypter) must not hold the parts after they took
 * them: src/p2p/noiseFast.ts's `encryptsOnSend` tells whether a connection's does.
 */
export interface RpcReply {
  readonly parts: readonly Uint8Array[];
  readonly done?: () => void;
}

export interface ServeOptions {
  readonly protocol: string;
  readonly limits: RpcLimits;
  /** Deadline for reading the request, then again for writing the response. */
  readonly timeoutMs: number;
  /**
   * Produces the response content (status byte excluded) in parts, or throws RpcError / BlyanError. A reply
   * with `done` lends its parts: see RpcReply.
   */
  readonly handle: (request: Uint8Array, peer: PeerId, connection: Connection) => Promise<readonly Uint8Array[] | RpcReply> | readonly Uint8Array[] | RpcReply;
  /** Told about every failure a peer caused, for scoring; the stream is already dealt with. */
  readonly onPeerError: (peer: PeerId, err: BlyanError) => void;
  /** Called after a successful response was written (counters). */
  readonly onServed?: (peer: PeerId, bytes: number) => void;
}

/** The wire code and message for a handler's failure; `local` is set when the requester is to blame. */
export function toRemote(err: unknown): { code: RemoteErrorCode; message: string; local: BlyanError | undefined } {
  if (err instanceof RpcError) return { code: err.remoteCode, message: err.message, local: undefined };
  if (isBlyanError(err)) {
    if (err.code === 'P2P_FRAME_TOO_LARGE') return { code: 'TOO_LARGE', message: err.message, local: err };
    if (err.code === 'P2P_MALFORMED') return { code: 'BAD_REQUEST', message: err.message, local: err };
    if (err.code === 'NOT_FOUND') return { code: 'NOT_FOUND', message: err.message, local: undefined };
  }
  return { code: 'INTERNAL', message: 'internal error', local: undefined };
}

/** The stream handler of a request/response protocol. It never throws: a bad peer cannot stop the node. */
export function serveRpc(opts: ServeOptions): (stream: Stream, connection: Connection) => Promise<void> {
  return async (stream, connection) => {
    const peer = connection.remotePeer;
    const reader = new FrameReader(stream);
    let request: Uint8Array;
    try {
      request = await withDeadline(stream, opts.timeoutMs, `${opts.protocol} request`, () => reader.readFrame(opts.limits.requestBytes, `${opts.protocol} request`));
      // One frame per stream: bytes after it are a protocol violation, not a second request.
      if (reader.pending > 0) throw new BlyanError('P2P_MALFORMED', `${opts.protocol} request: ${reader.pending} bytes after the request frame`);
    } catch (err) {
      await replyError(stream, err, opts, peer);
      return;
    }
    let reply: RpcReply;
    try {
      const answer = await opts.handle(request, peer, connection);
      reply = isPartsList(answer) ? { parts: answer } : answer;
    } catch (err) {
      await replyError(stream, err, opts, peer);
      return;
    }
    const { parts } = reply;
    try {
      let bytes = 0;
      for (const p of parts) bytes += p.byteLength;
      await withDeadline(stream, opts.timeoutMs, `${opts.protocol} response`, async () => {
        await writeFrame(stream, [Uint8Array.of(STATUS_OK), ...parts]);
        await stream.close();
      });
      opts.onServed?.(peer, bytes);
    } catch (err) {
      // abort() drops whatever of the parts the stream still buffers, so they are free after it too.
      stream.abort(err instanceof Error ? err : new Error(String(err)));
      if (isBlyanError(err) && err.code === 'P2P_TIMEOUT') opts.onPeerError(peer, err);
    } finally {
      try {
        reply.done?.();
      } catch {
        // A release hook that throws must not stop the node.
      }
    }
  };
}

function isPartsList(answer: readonly Uint8Array[] | RpcReply): answer is readonly Uint8Array[] {
  return Array.isArray(answer);
}

async function replyError(stream: Stream, err: unknown, opts: ServeOptions, peer: PeerId): Promise<void> {
  if (isBlyanError(err) && (err.code === 'P2P_TIMEOUT' || err.code === 'P2P_STREAM_CLOSED')) {
    // A slow or vanished requester gets no answer: the stream is already aborted or gone.
    stream.abort(err);
    opts.onPeerError(peer, err);
    return;
  }
  const remote = toRemote(err);
  if (remote.local !== undefined) opts.onPeerError(peer, remote.local);
  try {
    await withDeadline(stream, Math.min(opts.timeoutMs, 2000), `${opts.protocol} error reply`, async () => {
      await writeFrame(stream, [Uint8Array.of(STATUS_ERROR), errorContent(remote.code, remote.message)]);
      await stream.close();
    });
  } catch {
    stream.abort(new Error('error reply failed'));
  }
}

export interface RequestOptions {
  readonly protocol: string;
  readonly limits: RpcLimits;
  /** Deadline for the whole exchange: dial, request, complete response. */
  readonly timeoutMs: number;
}

/** Opens a stream of `protocol` to `peer` within `timeoutMs`: P2P_TIMEOUT, or P2P_STREAM_CLOSED when it cannot. */
export async function openStream(libp2p: Libp2p, peer: PeerId, protocol: string, timeoutMs: number, what: string): Promise<Stream> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    return await libp2p.dialProtocol(peer, protocol, { signal });
  } catch (err) {
    if (signal.aborted) throw new BlyanError('P2P_TIMEOUT', `${what}: could not open a stream within ${timeoutMs} ms`, {}, { cause: err });
    throw new BlyanError('P2P_STREAM_CLOSED', `${what}: could not open a stream: ${(err as Error).message}`, {}, { cause: err });
  }
}

/** Sends one request and returns the response content; a remote error becomes a typed BlyanError. */
export async function rpcRequest(libp2p: Libp2p, peer: PeerId, body: Uint8Array, opts: RequestOptions): Promise<Uint8Array> {
  return joinParts(await rpcRequestParts(libp2p, peer, body, opts));
}

/** rpcRequest returning the content as received chunks (views), so a 4 MiB answer is not copied here. */
export async function rpcRequestParts(libp2p: Libp2p, peer: PeerId, body: Uint8Array, opts: RequestOptions): Promise<Uint8Array[]> {
  const what = `${opts.protocol} from ${peer.toString().slice(-8)}`;
  const stream = await openStream(libp2p, peer, opts.protocol, opts.timeoutMs, what);
  const reader = new FrameReader(stream);
  const frame = await withDeadline(stream, opts.timeoutMs, what, async () => {
    await writeFrame(stream, [body]);
    await stream.close();
    return reader.readFrameParts(responseFrameMax(opts.limits), what);
  }).catch((err: unknown) => {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw isBlyanError(err) ? err : new BlyanError('P2P_STREAM_CLOSED', `${what}: ${(err as Error).message}`, {}, { cause: err });
  });
  return responseContent(frame, opts.limits, what);
}

/** Largest response frame a requester reads: the OK content limit or an error, plus the status byte. */
export function responseFrameMax(limits: RpcLimits): number {
  return 1 + Math.max(limits.responseBytes, ERROR_CONTENT_MAX);
}

/**
 * A response frame (status ‖ content, as received parts) → the content of an OK answer; an error answer
 * becomes a typed BlyanError (P2P_REMOTE_ERROR with data.remote, or P2P_WRONG_GENESIS).
 */
export function responseContent(frame: readonly Uint8Array[], limits: RpcLimits, what: string): Uint8Array[] {
  const length = partsLength(frame);
  if (length === 0) throw new BlyanError('P2P_MALFORMED', `${what}: empty response frame`);
  const status = (frame[0] as Uint8Array)[0];
  const content = sliceParts(frame, 1, length);
  if (status === STATUS_OK) {
    if (length - 1 > limits.responseBytes) {
      throw new BlyanError('P2P_FRAME_TOO_LARGE', `${what}: response of ${length - 1} bytes exceeds ${limits.responseBytes}`);
    }
    return content;
  }
  if (status !== STATUS_ERROR || length - 1 > ERROR_CONTENT_MAX) throw new BlyanError('P2P_MALFORMED', `${what}: unknown response status ${status}`);
  const e = decodeRemoteError(joinParts(content), what);
  if (e.code === 'WRONG_GENESIS') throw new BlyanError('P2P_WRONG_GENESIS', `${what}: ${e.message}`, { remote: e.code });
  throw new BlyanError('P2P_REMOTE_ERROR', `${what}: ${e.code}: ${e.message}`, { remote: e.code });
}

/**
 * rpcRequest for a large answer read straight off the stream: `readContent` gets the reader positioned at
 * the content of an OK response and its length (already checked against the limit), and must read exactly
 * that many bytes — e.g. a tile checked and copied to its place chunk by chunk as it arrives. The deadline
 * covers it; a throw from it aborts the stream. Remote errors as rpcRequest.
 */
export async function rpcRequestStream<T>(libp2p: Libp2p, peer: PeerId, body: Uint8Array, opts: RequestOptions, readContent: (reader: FrameReader, length: number, what: string) => Promise<T>): Promise<T> {
  const what = `${opts.protocol} from ${peer.toString().slice(-8)}`;
  const stream = await openStream(libp2p, peer, opts.protocol, opts.timeoutMs, what);
  const reader = new FrameReader(stream);
  const outcome = await withDeadline(stream, opts.timeoutMs, what, async (): Promise<{ ok: T } | { error: Uint8Array }> => {
    await writeFrame(stream, [body]);
    await stream.close();
    const length = await reader.readFrameLength(1 + Math.max(opts.limits.responseBytes, ERROR_CONTENT_MAX), what);
    if (length === 0) throw new BlyanError('P2P_MALFORMED', `${what}: empty response frame`);
    const status = (await reader.readBytes(1, what))[0];
    if (status === STATUS_OK) {
      if (length - 1 > opts.limits.responseBytes) {
        throw new BlyanError('P2P_FRAME_TOO_LARGE', `${what}: response of ${length - 1} bytes exceeds ${opts.limits.responseBytes}`);
      }
      return { ok: await readContent(reader, length - 1, what) };
    }
    if (status !== STATUS_ERROR || length - 1 > ERROR_CONTENT_MAX) throw new BlyanError('P2P_MALFORMED', `${what}: unknown response status ${status}`);
    return { error: await reader.readBytes(length - 1, what) };
  }).catch((err: unknown) => {
    stream.abort(err instanceof Error ? err : new Error(String(err)));
    throw isBlyanError(err) ? err : new BlyanError('P2P_STREAM_CLOSED', `${what}: ${(err as Error).message}`, {}, { cause: err });
  });
  if ('ok' in outcome) return outcome.ok;
  const e = decodeRemoteError(outcome.error, what);
  if (e.code === 'WRONG_GENESIS') throw new BlyanError('P2P_WRONG_GENESIS', `${what}: ${e.message}`, { remote: e.code });
  throw new BlyanError('P2P_REMOTE_ERROR', `${what}: ${e.code}: ${e.message}`, { remote: e.code });
}

export function decodeRemoteError(content: Uint8Array, what: string): { code: RemoteErrorCode; message: string } {
  let value: unknown;
  try {
    value = decodeUntrustedCbor(content);
  } catch {
    throw new BlyanError('P2P_MALFORMED', `${what}: error response is not DAG-CBOR`);
  }
  const v = value as { code?: unknown; message?: unknown } | null;
  const code = typeof v?.code === 'string' && (REMOTE_ERROR_CODES as readonly string[]).includes(v.code) ? (v.code as RemoteErrorCode) : 'INTERNAL';
  const message = typeof v?.message === 'string' ? v.message.slice(0, 512) : '';
  return { code, message };
}
