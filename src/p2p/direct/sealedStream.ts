import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import type { Socket } from 'node:net';
import { BlyanError, isBlyanError } from '../../errors.ts';
import type { FrameStream, StreamChunk } from '../framing.ts';
import { drained } from './socketStream.ts';

/**
 * A TCP socket sealed with ChaCha20-Poly1305 (docs/expert-rpc.md §2.1), as a frame stream: what a session
 * protocol sends over the direct channel instead of a libp2p stream, saving Yamux and the JavaScript Noise
 * layer on every small exchange. Each `send` becomes one or more records
 *
 *   u32be n ‖ ciphertext ‖ 16-byte tag          (n = ciphertext + tag bytes, at most RECORD_MAX + 16)
 *
 * sealed under the sender's direction key with nonce = 4 zero bytes ‖ u64le record counter (0, 1, 2, … per
 * direction, never sent). A record that is cut, reordered, replayed, dropped or altered fails to open, and the
 * stream ends with P2P_STREAM_CLOSED (data.reason P2P_BAD_DATA). The keys come from a secret given once, over the authenticated libp2p
 * connection, for exactly one TCP connection (protocols/direct.ts): a counter never meets a key twice.
 */
export const RECORD_MAX = 256 * 1024;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

export interface SealedKeys {
  /** Seals what this side sends. */
  readonly send: Uint8Array;
  /** Opens what this side receives. */
  readonly receive: Uint8Array;
}

/** Both direction keys from a ticket's secret and token: HKDF-SHA256, one label per direction. */
export function sealedKeys(secret: Uint8Array, token: Uint8Array, side: 'requester' | 'responder'): SealedKeys {
  const key = (label: string) => new Uint8Array(hkdfSync('sha256', secret, token, `blyan direct/1 ${label}`, KEY_BYTES));
  const toResponder = key('requester to responder');
  const toRequester = key('responder to requester');
  return side === 'requester' ? { send: toResponder, receive: toRequester } : { send: toRequester, receive: toResponder };
}

function nonce(counter: bigint): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, counter, true);
  return n;
}

/** Seals one plaintext into one record (header, ciphertext and tag in one buffer: one write). */
export function sealRecord(key: Uint8Array, counter: bigint, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: TAG_BYTES });
  const out = new Uint8Array(4 + plaintext.byteLength + TAG_BYTES);
  new DataView(out.buffer).setUint32(0, plaintext.byteLength + TAG_BYTES, false);
  const body = c.update(plaintext);
  out.set(body, 4);
  c.final();
  out.set(c.getAuthTag(), 4 + body.byteLength);
  return out;
}

/** Opens a record's ciphertext ‖ tag; throws P2P_BAD_DATA if it does not authenticate under this counter. */
export function openRecord(key: Uint8Array, counter: bigint, sealed: Uint8Array, what: string): Uint8Array {
  const d = createDecipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: TAG_BYTES });
  d.setAuthTag(sealed.subarray(sealed.byteLength - TAG_BYTES));
  const plain = d.update(sealed.subarray(0, sealed.byteLength - TAG_BYTES));
  try {
    d.final();
  } catch {
    throw new BlyanError('P2P_BAD_DATA', `${what}: record ${counter} does not authenticate (altered, replayed or out of order)`);
  }
  return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
}

/**
 * The socket as a FrameStream of plaintext. Reading pauses the socket while decrypted chunks wait unread, so a
 * peer that sends faster than the session reads fills its own TCP window, not this node's memory. `onBroken`
 * hears of a failure of the channel itself — a record that does not open, a malformed record, a reset — not of
 * a clean end or of `abort`.
 */
export function sealedStream(socket: Socket, keys: SealedKeys, what: string, opts: { readonly onBroken?: (err: Error) => void } = {}): FrameStream & { readonly socket: Socket } {
  let sendCounter = 0n;
  let receiveCounter = 0n;
  let pending: Uint8Array = new Uint8Array(0);
  const ready: Uint8Array[] = [];
  let waiter: { resolve: (r: IteratorResult<StreamChunk>) => void; reject: (err: Error) => void } | undefined;
  let ended = false;
  let failure: Error | undefined;

  const finish = (err?: Error) => {
    if (ended || failure !== undefined) return;
    if (err === undefined) ended = true;
    else failure = err;
    const w = waiter;
    waiter = undefined;
    if (w === undefined) return;
    if (err === undefined) w.resolve({ done: true, value: undefined });
    else w.reject(err);
  };
  // Whoever is on the path can break the channel (cut it, alter a record): to the session that is a lost
  // connection, as a broken Noise frame is on libp2p, never a fault of the peer at the other end.
  const broken = (err: Error) => {
    if (ended || failure !== undefined) return;
    socket.destroy();
    opts.onBroken?.(err);
    finish(new BlyanError('P2P_STREAM_CLOSED', `${what}: direct channel broken: ${err.message}`, { channel: 'direct', reason: isBlyanError(err) ? err.code : 'ERROR' }, { cause: err }));
  };
  const deliver = (chunk: Uint8Array) => {
    const w = waiter;
    if (w !== undefined) {
      waiter = undefined;
      w.resolve({ done: false, value: chunk });
      return;
    }
    ready.push(chunk);
    if (ready.length >= 16) socket.pause();
  };
  /** Chunks received after `pending`, joined to it only once they complete a record (one copy per record). */
  const later: Uint8Array[] = [];
  let laterBytes = 0;
  /** Bytes the record at the start of `pending` needs in all (4 while its length is not known yet). */
  const needed = (): number => {
    if (pending.byteLength < 4) return 4;
    const n = new DataView(pending.buffer, pending.byteOffset, 4).getUint32(0, false);
    if (n < TAG_BYTES || n > RECORD_MAX + TAG_BYTES) throw new BlyanError('P2P_MALFORMED', `${what}: record of ${n} bytes (at most ${RECORD_MAX + TAG_BYTES})`);
    return 4 + n;
  };
  const parse = () => {
    for (;;) {
      const need = needed();
      if (pending.byteLength + laterBytes < need) return;
      if (pending.byteLength < need) {
        pending = concat([pending, ...later.splice(0)]);
        laterBytes = 0;
        continue;
      }
      const plain = openRecord(keys.receive, receiveCounter, pending.subarray(4, need), what);
      receiveCounter++;
      pending = pending.subarray(need);
      if (plain.byteLength > 0) deliver(plain);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (pending.byteLength === 0 && laterBytes === 0) pending = bytes;
    else {
      later.push(bytes);
      laterBytes += bytes.byteLength;
    }
    try {
      parse();
    } catch (err) {
      broken(err as Error);
    }
  });
  socket.once('end', () => {
    if (pending.byteLength + laterBytes > 0) broken(new BlyanError('P2P_MALFORMED', `${what}: the connection ended inside a record`));
    else finish();
  });
  socket.on('error', (err) => broken(err));
  socket.once('close', () => finish(new BlyanError('P2P_STREAM_CLOSED', `${what}: connection closed`)));
  // The socket may come paused (the token or accept byte was read first): records flow from here on.
  socket.resume();

  const iterator: AsyncIterator<StreamChunk> = {
    next: () => {
      const chunk = ready.shift();
      if (chunk !== undefined) {
        if (ready.length < 8 && socket.isPaused()) socket.resume();
        return Promise.resolve({ done: false, value: chunk });
      }
      if (failure !== undefined) return Promise.reject(failure);
      if (ended) return Promise.resolve({ done: true, value: undefined });
      if (socket.isPaused()) socket.resume();
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
  };

  return {
    socket,
    send: (data) => {
      let ok = true;
      for (let off = 0; off < data.byteLength; off += RECORD_MAX) {
        ok = socket.write(sealRecord(keys.send, sendCounter++, data.subarray(off, Math.min(data.byteLength, off + RECORD_MAX))));
      }
      return ok;
    },
    onDrain: () => drained(socket, () => new BlyanError('P2P_STREAM_CLOSED', `${what}: connection closed`)),
    close: () => new Promise<void>((resolve) => socket.end(resolve)),
    abort: (err) => {
      socket.destroy();
      finish(err);
    },
    [Symbol.asyncIterator]: () => iterator,
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}
