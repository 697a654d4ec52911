/**
 * Verify a block in the browser from the JSON the API gives (docs/block-encoding.md):
 *   header bytes = canonical DAG-CBOR of the 15 header fields   → id = SHA-256(header bytes)
 *   signing digest = SHA-256("blyan/block-signature/v1\0" ‖ u32be(chainId) ‖ chain ‖ type ‖ 0x00 ‖ id)
 *   author = the address recovered from the r ‖ s ‖ v signature over that digest
 * Nothing here trusts the node's own hash: both checks recompute from the fields.
 */
import * as dagCbor from '@ipld/dag-cbor';
import { type Hex, bytesToHex, hexToBytes, recoverAddress, sha256 } from 'viem';
import type { BlockJson } from './api.ts';

function bytesOf(hex: string, len: number, field: string): Uint8Array {
  const h = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (!/^[0-9a-fA-F]*$/.test(h) || h.length !== 2 * len) throw new Error(`field ${field} is not ${len} bytes of hex`);
  return hexToBytes(`0x${h}`);
}

/** The header bytes re-encoded from the API's JSON fields. */
export function encodeHeaderFromJson(b: BlockJson): Uint8Array {
  return dagCbor.encode({
    v: 1,
    chain: b.chain,
    index: b.index,
    prev: b.prev === null ? null : bytesOf(b.prev, 32, 'prev'),
    deps: b.deps.map((d, i) => bytesOf(d, 32, `deps[${i}]`)),
    type: b.type,
    expert: b.expert,
    layer: b.layer,
    payloadHash: bytesOf(b.payloadHash, 32, 'payloadHash'),
    payloadSize: b.payloadSize,
    tileRoot: bytesOf(b.tileRoot, 32, 'tileRoot'),
    time: b.time,
    nonce: bytesOf(b.nonce, 8, 'nonce'),
    difficulty: b.difficulty,
    author: bytesOf(b.author, 20, 'author'),
  });
}

function leadingZeroBits(bytes: Uint8Array): number {
  let n = 0;
  for (const byte of bytes) {
    if (byte === 0) {
      n += 8;
      continue;
    }
    n += Math.clz32(byte) - 24;
    break;
  }
  return n;
}

export interface Verification {
  headerHex: string;
  headerBytes: number;
  computedHash: string;
  hashOk: boolean;
  /** Leading zero bits of the computed id, and whether they meet the claimed difficulty. */
  workBits: number;
  workOk: boolean;
  /** null when the chain id is unknown (no /health). */
  signer: string | null;
  signatureOk: boolean | null;
  signatureError?: string;
  /** The node's raw header bytes (GET /blocks/:hash/header) equal the re-encoding; null when not served. */
  rawHeaderMatches: boolean | null;
}

export async function verifyBlock(b: BlockJson, chainId: number | null): Promise<Verification> {
  const header = encodeHeaderFromJson(b);
  const id = sha256(header, 'bytes');
  const computedHash = bytesToHex(id).slice(2);
  const hashOk = computedHash === b.hash.replace(/^0x/, '').toLowerCase();
  const workBits = leadingZeroBits(id);
  const out: Verification = { headerHex: bytesToHex(header).slice(2), headerBytes: header.byteLength, computedHash, hashOk, workBits, workOk: workBits >= b.difficulty, signer: null, signatureOk: null, rawHeaderMatches: null };
  try {
    const res = await fetch(`/blocks/${b.hash}/header`);
    if (res.ok) out.rawHeaderMatches = bytesToHex(new Uint8Array(await res.arrayBuffer())) === bytesToHex(header);
  } catch {
    // the comparison is extra: the hash check above stands on its own
  }
  if (chainId === null) return out;
  const enc = new TextEncoder();
  const prefix = enc.encode('blyan/block-signature/v1\u0000');
  const chainIdBytes = new Uint8Array(4);
  new DataView(chainIdBytes.buffer).setUint32(0, chainId, false);
  const msg = new Uint8Array([...prefix, ...chainIdBytes, ...enc.encode(b.chain), ...enc.encode(b.type), 0, ...id]);
  const digest = sha256(msg);
  try {
    const sig = bytesOf(b.sig, 65, 'sig');
    if ((sig[64] ?? 0) > 1) throw new Error('v must be 0 or 1');
    out.signer = await recoverAddress({ hash: digest, signature: bytesToHex(sig) as Hex });
    out.signatureOk = out.signer.toLowerCase() === b.author.toLowerCase();
  } catch (err) {
    out.signatureOk = false;
    out.signatureError = err instanceof Error ? err.message : String(err);
  }
  return out;
}
