import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isBlyanError } from '../errors.ts';
import type { BlyanErrorCode } from '../errors.ts';
import { NodeError } from '../node/nodeError.ts';

/** The body of every error answer. */
export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
}

/** HTTP status of each error a client can cause; anything not listed is a fault of ours (500). */
const STATUS: Partial<Record<BlyanErrorCode, number>> = {
  // A prompt beyond the context is a 400, as OpenAI answers it (413 is kept for oversized bodies).
  BAD_ARGUMENT: 400,
  ENGINE_BAD_INPUT: 400,
  ENGINE_CONTEXT_OVERFLOW: 400,
  MODEL_AMBIGUOUS: 400,
  QUOTE_TOO_SMALL: 400,
  SIWE_INVALID: 400,
  LEDGER_MALFORMED_TX: 400,
  LEDGER_BAD_BATCH: 400,
  LEDGER_BAD_SIGNATURE: 400,
  LEDGER_WRONG_DOMAIN: 400,
  LEDGER_WRONG_CHAIN_ID: 400,
  LEDGER_BAD_AMOUNT: 400,
  LEDGER_AMOUNT_OVERFLOW: 400,
  LEDGER_RESERVED_ACCOUNT: 400,
  LEDGER_BAD_QUOTE: 400,
  LEDGER_QUOTE_EXPIRED: 400,
  AUTH_REQUIRED: 401,
  AUTH_INVALID: 401,
  AUTH_EXPIRED: 401,
  SIWE_BAD_NONCE: 401,
  LEDGER_INSUFFICIENT_FUNDS: 402,
  AUTH_FORBIDDEN: 403,
  LEDGER_NOT_AUTHORIZED: 403,
  NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  DATASET_NOT_FOUND: 404,
  TENSOR_NOT_FOUND: 404,
  WALLET_NOT_FOUND: 404,
  LEDGER_UNKNOWN_ACCOUNT: 404,
  LEDGER_UNKNOWN_HOLD: 404,
  NOT_ON_THIS_NETWORK: 404,
  LEDGER_NONCE_REPLAYED: 409,
  LEDGER_DUPLICATE_QUOTE: 409,
  LEDGER_HOLD_STATE: 409,
  LEDGER_IDEMPOTENCY_CONFLICT: 409,
  LEDGER_ALREADY_PAID: 409,
  LEDGER_CAPTURE_EXCEEDS_AUTH: 409,
  LEDGER_POOL_EXHAUSTED: 409,
  FREE_TIER_EXHAUSTED: 429,
  LEDGER_FREE_QUOTA_EXCEEDED: 429,
  RATE_LIMITED: 429,
  // Learning (routes/datasets.ts, mine.ts, pol.ts): content the L0 pre-filter refuses is a 422, a second
  // mining job a 409, and a node that cannot sign (no wallet, no BLYAN_PASSPHRASE) a 503 saying how to fix it.
  DELTA_NO_VALIDATION_SET: 400,
  MINE_BUSY: 409,
  DATASET_TOO_SMALL: 422,
  DATASET_TOO_LARGE: 422,
  DATASET_BINARY: 422,
  DATASET_NOT_UTF8: 422,
  DATASET_BAD_CHARSET: 422,
  DATASET_PII: 422,
  DATASET_TOXIC: 422,
  DATASET_DUPLICATE: 422,
  NODE_NO_WALLET: 503,
  // A follower's transaction that no ledger producer included in time (docs/ledger.md §9.4).
  LEDGER_PRODUCER_UNREACHABLE: 503,
  // A node configured to produce while chain A's params name another producer: it refuses to fork chain C.
  LEDGER_NOT_PRODUCER: 503,
  PASSPHRASE_REQUIRED: 503,
};

/**
 * The code of an error answer when it is one a client caused (a listed BlyanErrorCode, e.g. LEDGER_INSUFFICIENT_FUNDS),
 * else undefined (a fault of the node, or the HTTP layer's own codes): how a client of this API (the CLI through a
 * running node, src/cli/nodeClient.ts) turns an answer back into the same typed error.
 */
export function clientErrorCode(code: string): BlyanErrorCode | undefined {
  return Object.hasOwn(STATUS, code) ? (code as BlyanErrorCode) : undefined;
}

/** HTTP status and body for a thrown value. Only a fault of ours is a 500. */
export function toHttpError(err: unknown): { status: number; body: ApiErrorBody } {
  if (isBlyanError(err)) {
    return { status: STATUS[err.code] ?? 500, body: { code: err.code, message: err.message } };
  }
  if (err instanceof NodeError) return { status: 503, body: { code: err.code, message: err.message } };
  const fe = err as Partial<FastifyError>;
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 413) return { status, body: { code: 'BODY_TOO_LARGE', message: fe.message ?? 'request body too large' } };
  if (status === 429) return { status, body: { code: 'RATE_LIMITED', message: fe.message ?? 'too many requests' } };
  if (status === 415) return { status, body: { code: 'UNSUPPORTED_MEDIA_TYPE', message: fe.message ?? 'unsupported content type' } };
  if (status >= 400 && status < 500) {
    const json = err instanceof SyntaxError || (fe.code ?? '').includes('JSON');
    return { status, body: { code: json ? 'BAD_JSON' : 'BAD_REQUEST', message: fe.message ?? 'bad request' } };
  }
  return { status: 500, body: { code: 'INTERNAL', message: 'internal error' } };
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = toHttpError(err);
  if (status >= 500) req.log.error({ err }, 'request failed');
  void reply.code(status).send(body);
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  void reply.code(404).send({ code: 'ROUTE_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } satisfies ApiErrorBody);
}
