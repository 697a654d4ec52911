import { open as openFile, type FileHandle } from 'node:fs/promises';
import { BlyanError } from '../../errors.ts';
import { malformed } from './errors.ts';

/** Random-access bytes: a file handle or an in-memory archive. */
export interface ByteSource {
  readonly size: number;
  /** Fills `into[0, length)` from `position`; throws if the source ends first. */
  read(into: Uint8Array, length: number, position: number): Promise<void>;
  /** Zero-copy view when the source is in memory. */
  view?(position: number, length: number): Uint8Array;
  close(): Promise<void>;
}

async function openSource(input: string | Uint8Array): Promise<ByteSource> {
  if (input instanceof Uint8Array) {
    const bytes = input;
    return {
      size: bytes.byteLength,
      async read(into, length, position) {
        if (position + length > bytes.byteLength) throw malformed('archive is truncated');
        into.set(bytes.subarray(position, position + length));
      },
      view: (position, length) => bytes.subarray(position, position + length),
      async close() {},
    };
  }
  let fh: FileHandle;
  try {
    fh = await openFile(input, 'r');
  } catch (err) {
    throw new BlyanError('IO_ERROR', `cannot read archive ${input}: ${(err as Error).message}`, { file: input }, { cause: err });
  }
  const { size } = await fh.stat();
  return {
    size,
    async read(into, length, position) {
      let off = 0;
      while (off < length) {
        const { bytesRead } = await fh.read(into, off, length - off, position + off);
        if (bytesRead === 0) throw malformed(`archive ${input} ended early (was it changed while being read?)`);
        off += bytesRead;
      }
    },
    close: () => fh.close(),
  };
}

/** Runs `fn` on the opened archive and closes it afterwards, whatever happens. */
export async function withSource<T>(input: string | Uint8Array, fn: (src: ByteSource) => Promise<T>): Promise<T> {
  const src = await openSource(input);
  try {
    return await fn(src);
  } finally {
    await src.close().catch(() => undefined);
  }
}
