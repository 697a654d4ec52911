import { z } from 'zod';
import { clientErrorCode } from '../api/errors.ts';
import { BlyanError } from '../errors.ts';

/**
 * One request to the node running on a data dir (its URL from `<data>/node.run.json`), for the CLI commands that
 * must go through it. An error answer comes back as the same typed error the node raised (its code and message:
 * LEDGER_INSUFFICIENT_FUNDS, LEDGER_PRODUCER_UNREACHABLE, …), so a command fails the same way whether it ran
 * here or there; a node that cannot be reached, a fault of the node and an answer of an unexpected shape are
 * IO_ERROR.
 */
export interface NodeRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The body of every error answer (src/api/errors.ts ApiErrorBody). */
const ErrorBody = z.object({ code: z.string().max(64), message: z.string().max(4096) });

export async function callNode<S extends z.ZodType>(url: string, req: NodeRequest, answer: S): Promise<z.output<S>> {
  const where = `${url}${req.path}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(where, {
      method: req.method,
      headers: { ...(req.body === undefined ? {} : { 'content-type': 'application/json' }), ...req.headers },
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
    });
    text = await res.text();
  } catch (err) {
    throw new BlyanError('IO_ERROR', `the node at ${url} does not answer (${(err as Error).message}); is it still running?`, { url }, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BlyanError('IO_ERROR', `${req.method} ${where} answered HTTP ${res.status} with a body that is not JSON`, { url, status: res.status });
  }
  if (!res.ok) {
    const body = ErrorBody.safeParse(json);
    if (!body.success) throw new BlyanError('IO_ERROR', `${req.method} ${where} failed with HTTP ${res.status}`, { url, status: res.status });
    const code = clientErrorCode(body.data.code);
    if (code !== undefined) throw new BlyanError(code, body.data.message, { node: url });
    throw new BlyanError('IO_ERROR', `the node at ${url} failed (HTTP ${res.status}, ${body.data.code}): ${body.data.message}`, { url, status: res.status, code: body.data.code });
  }
  const parsed = answer.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BlyanError('IO_ERROR', `${req.method} ${where} answered in an unexpected shape (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}); is the node the same version as this CLI?`, { url });
  }
  return parsed.data;
}
