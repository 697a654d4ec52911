import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isBlyanError } from '../errors.ts';
import type { BlyanErrorCode } from '../errors.ts';
import { NodeError } from '../node/nodeError.ts';

/** The body of every error answer. */
export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
}

const NOT_FOUND: readonly BlyanErrorCode[] = ['NOT_FOUND', 'MODEL_NOT_FOUND', 'DATASET_NOT_FOUND', 'TENSOR_NOT_FOUND', 'WALLET_NOT_FOUND'];
// A prompt beyond the context is a 400, as OpenAI answers it (413 is kept for oversized bodies).
const BAD_INPUT: readonly BlyanErrorCode[] = ['BAD_ARGUMENT', 'ENGINE_BAD_INPUT', 'ENGINE_CONTEXT_OVERFLOW', 'MODEL_AMBIGUOUS'];

/** HTTP status and body for a thrown value. Only a fault of ours is a 500. */
export function toHttpError(err: unknown): { status: number; body: ApiErrorBody } {
  if (isBlyanError(err)) {
    const status = NOT_FOUND.includes(err.code) ? 404 : BAD_INPUT.includes(err.code) ? 400 : 500;
    return { status, body: { code: err.code, message: err.message } };
  }
  if (err instanceof NodeError) return { status: 503, body: { code: err.code, message: err.message } };
  const fe = err as Partial<FastifyError>;
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 413) return { status, body: { code: 'BODY_TOO_LARGE', message: fe.message ?? 'request body too large' } };
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
