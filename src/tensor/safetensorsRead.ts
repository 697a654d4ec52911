import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BlyanError } from '../errors.ts';
import { MAX_SAFETENSORS_HEADER, parseSafetensorsHeader, type SafetensorsHeader, type SafetensorsTensorInfo, stFail } from './safetensorsHeader.ts';

export interface SafetensorsFile extends SafetensorsHeader {
  readonly path: string;
  /** absolute file position of the data area (8 + header length); info.begin/end are relative to it */
  readonly dataOffset: number;
  /** a fresh, 0-offset (hence aligned) copy of exactly the tensor's bytes, read from disk now */
  read(name: string): Uint8Array;
  close(): void;
}

/** Reads exactly `length` bytes at `position`; a short read means the file changed under us. */
function readExactly(fd: number, position: number, length: number, path: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = readSync(fd, out, done, length - done, position + done);
    } catch (err) {
      throw new BlyanError('IO_ERROR', `${path}: read failed: ${(err as Error).message}`, { file: path }, { cause: err });
    }
    if (n === 0) stFail('SAFETENSORS_MALFORMED', path, 'truncated', `file ended at ${position + done}, ${length - done} bytes short (was it truncated?)`);
    done += n;
  }
  return out;
}

/**
 * Opens a safetensors file and validates its header without reading tensor data into memory: only the
 * 8-byte length and the header are read here; `read(name)` then reads one tensor's byte range.
 */
export function openSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new BlyanError('IO_ERROR', `cannot open ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) stFail('SAFETENSORS_MALFORMED', path, 'truncated', `file is ${size} bytes, too short for the 8-byte header length`);
    const n64 = new DataView(readExactly(fd, 0, 8, path).buffer).getBigUint64(0, true);
    if (n64 > BigInt(MAX_SAFETENSORS_HEADER)) stFail('SAFETENSORS_MALFORMED', path, 'headerLength', `header length ${n64} exceeds the limit of ${MAX_SAFETENSORS_HEADER} bytes`);
    const n = Number(n64);
    if (8 + n > size) stFail('SAFETENSORS_MALFORMED', path, 'truncated', `header length ${n} runs past the end of the ${size}-byte file`);
    let text: string;
    try {
      // fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a BOM stays in the text and fails JSON.parse.
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(readExactly(fd, 8, n, path));
    } catch {
      stFail('SAFETENSORS_MALFORMED', path, 'utf8', 'header is not valid UTF-8');
    }
    const header = parseSafetensorsHeader(text, size - 8 - n, path);
    return openedFile(fd, path, 8 + n, header);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function openedFile(fd: number, path: string, dataOffset: number, header: SafetensorsHeader): SafetensorsFile {
  let open = true;
  return {
    ...header,
    path,
    dataOffset,
    read(name: string): Uint8Array {
      const info: SafetensorsTensorInfo | undefined = header.tensors.get(name);
      if (info === undefined) throw new BlyanError('TENSOR_NOT_FOUND', `${path} has no tensor "${name}"`, { file: path, tensor: name });
      if (!open) throw new BlyanError('BAD_ARGUMENT', `${path} is closed`, { file: path });
      return readExactly(fd, dataOffset + info.begin, info.end - info.begin, path);
    },
    close(): void {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
