/** Options and results of the archive operations. */

export type ArchiveProgress = (bytesDone: number, bytesTotal: number) => void;

export interface ExportResult {
  readonly blocks: number;
  readonly payloads: number;
  readonly bytes: number;
}

export interface ImportOptions {
  /**
   * Progress over both passes: `bytesTotal` is twice the archive size; pass 1 (verify) covers the
   * first half, pass 2 (re-read payloads and write) the second.
   */
  readonly onProgress?: ArchiveProgress;
  /** Receipt time for the future-time rule (S8); defaults to Date.now(). */
  readonly now?: number;
}

export interface ImportResult {
  /** Blocks written to the store. */
  readonly added: number;
  /** Blocks of the archive the store already had. */
  readonly skipped: number;
  /** Blocks in the archive. */
  readonly blocks: number;
  /** Archive size in bytes. */
  readonly bytes: number;
}

export interface VerifyResult extends ImportResult {
  /** Distinct payloads in the archive and their total size. */
  readonly payloads: number;
  readonly payloadBytes: number;
}
