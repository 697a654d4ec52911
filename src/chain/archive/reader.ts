import type { BytesReader } from '@ipld/car/decoder';
import { malformed } from './errors.ts';
import { MAX_CID_READ_BYTES } from './format.ts';
import type { ByteSource } from './source.ts';

/** Small reads go through a window of this size; payloads are read tile by tile past it. */
const WINDOW_BYTES = 64 * 1024;

/**
 * The BytesReader the @ipld/car decoder functions read through. Unlike the library's stream reader it
 * knows the archive's size (a length past the end fails before anything is read) and enforces a
 * per-read `limit`, so a corrupt varint can never make it buffer the file. Every refill allocates a
 * new window, so views handed out earlier (CIDs keep them) stay valid.
 */
export class SourceReader implements BytesReader {
  pos = 0;
  limit = MAX_CID_READ_BYTES;
  private win: Uint8Array = new Uint8Array(0);
  private winStart = 0;

  constructor(readonly src: ByteSource) {}

  private async fill(want: number): Promise<void> {
    const n = Math.min(want, this.src.size - this.pos);
    if (this.pos >= this.winStart && this.pos + n <= this.winStart + this.win.byteLength) return;
    const len = Math.min(Math.max(n, WINDOW_BYTES), this.src.size - this.pos);
    if (this.src.view !== undefined) {
      this.win = this.src.view(this.pos, len);
    } else {
      const buf = new Uint8Array(len);
      await this.src.read(buf, len, this.pos);
      this.win = buf;
    }
    this.winStart = this.pos;
  }

  async upTo(length: number): Promise<Uint8Array> {
    await this.fill(length);
    const off = this.pos - this.winStart;
    return this.win.subarray(off, off + Math.min(length, this.src.size - this.pos));
  }

  async exactly(length: number, seek = false): Promise<Uint8Array> {
    if (!Number.isSafeInteger(length) || length < 0) throw malformed(`corrupt length ${length} at byte ${this.pos}`, { offset: this.pos });
    if (length > this.limit) throw malformed(`a ${length}-byte field at byte ${this.pos} exceeds the ${this.limit}-byte bound`, { offset: this.pos });
    if (length > this.src.size - this.pos) throw malformed(`archive is truncated: ${length} bytes needed at byte ${this.pos}, ${this.src.size - this.pos} left`, { offset: this.pos });
    await this.fill(length);
    const off = this.pos - this.winStart;
    const out = this.win.subarray(off, off + length);
    if (seek) this.pos += length;
    return out;
  }

  seek(length: number): void {
    this.pos += length;
  }
}
