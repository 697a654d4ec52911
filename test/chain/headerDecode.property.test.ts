/**
 * The fast header decoder (src/chain/headerDecode.ts, used by decodeHeader) against the reference decoder
 * (decodeHeaderReference: generic strict DAG-CBOR, the field checks, re-encode and compare). On every
 * input both must give the same header or the same error code and message, every valid header must take
 * the fast path, and whatever the fast scanner accepts must be exactly what @ipld/dag-cbor decodes and the
 * one canonical encoding of it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import fc from 'fast-check';
import { createBlock } from '../../src/chain/block.ts';
import { decodeHeader, decodeHeaderReference, encodeHeader } from '../../src/chain/encoding.ts';
import { genesisOf } from '../../src/chain/genesis.ts';
import { scanCanonicalHeader } from '../../src/chain/headerDecode.ts';
import { compareBytes, equalBytes, sha256, toHex } from '../../src/chain/hash.ts';
import { MAX_DEPS } from '../../src/chain/limits.ts';
import { TINY } from '../../src/chain/presets.ts';
import type { BlockHeader } from '../../src/chain/types.ts';
import { isBlyanError } from '../../src/errors.ts';
import { TEST_KEY } from '../helpers/fixtures.ts';
import { bytes, headerArb, view } from './headerArbitraries.ts';

type Outcome = { readonly ok: Record<string, unknown> } | { readonly code: string; readonly message: string };

function outcome(decode: (b: Uint8Array) => BlockHeader, input: Uint8Array): Outcome {
  try {
    return { ok: view(decode(input)) };
  } catch (err) {
    if (!isBlyanError(err)) throw new Error(`non-BlyanError for ${toHex(input)}: ${String(err)}`, { cause: err });
    return { code: err.code, message: err.message };
  }
}

let fastAccepted = 0;

function assertAgree(input: Uint8Array, what: string): Outcome {
  const label = `${what}: ${toHex(input)}`;
  const ref = outcome(decodeHeaderReference, input);
  assert.deepEqual(outcome(decodeHeader, input), ref, label);
  const scanned = scanCanonicalHeader(input);
  if ('ok' in ref) assert.ok(scanned !== undefined, `${label}: a valid header left the fast path`);
  if (scanned !== undefined) {
    fastAccepted++;
    assert.deepEqual(scanned, dagCbor.decode(input), `${label}: the scanner's map differs from @ipld/dag-cbor's`);
    assert.ok(equalBytes(dagCbor.encode(scanned), input), `${label}: the scanner accepted a non-canonical encoding`);
  }
  return ref;
}

// ---------- inputs ----------

/** Values of every CBOR kind, including near-misses of each field's type and range. */
const oddValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(null, true, false, 0, 1, 2, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32, 2 ** 53 - 1, -1, 1.5, -0.5),
  fc.constantFrom<unknown>(2n ** 53n, 2n ** 64n - 1n, -(2n ** 64n)),
  fc.constantFrom<unknown>('', 'A', 'B', 'E', 'a', 'genesis', 'expert', 'router', 'Expert', 'layer1.expert2', 'layer1.router', 'é', 'layer1.expert\u00e9', 'x'.repeat(97), '.x'),
  fc.nat().map((n) => new Uint8Array(n % 40)),
  fc.constantFrom(8, 20, 31, 32, 33).chain((n) => bytes(n)),
  fc.array(bytes(32), { maxLength: 3 }),
  fc.constantFrom([new Uint8Array(32)], [new Uint8Array(32), new Uint8Array(32)], Array.from({ length: MAX_DEPS + 1 }, (_, i) => sha256(Uint8Array.of(i))), [1, 2], [[]]),
  fc.constant({ a: 1 }),
);

const FIELD_NAMES = Object.keys(view(genesisOf(TINY).a.block.header));

/** A valid header with up to three fields replaced by odd values, still encoded canonically by @ipld/dag-cbor. */
const looseHeaderBytesArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(headerArb, fc.uniqueArray(fc.tuple(fc.constantFrom(...FIELD_NAMES), oddValueArb), { minLength: 1, maxLength: 3, selector: ([k]) => k }))
  .map(([header, replace]) => {
    const obj: Record<string, unknown> = { ...header };
    for (const [k, v] of replace) obj[k] = v;
    return dagCbor.encode(obj);
  });

const HEAD_EDGES = [0, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];

/** mulberry32, so one fast-check integer drives all the choices of an encoding. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A CBOR writer that makes the choices canonical DAG-CBOR forbids, each with probability p: a wider head
 * than needed, a float for an integer, an indefinite-length string or array, map keys in another order.
 * What it writes is still valid CBOR for the same data model.
 */
function encodeLoosely(value: unknown, rand: () => number, p: number): Uint8Array {
  const out: number[] = [];
  const head = (major: number, n: number | bigint) => {
    const big = BigInt(n);
    const minimal = big < 24n ? 0 : big < 0x100n ? 1 : big < 0x10000n ? 2 : big < 0x100000000n ? 3 : 4;
    const width = rand() < p ? minimal + Math.floor(rand() * (5 - minimal)) : minimal;
    if (width === 0) return out.push((major << 5) | Number(big));
    const len = 1 << (width - 1);
    out.push((major << 5) | (23 + width));
    for (let i = len - 1; i >= 0; i--) out.push(Number((big >> BigInt(8 * i)) & 0xffn));
    return out.length;
  };
  const write = (v: unknown): void => {
    if (v === null) out.push(0xf6);
    else if (typeof v === 'boolean') out.push(v ? 0xf5 : 0xf4);
    else if (typeof v === 'number' && Number.isSafeInteger(v) && !(rand() < p)) {
      if (v >= 0) head(0, v);
      else head(1, -1 - v);
    } else if (typeof v === 'number') {
      out.push(0xfb, ...new Uint8Array(new Float64Array([v]).buffer).reverse());
    } else if (typeof v === 'bigint') {
      if (v >= 0n) head(0, v);
      else head(1, -1n - v);
    } else if (typeof v === 'string' || v instanceof Uint8Array) {
      const b = typeof v === 'string' ? new TextEncoder().encode(v) : v;
      const major = typeof v === 'string' ? 3 : 2;
      if (rand() < p) {
        out.push((major << 5) | 31);
        head(major, b.length);
        out.push(...b, 0xff);
      } else {
        head(major, b.length);
        out.push(...b);
      }
    } else if (Array.isArray(v)) {
      const indefinite = rand() < p;
      if (indefinite) out.push(0x9f);
      else head(4, v.length);
      for (const x of v) write(x);
      if (indefinite) out.push(0xff);
    } else {
      const entries = Object.entries(v as Record<string, unknown>);
      const canonical = new TextEncoder();
      entries.sort(([a], [b]) => a.length - b.length || compareBytes(canonical.encode(a), canonical.encode(b)));
      if (rand() < p) {
        const i = Math.floor(rand() * entries.length);
        const j = Math.floor(rand() * entries.length);
        [entries[i], entries[j]] = [entries[j] as [string, unknown], entries[i] as [string, unknown]];
      }
      head(5, entries.length);
      for (const [k, x] of entries) {
        write(k);
        write(x);
      }
    }
  };
  write(value);
  return Uint8Array.from(out);
}

/** Heads, simple values and markers a mutation may write: each one changes a type, a length or a width. */
const INTERESTING = [
  0x00, 0x01, 0x08, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x20, 0x38, 0x40, 0x48, 0x54, 0x57, 0x58, 0x59, 0x5f, 0x60, 0x61, 0x65,
  0x78, 0x7f, 0x80, 0x81, 0x98, 0x9f, 0xa0, 0xae, 0xaf, 0xb0, 0xb8, 0xbf, 0xc0, 0xd8, 0xf4, 0xf5, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xff,
];
const byteArb = fc.oneof(fc.constantFrom(...INTERESTING), fc.nat({ max: 255 }));

type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | { readonly op: 'delete' | 'duplicate'; readonly at: number; readonly n: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: byteArb }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(byteArb, { minLength: 1, maxLength: 9 }) }),
  fc.record({ op: fc.constantFrom('delete' as const, 'duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 12 }) }),
);

function mutate(input: Uint8Array, m: Mutation): Uint8Array {
  const out = Array.from(input);
  const at = m.at % (out.length + 1);
  switch (m.op) {
    case 'flip':
      if (at < out.length) out[at] = (out[at] as number) ^ (1 << m.bit);
      break;
    case 'set':
      if (at < out.length) out[at] = m.value;
      break;
    case 'truncate':
      out.length = at;
      break;
    case 'insert':
      out.splice(at, 0, ...m.bytes);
      break;
    case 'delete':
      out.splice(at, m.n);
      break;
    case 'duplicate':
      out.splice(at, 0, ...out.slice(at, at + m.n));
      break;
  }
  return Uint8Array.from(out);
}

// ---------- properties ----------

test('property: every valid header takes the fast path and decodes as the reference decodes it', () => {
  fc.assert(
    fc.property(headerArb, (header) => {
      const encoded = encodeHeader(header);
      const ref = assertAgree(encoded, 'valid header');
      assert.deepEqual(ref, { ok: view(header) });
    }),
    { numRuns: 1000 },
  );
});

test('property: headers with odd field values (canonical CBOR, wrong types or ranges) give the reference error', () => {
  fc.assert(
    fc.property(looseHeaderBytesArb, (encoded) => {
      assertAgree(encoded, 'loose header');
    }),
    { numRuns: 3000 },
  );
});

test('property: non-canonical writings of valid and loose headers (wide heads, floats, indefinite lengths, key order) agree with the reference', (t) => {
  let canonical = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        // Sizes and times at each head width's edges, where a head one step too wide is easiest to miss.
        fc.tuple(headerArb, fc.constantFrom(...HEAD_EDGES), fc.constantFrom(...HEAD_EDGES)).map(([h, payloadSize, time]) => ({ ...h, payloadSize, time }) as Record<string, unknown>),
        looseHeaderBytesArb.map((b) => dagCbor.decode(b) as Record<string, unknown>),
      ),
      fc.integer(),
      fc.constantFrom(0.02, 0.1, 0.3),
      (header, seed, p) => {
        const encoded = encodeLoosely(header, prng(seed), p);
        if (equalBytes(encoded, dagCbor.encode(header))) canonical++;
        assertAgree(encoded, `loose writing p=${p} seed=${seed}`);
      },
    ),
    { numRuns: 3000 },
  );
  t.diagnostic(`${canonical} of 3000 writings happened to be canonical`);
});

test('property: mutations (bit flips, byte sets, truncations, insertions, deletions, duplications) of valid and loose encodings agree with the reference', () => {
  fc.assert(
    fc.property(
      fc.oneof(headerArb.map(encodeHeader), looseHeaderBytesArb),
      fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
      (encoded, mutations) => {
        let input = encoded;
        for (const m of mutations) input = mutate(input, m);
        assertAgree(input, `mutations ${JSON.stringify(mutations)}`);
      },
    ),
    { numRuns: 6000 },
  );
});

test('exhaustive: every byte of a chain-B header set to each interesting value and XOR 0x01/0x80/0xff, every truncation and deletion, each interesting byte inserted everywhere', () => {
  const genesis = genesisOf(TINY);
  const base = createBlock(
    { chain: 'B', index: 3, prev: null, deps: [genesis.a.block.id, genesis.c.block.id].sort(compareBytes), type: 'expert', expert: 'layer1.expert2', layer: 1, time: TINY.genesisTime + 2 },
    new Uint8Array(300),
    TEST_KEY,
    TINY,
  ).headerBytes;
  assertAgree(base, 'base');
  const before = fastAccepted;
  let inputs = 0;
  for (let at = 0; at <= base.length; at++) {
    const old = base[at];
    if (old !== undefined) {
      for (const value of new Set([...INTERESTING, old ^ 0x01, old ^ 0x80, old ^ 0xff])) {
        if (value === old) continue;
        const m = base.slice();
        m[at] = value;
        assertAgree(m, `byte ${at} = ${value}`);
        inputs++;
      }
      assertAgree(Uint8Array.from([...base.subarray(0, at), ...base.subarray(at + 1)]), `without byte ${at}`);
      inputs++;
    }
    assertAgree(base.subarray(0, at), `truncated to ${at}`);
    for (const b of INTERESTING) assertAgree(Uint8Array.from([...base.subarray(0, at), b, ...base.subarray(at)]), `${b} inserted at ${at}`);
    inputs += 1 + INTERESTING.length;
  }
  // Changes inside values (nonce, hashes, names, small integers) keep the layout: the fast path must have
  // judged a good share of these, or this test exercised only the fallback.
  assert.ok(fastAccepted - before > inputs / 20, `only ${fastAccepted - before} of ${inputs} inputs reached the fast path's field checks`);
});

test('property: arbitrary bytes, and bytes behind a 15-entry map head, agree with the reference', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (tail, asMap) => {
      assertAgree(asMap ? Uint8Array.from([0xaf, ...tail]) : tail, 'random bytes');
    }),
    { numRuns: 3000 },
  );
});
