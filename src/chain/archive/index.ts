/**
 * Portable chain archive: a CAR v1 file (docs/archive.md).
 *
 *   format.ts    layout, bounds, manifest and witness encoding
 *   export.ts    exportArchive: store → archive, streamed, atomic rename
 *   verify.ts    pass 1 of an import: every CID, block and payload checked, nothing written
 *   import.ts    pass 2: re-read the payloads the store lacks, one atomic appendBatch
 *   source.ts, reader.ts, section.ts, payload.ts   bounded reading of a file or byte array
 */
export { exportArchive } from './export.ts';
export {
  ARCHIVE_CHAIN_ORDER,
  ARCHIVE_FORMAT,
  ARCHIVE_VERSION,
  type ArchiveManifest,
  encodeManifest,
  encodeWitness,
} from './format.ts';
export { importArchive } from './import.ts';
export type { ArchiveProgress, ExportResult, ImportOptions, ImportResult, VerifyResult } from './types.ts';
export { verifyArchive } from './verify.ts';
