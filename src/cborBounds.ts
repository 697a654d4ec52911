/**
 * A pre-scan of untrusted CBOR before it is decoded into objects. The decoder (cborg, under
 * @ipld/dag-cbor) builds every item an array or map declares before it notices that the input ran out,
 * so a 1 MiB header declaring an array of 2^32-1 items becomes a million-element array and a million
 * token objects first: linear, but with a garbage-collection cost per byte far above that of a small
 * input. This scan walks the item heads once, allocates nothing, and refuses a container that declares
 * more items than the bytes left could hold (every item takes at least one byte), or more than the
 * caller's format allows, at its head.
 *
 * It checks lengths only: a well-formed, canonical input is still the decoder's job.
 */

import * as dagCbor from '@ipld/dag-cbor';

export interface CborBounds {
  /** Most items one array may declare. */
  readonly maxArrayItems?: number;
  /** Most entries one map may declare. */
  readonly maxMapEntries?: number;
}

/**
 * Why an input was refused: `limit` when a container is longer than the bounds allow, `malformed` when a
 * length cannot fit in the input or the encoding is not definite-length; undefined when the lengths are
 * plausible.
 */
export interface CborBoundsProblem {
  readonly kind: 'limit' | 'malformed';
  readonly message: string;
}

export function cborBoundsProblem(bytes: Uint8Array, bounds: CborBounds = {}): CborBoundsProblem | undefined {
  const maxArray = bounds.maxArrayItems ?? Number.POSITIVE_INFINITY;
  const maxMap = bounds.maxMapEntries ?? Number.POSITIVE_INFINITY;
  const end = bytes.length;
  let pos = 0;
  while (pos < end) {
    const at = pos;
    const initial = bytes[pos++] as number;
    const major = initial >> 5;
    const info = initial & 0x1f;
    let arg: number;
    if (info < 24) arg = info;
    else if (info <= 27) {
      const size = 1 << (info - 24);
      if (pos + size > end) return malformed(`item at byte ${at} is cut off`);
      arg = 0;
      for (let i = 0; i < size; i++) arg = arg * 256 + (bytes[pos + i] as number);
      pos += size;
    } else return malformed(`item at byte ${at} uses reserved or indefinite-length encoding`);
    const left = end - pos;
    switch (major) {
      case 2:
      case 3:
        if (arg > left) return malformed(`string at byte ${at} declares ${arg} bytes, only ${left} remain`);
        pos += arg;
        break;
      case 4:
        if (arg > maxArray) return { kind: 'limit', message: `array at byte ${at} declares ${arg} items, at most ${maxArray} are allowed` };
        if (arg > left) return malformed(`array at byte ${at} declares ${arg} items, only ${left} bytes remain`);
        break;
      case 5:
        if (arg > maxMap) return { kind: 'limit', message: `map at byte ${at} declares ${arg} entries, at most ${maxMap} are allowed` };
        if (arg * 2 > left) return malformed(`map at byte ${at} declares ${arg} entries, only ${left} bytes remain`);
        break;
      default:
        // Integers, tags (their content is the next item) and simple values/floats (the argument
        // bytes read above are the whole value).
        break;
    }
  }
  return undefined;
}

const malformed = (message: string): CborBoundsProblem => ({ kind: 'malformed', message });

/**
 * DAG-CBOR decode of untrusted bytes with the scan first. Throws a plain Error whose message says what
 * is wrong; callers wrap it in their own typed error, as they do the decoder's.
 */
export function decodeUntrustedCbor(bytes: Uint8Array, bounds: CborBounds = {}): unknown {
  const problem = cborBoundsProblem(bytes, bounds);
  if (problem !== undefined) throw new Error(problem.message);
  return dagCbor.decode(bytes);
}
