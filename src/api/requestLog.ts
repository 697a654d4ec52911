import { type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController } from 'fastify';

/** Paths that monitors, load balancers and Prometheus poll all day. */
const POLLED = new Set(['/health', '/metrics']);

/**
 * Fastify's per-request log lines ("incoming request", "request completed" at info), except that a successful
 * answer on a polled path is logged at debug. A watcher asking every second would otherwise fill the log with
 * two lines a second that say nothing, and writing them costs about as much CPU as the answer itself; a failed
 * poll is still logged as any other request.
 */
export class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (POLLED.has(request.url)) request.log.debug({ req: request }, 'incoming request');
    else super.incomingRequest(request, reply, metadata);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (error == null && reply.statusCode < 400 && POLLED.has(request.url)) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
    else super.requestCompleted(error, request, reply, metadata);
  }
}

/**
 * Each request logs through a child logger bound to its request id, except a polled path: it logs (rarely,
 * see RequestLog) through the server's logger, without the id: making a child on every poll costs a few per
 * cent of a `/health` answer, for lines that are almost never written.
 */
export const requestChildLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, opts, raw) => (POLLED.has(raw.url ?? '') ? logger : logger.child(bindings, opts));
