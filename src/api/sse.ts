import { once } from 'node:events';
import type { FastifyReply } from 'fastify';

export interface SseWriter {
  /** Sends one event (data JSON-encoded unless a string, with an `event:` name if given); waits when the socket is full. */
  send(data: unknown, event?: string): Promise<void>;
  end(): void;
}

/** Takes over the response for Server-Sent Events. Only call once the answer is known to start. */
export function startSse(reply: FastifyReply): SseWriter {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  return {
    async send(data, event) {
      if (res.destroyed) return;
      const text = typeof data === 'string' ? data : JSON.stringify(data);
      if (!res.write(`${event === undefined ? '' : `event: ${event}\n`}data: ${text}\n\n`)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    },
    end() {
      if (!res.destroyed) res.end();
    },
  };
}

/** Aborts when the client goes away before the answer is complete, or when the node shuts down. */
export function requestSignal(reply: FastifyReply, shutdown: AbortSignal): AbortSignal {
  const gone = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  return AbortSignal.any([gone.signal, shutdown]);
}
