import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import type { SamplingOptions } from '../../engine/sampler.ts';
import { isBlyanError } from '../../errors.ts';
import type { Identity } from '../../node/identity.ts';
import { identify } from '../auth/identify.ts';
import type { ApiDeps } from '../deps.ts';
import { toHttpError } from '../errors.ts';
import { meteredChat, PaymentFields, paymentOf } from '../meteredChat.ts';
import { parse } from '../validate.ts';
import { MAX_NEW_TOKENS, MAX_PROMPT_CHARS } from './chat.ts';

/** Streams a socket may run at once (they queue for the engine like any chat). */
export const MAX_STREAMS_PER_SOCKET = 4;
export const HEARTBEAT_MS = 15_000;
const StreamId = z.string().min(1).max(64);

const Start = z.strictObject({
  type: z.literal('start'),
  id: StreamId,
  prompt: z.string().min(1).max(MAX_PROMPT_CHARS),
  model: z.string().min(1).max(200).optional(),
  maxTokens: z.number().int().min(1).max(MAX_NEW_TOKENS).default(64),
  temperature: z.number().min(0).max(10).optional(),
  topP: z.number().gt(0).max(1).optional(),
  topK: z.number().int().min(0).optional(),
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  stop: z.array(z.string().min(1).max(100)).max(4).optional(),
  ...PaymentFields,
});
const Cancel = z.strictObject({ type: z.literal('cancel'), id: StreamId });
const Ping = z.strictObject({ type: z.literal('ping') });
const ClientMessage = z.discriminatedUnion('type', [Start, Cancel, Ping]);

/**
 * `WS /ws/chat` (docs/api.md): several answers per socket, each under a client-chosen id. Client sends
 * `start` / `cancel` / `ping`; the node sends `start` (with the quote), `token` (text, experts, cost so far),
 * `end` (usage, cost, receipt) or `error`, and a `heartbeat` every 15 s (plus protocol pings; a socket that
 * misses two is closed). Cancelling ends the answer at its next token and charges only what was produced.
 * Browsers cannot set headers on a WebSocket, so the bearer token may come as `?token=`.
 */
export function wsChatRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/ws/chat', { websocket: true }, (socket: WebSocket, req: FastifyRequest) => {
    const send = (m: Record<string, unknown>) => {
      if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
    };
    let who: Identity;
    try {
      const token = (req.query as { token?: unknown }).token;
      if (typeof token === 'string' && req.headers.authorization === undefined) req.headers.authorization = `Bearer ${token}`;
      who = identify(req, deps.credentials);
    } catch (err) {
      const { body } = toHttpError(err);
      send({ type: 'error', id: null, ...body });
      socket.close(4401, body.code);
      return;
    }
    const streams = new Map<string, AbortController>();
    let alive = true;
    socket.on('pong', () => {
      alive = true;
    });
    const beat = setInterval(() => {
      if (!alive) {
        socket.terminate();
        return;
      }
      alive = false;
      socket.ping();
      send({ type: 'heartbeat', time: Date.now() });
    }, HEARTBEAT_MS);
    const onShutdown = () => socket.close(1001, 'node stopping');
    deps.shutdown.addEventListener('abort', onShutdown, { once: true });
    socket.on('close', () => {
      clearInterval(beat);
      deps.shutdown.removeEventListener('abort', onShutdown);
      for (const c of streams.values()) c.abort();
    });

    const run = async (m: z.infer<typeof Start>) => {
      const ctl = new AbortController();
      streams.set(m.id, ctl);
      const sampling: SamplingOptions = {
        temperature: m.temperature ?? 0.8,
        topP: m.topP ?? (m.temperature === undefined ? 0.95 : 1),
        ...(m.topK === undefined ? {} : { topK: m.topK }),
        seed: m.seed ?? 0,
      };
      let started = false;
      let count = 0;
      let t0 = 0;
      try {
        const request = { prompt: m.prompt, model: m.model, maxTokens: m.maxTokens, sampling, stop: m.stop, signal: AbortSignal.any([ctl.signal, deps.shutdown]) };
        const a = await meteredChat(deps, 'ws', who, paymentOf(m), request, (t, at) => {
          if (!started) {
            started = true;
            t0 = performance.now();
            send({ type: 'start', id: m.id, maxTokens: m.maxTokens, promptTokens: at.promptTokens, quote: at.quote });
          }
          if (t.id !== null) count++;
          const s = (performance.now() - t0) / 1000;
          send({ type: 'token', id: m.id, tokenId: t.id, text: t.delta, experts: t.experts, tokens: count, tokensPerSecond: s > 0 ? count / s : null, cost: at.cost.toString() });
        });
        const r = a.result;
        send({ type: 'end', id: m.id, model: r.model, text: r.text, usage: r.usage, finishReason: r.finishReason, quote: a.quote, cost: a.settlement.cost, receipt: a.receipt });
      } catch (err) {
        const { status, body } = toHttpError(err);
        if (status >= 500 && !isBlyanError(err)) req.log.error({ err }, 'ws chat failed');
        send({ type: 'error', id: m.id, status, ...body });
      } finally {
        streams.delete(m.id);
      }
    };

    socket.on('message', (data, isBinary) => {
      let m: z.infer<typeof ClientMessage>;
      try {
        if (isBinary) throw new SyntaxError('binary frames are not part of this protocol');
        m = parse(ClientMessage, JSON.parse(String(data)), 'message');
      } catch (err) {
        const { body } = toHttpError(err instanceof SyntaxError ? Object.assign(err, { statusCode: 400 }) : err);
        send({ type: 'error', id: null, ...body });
        return;
      }
      if (m.type === 'ping') send({ type: 'pong', time: Date.now() });
      else if (m.type === 'cancel') streams.get(m.id)?.abort();
      else if (streams.has(m.id)) send({ type: 'error', id: m.id, code: 'BAD_ARGUMENT', message: `stream ${m.id} is already running on this socket` });
      else if (streams.size >= MAX_STREAMS_PER_SOCKET) send({ type: 'error', id: m.id, code: 'RATE_LIMITED', message: `at most ${MAX_STREAMS_PER_SOCKET} streams at once per socket` });
      else void run(m);
    });
  });
}
