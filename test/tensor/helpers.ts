import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dagCbor from '@ipld/dag-cbor';
import type { TensorInput } from '../../src/tensor/tensorBlock.ts';

/** The reference checkpoints (read-only): written by Python `safetensors`, header {"format":"pt"}. */
export const GOLDEN = ['/work/shared/golden/mixtral/model.safetensors', '/work/shared/golden/mixtral_bf16/model.safetensors'] as const;

/** A fresh temporary directory and a function that removes it (no chain fixtures: nothing else is loaded). */
export function tempDir(prefix = 'blyan-tensor-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandomBytes(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A small block with every dtype: f32, bf16, f16 and int8 with scales. */
export function sampleTensors(): TensorInput[] {
  return [
    { name: 'w1', dtype: 'f32', shape: [3, 5], data: bytesOf(Float32Array.from({ length: 15 }, (_, i) => i * 0.5 - 3)) },
    { name: 'norm', dtype: 'bf16', shape: [7], data: pseudoRandomBytes(2, 14) },
    { name: 'gate', dtype: 'f16', shape: [2, 2, 3], data: pseudoRandomBytes(3, 24) },
    { name: 'w2.q', dtype: 'int8', shape: [4, 3], data: pseudoRandomBytes(4, 12), scales: Float32Array.of(0.5, 0.25, 1e-3, 0) },
  ];
}

/** Removes keys whose value is undefined (tests write `{key: undefined}` to mean "absent"). */
function dropUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropUndefined);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, dropUndefined(x)]));
  }
  return v;
}

const align64 = (n: number) => Math.ceil(n / 64) * 64;

/**
 * Builds a payload around an arbitrary header value, for testing the decoder's checks one at a time.
 * `mk(dataStart)` returns the header value given where the data area starts (found by iterating, as the
 * encoder does); the payload ends at `size(dataStart)` or, by default, after the furthest region any
 * entry claims. All bytes other than the preamble and header are zero.
 */
export function craft(
  mk: (dataStart: number) => unknown,
  opts: { size?: (dataStart: number) => number; headerBytes?: (value: unknown) => Uint8Array } = {},
): Uint8Array {
  const enc = opts.headerBytes ?? ((v: unknown) => dagCbor.encode(dropUndefined(v)));
  let start = 0;
  let header = enc(mk(start));
  for (let i = 0; i < 8; i++) {
    const next = align64(12 + header.byteLength);
    if (next === start) break;
    start = next;
    header = enc(mk(start));
  }
  let end = 12 + header.byteLength;
  const value = mk(start) as { tensors?: unknown };
  if (Array.isArray(value?.tensors)) {
    for (const e of value.tensors as Record<string, unknown>[]) {
      const regions: [unknown, unknown][] = [
        [e?.offset, e?.length],
        [e?.scalesOffset, e?.scalesLength],
      ];
      for (const [o, l] of regions) if (typeof o === 'number' && typeof l === 'number' && Number.isSafeInteger(o + l)) end = Math.max(end, o + l);
    }
  }
  const size = opts.size?.(start) ?? end;
  const out = new Uint8Array(size);
  out.set([0x42, 0x4c, 0x59, 0x54], 0);
  const dv = new DataView(out.buffer);
  dv.setUint16(4, 1, true);
  dv.setUint32(8, header.byteLength, true);
  out.set(header.subarray(0, Math.max(0, Math.min(header.byteLength, size - 12))), 12);
  return out;
}

// ---- a tiny CBOR writer that can break the canonical rules on purpose ----

export type Cbor = number | bigint | string | Cbor[] | { entries: [string, Cbor][] } | { long: number };

function head(major: number, n: number | bigint, forceLong = false): number[] {
  const v = BigInt(n);
  if (!forceLong && v < 24n) return [(major << 5) | Number(v)];
  if (!forceLong && v < 256n) return [(major << 5) | 24, Number(v)];
  if (!forceLong && v < 65536n) return [(major << 5) | 25, Number(v >> 8n), Number(v & 0xffn)];
  if (v < 2n ** 32n && !forceLong) return [(major << 5) | 26, ...[24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 0xffn))];
  return [(major << 5) | 27, ...[56n, 48n, 40n, 32n, 24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 0xffn))];
}

/** Encodes maps with keys in the given order (possibly non-canonical or repeated); {long: n} writes n in 9 bytes. */
export function cbor(v: Cbor): number[] {
  if (typeof v === 'number' || typeof v === 'bigint') return BigInt(v) >= 0n ? head(0, v) : head(1, -1n - BigInt(v));
  if (typeof v === 'string') {
    const b = new TextEncoder().encode(v);
    return [...head(3, b.length), ...b];
  }
  if (Array.isArray(v)) return [...head(4, v.length), ...v.flatMap(cbor)];
  if ('long' in v) return head(0, v.long, true);
  return [...head(5, v.entries.length), ...v.entries.flatMap(([k, x]) => [...cbor(k), ...cbor(x)])];
}
