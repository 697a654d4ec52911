/**
 * Every failure a user or a peer can cause surfaces as a BlyanError with a stable code.
 * Callers branch on `code`, never on the message (messages are for people and may change).
 */
export type BlyanErrorCode =
  // encoding (rule E*)
  | 'BLOCK_TOO_LARGE'
  | 'BLOCK_MALFORMED'
  | 'BLOCK_NOT_CANONICAL'
  | 'BLOCK_BAD_FIELD'
  // standalone rules (S*)
  | 'BLOCK_BAD_VERSION'
  | 'BLOCK_BAD_TYPE'
  | 'BLOCK_BAD_DEPS'
  | 'BLOCK_BAD_PAYLOAD'
  | 'BLOCK_PAYLOAD_MISSING'
  | 'BLOCK_WEAK_POW'
  | 'BLOCK_BAD_SIGNATURE'
  | 'BLOCK_FUTURE_TIME'
  // contextual rules (L*, D*)
  | 'BLOCK_DUPLICATE'
  | 'BLOCK_UNKNOWN_DEP'
  | 'BLOCK_CYCLE'
  | 'BLOCK_BAD_PREV'
  | 'BLOCK_BAD_INDEX'
  | 'BLOCK_BAD_TIME'
  | 'BLOCK_WRONG_GENESIS'
  | 'BLOCK_MISSING_MODEL_DEP'
  | 'BLOCK_BAD_LINEAGE'
  // store and archive
  | 'STORE_GENESIS_MISMATCH'
  | 'STORE_NOT_INITIALISED'
  | 'STORE_ALREADY_INITIALISED'
  | 'STORE_CORRUPT'
  | 'NOT_FOUND'
  | 'ARCHIVE_MALFORMED'
  | 'ARCHIVE_CID_MISMATCH'
  | 'ARCHIVE_WRONG_NETWORK'
  // keys
  | 'KEYSTORE_MALFORMED'
  | 'KEYSTORE_BAD_PASSPHRASE'
  | 'KEYSTORE_UNSUPPORTED'
  | 'KEY_INVALID'
  | 'WALLET_NOT_FOUND'
  | 'WALLET_EXISTS'
  | 'PASSPHRASE_REQUIRED'
  // models and the engine
  | 'MODEL_BAD_CONFIG'
  | 'MODEL_UNSUPPORTED'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_AMBIGUOUS'
  | 'MODEL_SHAPE_MISMATCH'
  | 'MODEL_MISSING_TENSOR'
  | 'ENGINE_BAD_INPUT'
  | 'ENGINE_CONTEXT_OVERFLOW'
  // tensors: TensorBlock payloads, dtypes, safetensors files and checkpoints (docs/tensorblock.md, docs/safetensors.md)
  | 'TENSOR_MALFORMED'
  | 'TENSOR_BAD_DTYPE'
  | 'TENSOR_BAD_SHAPE'
  | 'TENSOR_NOT_FOUND'
  | 'SAFETENSORS_MALFORMED'
  | 'CHECKPOINT_MALFORMED'
  | 'CHECKPOINT_MISSING_TENSOR'
  // generic input
  | 'BAD_ARGUMENT'
  | 'IO_ERROR';

export class BlyanError<Data extends Record<string, unknown> = Record<string, unknown>> extends Error {
  readonly code: BlyanErrorCode;
  readonly data: Data;

  constructor(code: BlyanErrorCode, message: string, data?: Data, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BlyanError';
    this.code = code;
    this.data = data ?? ({} as Data);
  }

  toJSON(): { code: BlyanErrorCode; message: string; data: Data } {
    return { code: this.code, message: this.message, data: this.data };
  }
}

export function isBlyanError(err: unknown, code?: BlyanErrorCode): err is BlyanError {
  return err instanceof BlyanError && (code === undefined || err.code === code);
}
