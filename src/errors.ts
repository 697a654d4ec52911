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
  // datasets: chain D payloads and the L0 pre-filter (docs/datasets.md)
  | 'DATASET_NOT_FOUND'
  | 'DATASET_MALFORMED'
  | 'DATASET_DUPLICATE'
  | 'DATASET_TOO_LARGE'
  | 'DATASET_TOO_SMALL'
  | 'DATASET_BINARY'
  | 'DATASET_NOT_UTF8'
  | 'DATASET_BAD_CHARSET'
  | 'DATASET_PII'
  | 'DATASET_TOXIC'
  // proof-of-learning: delta blocks and their validation (docs/proof-of-learning.md)
  | 'DELTA_MALFORMED'
  | 'DELTA_NOT_FINITE'
  | 'DELTA_NORM_TOO_LARGE'
  | 'DELTA_STALE_BASE'
  | 'DELTA_REPLAY'
  | 'DELTA_MANIFEST_MISMATCH'
  | 'DELTA_NO_IMPROVEMENT'
  | 'DELTA_NO_VALIDATION_SET'
  // mining and datasets through the node (docs/api.md, "Learning")
  | 'MINE_BUSY'
  | 'NODE_NO_WALLET'
  // ledger: chain C transactions, payments and rewards (docs/ledger.md)
  | 'LEDGER_MALFORMED_TX'
  | 'LEDGER_BAD_BATCH'
  | 'LEDGER_BAD_SIGNATURE'
  | 'LEDGER_WRONG_DOMAIN'
  | 'LEDGER_WRONG_CHAIN_ID'
  | 'LEDGER_NONCE_REPLAYED'
  | 'LEDGER_INSUFFICIENT_FUNDS'
  | 'LEDGER_BAD_AMOUNT'
  | 'LEDGER_AMOUNT_OVERFLOW'
  | 'LEDGER_UNKNOWN_ACCOUNT'
  | 'LEDGER_RESERVED_ACCOUNT'
  | 'LEDGER_NOT_AUTHORIZED'
  | 'LEDGER_BAD_QUOTE'
  | 'LEDGER_QUOTE_EXPIRED'
  | 'LEDGER_DUPLICATE_QUOTE'
  | 'LEDGER_UNKNOWN_HOLD'
  | 'LEDGER_HOLD_STATE'
  | 'LEDGER_CAPTURE_EXCEEDS_AUTH'
  | 'LEDGER_FREE_QUOTA_EXCEEDED'
  | 'LEDGER_IDEMPOTENCY_CONFLICT'
  | 'LEDGER_POOL_EXHAUSTED'
  | 'LEDGER_ALREADY_PAID'
  | 'LEDGER_AUDIT_FAILED'
  | 'LEDGER_BAD_PARAMS'
  | 'LEDGER_PRODUCER_UNREACHABLE'
  | 'LEDGER_FOLLOWER_OFFLINE'
  | 'LEDGER_BLOCK_INVALID'
  | 'LEDGER_NOT_PRODUCER'
  | 'LEDGER_FOREIGN_BLOCK'
  // generic input
  | 'BAD_ARGUMENT'
  | 'IO_ERROR'
  // node API: sign-in, API keys, free tier, limits (docs/api.md)
  | 'AUTH_REQUIRED'
  | 'AUTH_INVALID'
  | 'AUTH_EXPIRED'
  | 'AUTH_FORBIDDEN'
  | 'SIWE_INVALID'
  | 'SIWE_BAD_NONCE'
  | 'FREE_TIER_EXHAUSTED'
  | 'QUOTE_TOO_SMALL'
  | 'RATE_LIMITED'
  | 'NOT_ON_THIS_NETWORK'
  // p2p: wire frames, peers and chain sync (docs/sync-protocol.md)
  | 'P2P_FRAME_TOO_LARGE'
  | 'P2P_MALFORMED'
  | 'P2P_TIMEOUT'
  | 'P2P_WRONG_GENESIS'
  | 'P2P_BAD_DATA'
  | 'P2P_REMOTE_ERROR'
  | 'P2P_STREAM_CLOSED'
  | 'P2P_NO_PEERS'
  | 'P2P_SYNC_INCOMPLETE'
  // expert RPC: distributed inference (docs/expert-rpc.md)
  | 'P2P_BAD_SHAPE'
  | 'P2P_EXPERT_MISMATCH'
  | 'P2P_EXPERT_UNAVAILABLE';

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
