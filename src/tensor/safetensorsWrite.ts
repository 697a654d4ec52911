import { closeSync, openSync, writeSync } from 'node:fs';
import { BlyanError } from '../errors.ts';
import { type DType, dtypeBytes, parseDType, safetensorsDTypeRank } from './dtypes.ts';
import { compareUtf8, METADATA_KEY, type MetadataPosition, serializeSafetensorsHeader } from './safetensorsHeader.ts';

export interface SafetensorsInput {
  name: string;
  dtype: DType;
  shape: readonly number[];
  /** numel × dtype bytes, little-endian */
  data: Uint8Array;
}

export interface WriteSafetensorsOptions {
  /**
   * Where "__metadata__" goes. 'last' (default) is what the Rust crate wrote up to 0.4.x, and what the
   * reference checkpoints in shared/golden hold; 'first' is what it writes since 0.5. Use the position
   * openSafetensors reported to re-export a file byte for byte.
   */
  metadataPosition?: MetadataPosition;
}

function bad(message: string, tensor?: string): never {
  throw new BlyanError('BAD_ARGUMENT', tensor === undefined ? message : `tensor "${tensor}": ${message}`, tensor === undefined ? {} : { tensor });
}

/**
 * Writes a safetensors file laid out as the Rust `safetensors` crate (and so `safetensors.torch.save_file`)
 * lays it out: tensors ordered by descending dtype (F32, BF16, F16, I8) then by name in UTF-8 byte order,
 * packed with no gaps, header JSON compact and space-padded to a multiple of 8. With the same tensors and
 * metadata the file is byte-identical to the crate's (metadata maps with several keys: the crate writes
 * them in HashMap order, which is random; we write them in the object's key order).
 */
export function writeSafetensors(
  path: string,
  tensors: readonly SafetensorsInput[],
  metadata?: Readonly<Record<string, string>>,
  options: WriteSafetensorsOptions = {},
): void {
  const names = new Set<string>();
  const checked = tensors.map((t) => {
    if (typeof t.name !== 'string' || !t.name.isWellFormed()) bad('tensor names must be well-formed strings');
    if (t.name === METADATA_KEY) bad(`"${METADATA_KEY}" is reserved for the metadata map`);
    if (names.has(t.name)) bad('appears twice', t.name);
    names.add(t.name);
    const dtype = parseDType(t.dtype);
    let n = dtypeBytes(dtype);
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) bad(`shape [${t.shape.join(', ')}] must hold non-negative integers`, t.name);
      n *= d;
    }
    if (n !== t.data.byteLength) bad(`data has ${t.data.byteLength} bytes, shape [${t.shape.join(', ')}] ${dtype} needs ${n}`, t.name);
    return { ...t, dtype };
  });
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string' || !k.isWellFormed() || !v.isWellFormed()) bad(`metadata ${JSON.stringify(k)} must map to a well-formed string`);
    }
  }

  checked.sort((a, b) => safetensorsDTypeRank(b.dtype) - safetensorsDTypeRank(a.dtype) || compareUtf8(a.name, b.name));
  let offset = 0;
  const entries = checked.map((t) => {
    const e = { name: t.name, dtype: t.dtype, shape: t.shape, begin: offset, end: offset + t.data.byteLength };
    offset = e.end;
    return e;
  });
  const header = serializeSafetensorsHeader(entries, metadata, options.metadataPosition ?? 'last');
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(header.byteLength), true);

  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (err) {
    throw new BlyanError('IO_ERROR', `cannot create ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
  }
  try {
    let position = 0;
    const writeAll = (bytes: Uint8Array): void => {
      for (let done = 0; done < bytes.byteLength; ) {
        const n = writeSync(fd, bytes, done, bytes.byteLength - done, position);
        done += n;
        position += n;
      }
    };
    writeAll(length);
    writeAll(header);
    for (const t of checked) writeAll(t.data);
  } catch (err) {
    throw new BlyanError('IO_ERROR', `writing ${path} failed: ${(err as Error).message}`, { file: path }, { cause: err });
  } finally {
    closeSync(fd);
  }
}
