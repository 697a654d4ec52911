import { closeSync, existsSync, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { basename, join, resolve, sep } from 'node:path';
import { BlyanError } from '../errors.ts';
import { type SafetensorsFile, openSafetensors } from './safetensorsRead.ts';
import type { SafetensorsTensorInfo } from './safetensorsHeader.ts';
import { parseJsonStrict } from './strictJson.ts';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
/** An index maps names to files; even a 1000-shard model's index is a few MB. */
const MAX_INDEX_BYTES = 100_000_000;

export interface CheckpointTensorInfo extends SafetensorsTensorInfo {
  /** the shard's file name inside the checkpoint directory */
  file: string;
}

export interface Checkpoint {
  readonly dir: string;
  /** opened safetensors files, in file-name order */
  readonly files: readonly SafetensorsFile[];
  /** every tensor, by shard in file-name order, then in data order */
  readonly tensors: ReadonlyMap<string, CheckpointTensorInfo>;
  /** "__metadata__" of model.safetensors, or of the first shard (by file name) of a sharded checkpoint */
  readonly metadata: Readonly<Record<string, string>> | null;
  /** the index file's "metadata" object (e.g. {"total_size": …}), null for a single-file checkpoint */
  readonly indexMetadata: Readonly<Record<string, unknown>> | null;
  read(name: string): Uint8Array;
  close(): void;
}

function bad(check: string, message: string, data: Record<string, unknown> = {}): never {
  throw new BlyanError('CHECKPOINT_MALFORMED', message, { check, ...data });
}

/** A shard name must be a plain file name in `dir`: no separators, no "..", no symlink leading out. */
function shardPath(dir: string, realDir: string, file: unknown, tensor: string): string {
  if (typeof file !== 'string' || file === '' || file === '.' || file === '..' || file.includes('/') || file.includes('\\') || file.includes('\0') || basename(file) !== file) {
    bad('shardName', `${INDEX_FILE}: tensor "${tensor}" maps to ${JSON.stringify(file)}, which is not a plain file name in the checkpoint directory`, { tensor });
  }
  const path = join(dir, file);
  let real: string;
  try {
    real = realpathSync(path);
  } catch (err) {
    throw new BlyanError('CHECKPOINT_MALFORMED', `${INDEX_FILE}: shard "${file}" (for tensor "${tensor}") cannot be opened: ${(err as Error).message}`, { check: 'shardMissing', file, tensor }, { cause: err });
  }
  if (!real.startsWith(realDir + sep)) bad('shardName', `${INDEX_FILE}: shard "${file}" resolves outside the checkpoint directory`, { file });
  return path;
}

function readIndex(path: string): { weightMap: Record<string, unknown>; metadata: Record<string, unknown> | null } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new BlyanError('IO_ERROR', `cannot open ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
  }
  let text: string;
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_INDEX_BYTES) bad('indexSize', `${INDEX_FILE} is ${size} bytes; the limit is ${MAX_INDEX_BYTES}`);
    const buf = new Uint8Array(size);
    for (let done = 0; done < size; ) {
      const n = readSync(fd, buf, done, size - done, done);
      if (n === 0) bad('indexSize', `${INDEX_FILE} shrank while being read`);
      done += n;
    }
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
    } catch {
      bad('indexJson', `${INDEX_FILE} is not valid UTF-8`);
    }
  } finally {
    closeSync(fd);
  }
  const parsed = parseJsonStrict(text);
  if (!parsed.ok) bad('indexJson', `${INDEX_FILE} is not valid JSON (${parsed.error})`);
  const root = parsed.value;
  if (root === null || typeof root !== 'object' || Array.isArray(root)) bad('indexJson', `${INDEX_FILE} must be a JSON object`);
  const obj = root as Record<string, unknown>;
  for (const k of Object.keys(obj)) if (k !== 'weight_map' && k !== 'metadata') bad('indexJson', `${INDEX_FILE} has an unknown key ${JSON.stringify(k.slice(0, 40))}`);
  const wm = obj.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm) || Object.keys(wm).length === 0) {
    bad('indexJson', `${INDEX_FILE} needs a non-empty "weight_map" object (tensor name → shard file)`);
  }
  const md = obj.metadata;
  if (md !== undefined && md !== null && (typeof md !== 'object' || Array.isArray(md))) bad('indexJson', `${INDEX_FILE}: "metadata" must be an object`);
  return { weightMap: wm as Record<string, unknown>, metadata: (md ?? null) as Record<string, unknown> | null };
}

/**
 * Opens a Hugging Face checkpoint directory: `model.safetensors`, or (when that is absent, the order
 * transformers uses) the shards listed by `model.safetensors.index.json`. For a sharded checkpoint every
 * mapped tensor must be in its shard, and every tensor in a shard must be mapped there: a tensor found in
 * two shards, or in a shard the index does not name for it, is refused as ambiguous.
 */
export function openCheckpoint(dir: string): Checkpoint {
  const root = resolve(dir);
  if (existsSync(join(root, SINGLE_FILE))) {
    const file = openSafetensors(join(root, SINGLE_FILE));
    const tensors = new Map<string, CheckpointTensorInfo>();
    for (const [name, info] of file.tensors) tensors.set(name, { ...info, file: SINGLE_FILE });
    return assemble(root, [file], tensors, file.metadata, null);
  }
  if (!existsSync(join(root, INDEX_FILE))) {
    throw new BlyanError('CHECKPOINT_MALFORMED', `${root} has neither ${SINGLE_FILE} nor ${INDEX_FILE}`, { check: 'noWeights', dir: root });
  }
  const { weightMap, metadata } = readIndex(join(root, INDEX_FILE));
  const realDir = realpathSync(root);
  const shardOf = new Map<string, string>();
  for (const [tensor, file] of Object.entries(weightMap)) {
    shardPath(root, realDir, file, tensor);
    shardOf.set(tensor, file as string);
  }
  const shardNames = [...new Set(shardOf.values())].sort();
  const files: SafetensorsFile[] = [];
  try {
    for (const name of shardNames) files.push(openSafetensors(join(root, name)));
    const tensors = new Map<string, CheckpointTensorInfo>();
    shardNames.forEach((shard, i) => {
      for (const [name, info] of (files[i] as SafetensorsFile).tensors) {
        const mapped = shardOf.get(name);
        if (mapped !== shard) {
          const also = tensors.get(name);
          const why = also !== undefined ? `it is also in "${also.file}"` : mapped === undefined ? 'the index does not list it' : `the index maps it to "${mapped}"`;
          bad('unmapped', `tensor "${name}" is in shard "${shard}" but ${why}`, { tensor: name, file: shard });
        }
        tensors.set(name, { ...info, file: shard });
      }
    });
    for (const [name, shard] of shardOf) {
      if (!tensors.has(name)) {
        throw new BlyanError('CHECKPOINT_MISSING_TENSOR', `${INDEX_FILE} maps tensor "${name}" to "${shard}", which does not contain it`, { tensor: name, file: shard });
      }
    }
    return assemble(root, files, tensors, files[0]?.metadata ?? null, metadata);
  } catch (err) {
    for (const f of files) f.close();
    throw err;
  }
}

function assemble(
  dir: string,
  files: SafetensorsFile[],
  tensors: Map<string, CheckpointTensorInfo>,
  metadata: Readonly<Record<string, string>> | null,
  indexMetadata: Record<string, unknown> | null,
): Checkpoint {
  const byFile = new Map(files.map((f) => [basename(f.path), f]));
  return {
    dir,
    files,
    tensors,
    metadata,
    indexMetadata,
    read(name: string): Uint8Array {
      const info = tensors.get(name);
      if (info === undefined) throw new BlyanError('TENSOR_NOT_FOUND', `checkpoint ${dir} has no tensor "${name}"`, { tensor: name });
      return (byFile.get(info.file) as SafetensorsFile).read(name);
    },
    close(): void {
      for (const f of files) f.close();
    },
  };
}
