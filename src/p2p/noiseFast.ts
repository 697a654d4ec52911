import { createCipheriv } from 'node:crypto';
import type { ConnectionEncrypter, SecuredConnection } from '@libp2p/interface';
import { type ICryptoInterface, noise } from '@libp2p/noise';
import { defaultCrypto } from '@libp2p/noise/crypto';

/**
 * libp2p's Noise (`/noise`: XX handshake, ChaChaPoly, SHA-256) moving bulk data with fewer copies and system
 * calls. The wire bytes are exactly libp2p's: same handshake, keys, nonces, messages; a peer running stock
 * @libp2p/noise cannot tell the difference (test/p2p/noiseFast.test.ts checks both directions).
 *
 * @libp2p/noise 17 already encrypts with node:crypto's native ChaCha20-Poly1305 (OpenSSL) for messages of
 * 1200 bytes and more. What it costs beyond the cipher, per 64 KiB transport message:
 *  - receiving: before decrypting it builds a `dst` view for an in-place decryption that only its WebAssembly
 *    cipher uses. A message almost always spans two 64 KiB socket reads (messages are 65537 bytes on the
 *    wire), and building that view then concatenates the whole message into a fresh buffer: a copy and an
 *    allocation of every byte received, thrown away unused. Here `decrypt` is the same loop without it, and
 *    joins the two parts in one reused buffer instead (`contiguous`), so each message is one cipher call and
 *    one plaintext chunk.
 *  - sending: the 2-byte length prefix and the ciphertext are separate buffers, so TCP writes each message
 *    with two system calls (the socket has Nagle off) and the receiver sees twice the segments. Here the
 *    cipher writes its output two bytes into a buffer of its own, the prefix goes in front, and each message
 *    is one write — for the same number of copies (the stock cipher joins ciphertext and tag into a new
 *    buffer anyway).
 *  - queueing: the library queues what the muxer sends as plaintext while the socket is busy (nearly always,
 *    since a 64 KiB write exceeds the socket's 16 KiB high-water mark) and encrypts it when the socket drains.
 *    Here it is encrypted when it is sent, and the queue holds ciphertext: once the muxer has handed a
 *    stream's bytes on (its `close()` resolved), no layer below refers to them, so a server may reuse the
 *    buffer it sent from (`encryptsOnSend`; the tile server does). With the library's queue that also
 *    happens to hold today, but only through the order in which drain listeners and microtasks run; here it
 *    holds by construction. Each send becomes its own messages (as the library does when the socket is idle),
 *    in order; a receiver sees valid Noise either way.
 *
 * All replace methods of the library's secured connection object; if its shape ever differs from what this
 * file expects (another major version), that connection is left as the library made it.
 */
type NoiseFactory = ReturnType<typeof noise>;
type NoiseComponents = Parameters<NoiseFactory>[0];
type NoiseInit = NonNullable<Parameters<typeof noise>[0]>;

/** Uint8Array, or uint8arraylist's Uint8ArrayList (what the library passes around). */
interface ChunkLike {
  readonly byteLength: number;
  subarray(start?: number, end?: number): Uint8Array;
  sublist?: (start?: number, end?: number) => ChunkLike;
}

/** The parts of @libp2p/noise's EncryptedMessageStream this file relies on. */
interface NoiseMessageStream {
  encrypt: (chunk: ChunkLike) => unknown;
  decrypt: (chunk: ChunkLike) => unknown;
  handshake: {
    encrypt: (plaintext: ChunkLike) => Uint8Array | ChunkLike;
    decrypt: (ciphertext: ChunkLike, dst?: Uint8Array) => Uint8Array | ChunkLike;
  };
  metrics?: {
    encryptedPackets: { increment: () => void };
    decryptedPackets: { increment: () => void };
    decryptErrors: { increment: () => void };
  };
  /** @libp2p/utils AbstractMessageStream: queue `data`, then send what the transport takes. */
  send: (data: ChunkLike) => boolean;
  /** Called with the queue's head when the transport can take more (the library encrypts here). */
  sendData: (data: ChunkLike) => { sentBytes: number; canSendMore: boolean };
  readonly writeStatus: string;
  /** The transport (TCP) connection underneath. */
  readonly stream: { send: (data: ChunkLike) => boolean };
}

/** The list type of the library (`append` of arrays and lists). */
interface OutputList {
  append(...bufs: (Uint8Array | ChunkLike)[]): void;
}

/** Noise transport message limit (libp2p noise spec), the Poly1305 tag, the length prefix. */
const NOISE_MSG_MAX = 65535;
const TAG = 16;
const PREFIX = 2;
/** Below this the library's WebAssembly cipher is faster than OpenSSL's call overhead (its own cut-off). */
const NATIVE_MIN = 1200;

type Plaintext = Parameters<ICryptoInterface['chaCha20Poly1305Encrypt']>[0];

/** Ciphertexts made by `encryptWithRoom`: two writable bytes precede each in its buffer. */
const withRoom = new WeakSet<Uint8Array>();

function partsOf(data: ChunkLike): Iterable<Uint8Array> {
  // A Uint8ArrayList iterates over its parts.
  return data instanceof Uint8Array ? [data] : (data as unknown as Iterable<Uint8Array>);
}

/**
 * ChaCha20-Poly1305 encryption (RFC 8439, as node:crypto and the library compute it) whose result is a view
 * starting two bytes into its buffer, so the length prefix can be written in front without another copy.
 */
function encryptWithRoom(plaintext: Plaintext, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Uint8Array {
  const n = plaintext.byteLength;
  let out: Uint8Array;
  if (n < NATIVE_MIN) {
    const ct = defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) as ChunkLike;
    out = Buffer.allocUnsafe(PREFIX + ct.byteLength);
    let off = PREFIX;
    for (const part of partsOf(ct)) {
      out.set(part, off);
      off += part.byteLength;
    }
  } else {
    const cipher = createCipheriv('chacha20-poly1305', k, nonce, { authTagLength: TAG });
    cipher.setAAD(ad, { plaintextLength: n });
    // allocUnsafeSlow: a 64 KiB message comes from malloc's heap, reused message after message.
    out = Buffer.allocUnsafeSlow(PREFIX + n + TAG);
    let off = PREFIX;
    for (const part of partsOf(plaintext as ChunkLike)) {
      const c = cipher.update(part);
      out.set(c, off);
      off += c.byteLength;
    }
    const f = cipher.final();
    if (f.byteLength > 0) {
      out.set(f, off);
      off += f.byteLength;
    }
    out.set(cipher.getAuthTag(), off);
  }
  const view = out.subarray(PREFIX);
  withRoom.add(view);
  return view;
}

/** The library's crypto with the encryption above (key exchange, hashing and decryption unchanged). */
export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt: encryptWithRoom,
};

function isNoiseMessageStream(x: unknown): x is NoiseMessageStream {
  const s = x as Partial<NoiseMessageStream> | null;
  return (
    s !== null &&
    typeof s === 'object' &&
    typeof s.encrypt === 'function' &&
    typeof s.decrypt === 'function' &&
    typeof s.handshake?.encrypt === 'function' &&
    typeof s.handshake?.decrypt === 'function' &&
    typeof s.send === 'function' &&
    typeof s.sendData === 'function' &&
    typeof s.writeStatus === 'string' &&
    typeof s.stream?.send === 'function'
  );
}

/** Secured connections whose queue holds ciphertext only (patched below). */
const encryptingOnSend = new WeakSet<object>();

/**
 * True when a libp2p connection's encrypter no longer refers to a stream's bytes once the stream has handed
 * them on (see "queueing" above): the connection's muxer writes into one of the secured connections patched
 * here. False for anything else, which is the safe answer (the caller then sends bytes it will not reuse).
 */
export function encryptsOnSend(connection: unknown): boolean {
  const secured = (connection as { muxer?: { maConn?: unknown } } | null)?.muxer?.maConn;
  return typeof secured === 'object' && secured !== null && encryptingOnSend.has(secured);
}

function slice(chunk: ChunkLike, start: number, end: number): ChunkLike {
  return chunk instanceof Uint8Array ? chunk.subarray(start, end) : (chunk.sublist as (a: number, b: number) => ChunkLike)(start, end);
}

/** Reused for `contiguous`: decryption is synchronous, so one buffer serves every connection. */
const scratch = new Uint8Array(NOISE_MSG_MAX);

/**
 * A message that spans two socket reads (almost every one: a full message is 65537 bytes on the wire, a
 * socket read at most 65536) arrives in two parts, and decrypting it as such costs two cipher calls and two
 * output buffers, and hands every layer above two chunks instead of one. Copied into one warm buffer first,
 * it is one of each. The decryption only reads it (the library's native path; short messages are left
 * alone, as they take its WebAssembly path).
 */
function contiguous(message: ChunkLike): ChunkLike {
  if (message instanceof Uint8Array || message.byteLength < NATIVE_MIN || message.byteLength > scratch.byteLength) return message;
  let off = 0;
  for (const part of partsOf(message)) {
    scratch.set(part, off);
    off += part.byteLength;
  }
  return scratch.subarray(0, off);
}

/** Replaces a secured connection's encrypt and decrypt (see above); false when it is not the expected shape. */
export function patchMessageStream(connection: unknown): boolean {
  if (!isNoiseMessageStream(connection)) return false;
  const stream = connection;
  const originalEncrypt = stream.encrypt.bind(stream);
  const originalDecrypt = stream.decrypt.bind(stream);
  // An empty input gives an empty output list of the library's own type: what reaches the transport and the
  // muxer stays exactly what the library would hand them.
  const newList = (chunk: ChunkLike, original: (c: ChunkLike) => unknown) => original(slice(chunk, 0, 0)) as OutputList;

  stream.encrypt = (chunk: ChunkLike) => {
    const output = newList(chunk, originalEncrypt);
    const max = NOISE_MSG_MAX - TAG;
    for (let i = 0; i < chunk.byteLength; i += max) {
      const data = stream.handshake.encrypt(slice(chunk, i, Math.min(i + max, chunk.byteLength)));
      stream.metrics?.encryptedPackets.increment();
      const len = data.byteLength;
      if (data instanceof Uint8Array && withRoom.has(data)) {
        const msg = new Uint8Array(data.buffer, data.byteOffset - PREFIX, len + PREFIX);
        msg[0] = len >> 8;
        msg[1] = len & 0xff;
        output.append(msg);
      } else {
        output.append(Uint8Array.of(len >> 8, len & 0xff), data);
      }
    }
    return output;
  };

  stream.decrypt = (chunk: ChunkLike) => {
    const output = newList(chunk, originalDecrypt);
    for (let i = 0; i < chunk.byteLength; i += NOISE_MSG_MAX) {
      const end = Math.min(i + NOISE_MSG_MAX, chunk.byteLength);
      if (end - TAG < i) throw new Error('Invalid chunk');
      try {
        output.append(stream.handshake.decrypt(contiguous(slice(chunk, i, end))));
        stream.metrics?.decryptedPackets.increment();
      } catch (e) {
        stream.metrics?.decryptErrors.increment();
        throw e;
      }
    }
    return output;
  };

  // Encrypt when sent, queue ciphertext (see "queueing" above). The library's send checks the stream's state
  // and queues; its sendData would encrypt the queue's head, which is ciphertext already.
  const originalSend = stream.send.bind(stream);
  stream.send = (data: ChunkLike) => {
    // A stream that is closing or closed refuses the data (the library throws); nothing to encrypt.
    if (stream.writeStatus === 'closed' || stream.writeStatus === 'closing') return originalSend(data);
    return originalSend(stream.encrypt(data) as ChunkLike);
  };
  stream.sendData = (data: ChunkLike) => ({ sentBytes: data.byteLength, canSendMore: stream.stream.send(data) });
  encryptingOnSend.add(stream);
  return true;
}

/** Secured connections made by `fastNoise` so far, patched or left as the library made them (tests, logs). */
export const fastNoiseStats = { patched: 0, unpatched: 0 };

/** `noise()` with the copies and system calls above taken out. */
export function fastNoise(init: NoiseInit = {}): NoiseFactory {
  const factory = noise({ crypto: noiseCrypto, ...init });
  return (components: NoiseComponents) => {
    const enc = factory(components) as ConnectionEncrypter<unknown>;
    const wrap =
      <A extends unknown[]>(fn: (...args: A) => Promise<SecuredConnection<unknown>>) =>
      async (...args: A): Promise<SecuredConnection<unknown>> => {
        const secured = await fn(...args);
        if (patchMessageStream(secured.connection)) fastNoiseStats.patched++;
        else fastNoiseStats.unpatched++;
        return secured;
      };
    enc.secureInbound = wrap(enc.secureInbound.bind(enc));
    enc.secureOutbound = wrap(enc.secureOutbound.bind(enc));
    return enc as ReturnType<NoiseFactory>;
  };
}
