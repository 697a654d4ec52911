import { BlyanError, type BlyanErrorCode } from '../errors.ts';
import { type DType, dtypeBytes, lookupSafetensorsDType, SAFETENSORS_DTYPES, toSafetensorsDType } from './dtypes.ts';
import { parseJsonStrict } from './strictJson.ts';

/**
 * The safetensors header (docs/safetensors.md): a JSON object mapping tensor names to
 * {dtype, shape, data_offsets}, plus an optional "__metadata__" string map. Parsing checks everything
 * about the layout that can be checked without reading tensor bytes; serialising reproduces the Rust
 * `safetensors` crate's bytes (huggingface/safetensors, safetensors/src/tensor.rs, `prepare`).
 */

/** Largest header accepted; the same bound as the reference reader (MAX_HEADER_SIZE = 100_000_000). */
export const MAX_SAFETENSORS_HEADER = 100_000_000;
export const METADATA_KEY = '__metadata__';

export interface SafetensorsTensorInfo {
  dtype: DType;
  shape: readonly number[];
  /** byte range [begin, end) relative to the start of the data area (which follows the header) */
  begin: number;
  end: number;
}

/** Where "__metadata__" sits among the header's keys: the crate wrote it last up to 0.4.x, first since 0.5. */
export type MetadataPosition = 'first' | 'last';

export interface SafetensorsHeader {
  metadata: Readonly<Record<string, string>> | null;
  metadataPosition: MetadataPosition | 'middle' | null;
  /** in data order (ascending begin) */
  tensors: Map<string, SafetensorsTensorInfo>;
  /** byte ranges of the data area no tensor covers (the reference writer leaves none; we accept and report them) */
  gaps: { begin: number; end: number }[];
}

export function stFail(code: BlyanErrorCode, file: string, check: string, message: string, tensor?: string): never {
  const where = tensor === undefined ? file : `${file}, tensor "${tensor}"`;
  throw new BlyanError(code, `${where}: ${message}`, tensor === undefined ? { file, check } : { file, check, tensor });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Parses and validates a header read from `file` whose data area is `dataSize` bytes: field types, known
 * dtypes, shapes, offsets within the data area, length = numel × dtype size, no overlaps. Linear in the
 * header size plus n log n for sorting by offset.
 */
export function parseSafetensorsHeader(text: string, dataSize: number, file: string): SafetensorsHeader {
  const parsed = parseJsonStrict(text);
  if (!parsed.ok) stFail('SAFETENSORS_MALFORMED', file, 'json', `header is not valid JSON (${parsed.error})`);
  const root = parsed.value;
  if (!isPlainObject(root)) stFail('SAFETENSORS_MALFORMED', file, 'json', 'header must be a JSON object');

  let metadata: Record<string, string> | null = null;
  let metadataPosition: SafetensorsHeader['metadataPosition'] = null;
  const list: [string, SafetensorsTensorInfo][] = [];
  for (const [name, value] of Object.entries(root)) {
    if (name === METADATA_KEY) {
      // The reference reader types this Option<HashMap<String, String>>: null means absent, values must be strings.
      if (value === null) continue;
      if (!isPlainObject(value)) stFail('SAFETENSORS_MALFORMED', file, 'metadata', '"__metadata__" must be a map of strings');
      const pairs = Object.entries(value);
      for (const [k, v] of pairs) {
        if (typeof v !== 'string') stFail('SAFETENSORS_MALFORMED', file, 'metadata', `"__metadata__" value of ${JSON.stringify(k.slice(0, 80))} must be a string`);
      }
      // fromEntries defines own properties, so even a key named "__proto__" stays data, not a prototype.
      metadata = Object.fromEntries(pairs) as Record<string, string>;
      const at = parsed.topLevelKeys.indexOf(METADATA_KEY);
      metadataPosition = at === parsed.topLevelKeys.length - 1 ? 'last' : at === 0 ? 'first' : 'middle';
      continue;
    }
    list.push([name, parseInfo(value, name, dataSize, file)]);
  }

  list.sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  const gaps: { begin: number; end: number }[] = [];
  let cursor = 0;
  let previous = '';
  for (const [name, info] of list) {
    if (info.begin < cursor) {
      stFail('SAFETENSORS_MALFORMED', file, 'overlap', `bytes [${info.begin}, ${info.end}) overlap tensor "${previous}" (which ends at ${cursor})`, name);
    }
    if (info.begin > cursor) gaps.push({ begin: cursor, end: info.begin });
    cursor = info.end;
    previous = name;
  }
  if (cursor < dataSize) gaps.push({ begin: cursor, end: dataSize });
  return { metadata, metadataPosition, tensors: new Map(list), gaps };
}

function parseInfo(value: unknown, name: string, dataSize: number, file: string): SafetensorsTensorInfo {
  if (!isPlainObject(value)) stFail('SAFETENSORS_MALFORMED', file, 'field', 'entry must be an object {dtype, shape, data_offsets}', name);
  for (const k of Object.keys(value)) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') stFail('SAFETENSORS_MALFORMED', file, 'field', `unknown field ${JSON.stringify(k.slice(0, 40))}`, name);
  }
  const dtype = lookupSafetensorsDType(value.dtype);
  if (dtype === undefined) {
    const got = typeof value.dtype === 'string' ? JSON.stringify(value.dtype.slice(0, 40)) : `a ${value.dtype === null ? 'null' : typeof value.dtype} value`;
    stFail('TENSOR_BAD_DTYPE', file, 'dtype', `unsupported dtype ${got}; supported: ${SAFETENSORS_DTYPES.join(', ')}`, name);
  }
  const shape = value.shape;
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    stFail('TENSOR_BAD_SHAPE', file, 'shape', '"shape" must be a list of non-negative integers', name);
  }
  const offsets = value.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0)) {
    stFail('SAFETENSORS_MALFORMED', file, 'offsets', '"data_offsets" must be [begin, end], two non-negative integers', name);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) stFail('SAFETENSORS_MALFORMED', file, 'offsets', `data_offsets [${begin}, ${end}] end before they begin`, name);
  if (end > dataSize) stFail('SAFETENSORS_MALFORMED', file, 'offsets', `data_offsets [${begin}, ${end}] run past the ${dataSize}-byte data area (truncated file?)`, name);
  // A zero dimension anywhere makes the tensor empty; otherwise stop the product once it exceeds what
  // the range could hold (no overflow, O(rank)).
  let bytes = (shape as number[]).includes(0) ? 0 : dtypeBytes(dtype);
  for (const d of bytes === 0 ? [] : (shape as number[])) {
    bytes *= d;
    if (bytes > end - begin) break;
  }
  if (bytes !== end - begin) {
    stFail('TENSOR_BAD_SHAPE', file, 'length', `shape [${shape.join(', ')}] ${toSafetensorsDType(dtype)} does not fit data_offsets [${begin}, ${end}] (${end - begin} bytes)`, name);
  }
  return { dtype, shape: Object.freeze([...(shape as number[])]), begin, end };
}

/** Names in UTF-8 byte order, as Rust's `String: Ord` sorts them (UTF-16 order differs above U+FFFF). */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The header bytes the Rust crate writes for these tensors, already in its order (see writeSafetensors):
 * compact JSON, each entry {"dtype","shape","data_offsets"} in that key order, "__metadata__" first or
 * last, then ASCII spaces up to a multiple of 8 bytes. JSON.stringify escapes strings exactly as
 * serde_json does for well-formed strings ( \" \\ \b \f \n \r \t, other controls as \u00xx ).
 */
export function serializeSafetensorsHeader(
  entries: readonly { name: string; dtype: DType; shape: readonly number[]; begin: number; end: number }[],
  metadata: Readonly<Record<string, string>> | undefined,
  metadataPosition: MetadataPosition,
): Uint8Array {
  const parts = entries.map(
    (e) => `${JSON.stringify(e.name)}:{"dtype":"${toSafetensorsDType(e.dtype)}","shape":[${e.shape.join(',')}],"data_offsets":[${e.begin},${e.end}]}`,
  );
  if (metadata !== undefined) {
    const meta = `"${METADATA_KEY}":{${Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
    if (metadataPosition === 'first') parts.unshift(meta);
    else parts.push(meta);
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = new Uint8Array(Math.ceil(json.byteLength / 8) * 8).fill(0x20);
  padded.set(json, 0);
  return padded;
}
