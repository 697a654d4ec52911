import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { JobEvent } from '../../node/miningJob.ts';
import { requireOperator } from '../auth/operator.ts';
import type { ApiDeps } from '../deps.ts';
import { startSse } from '../sse.ts';
import { parse } from '../validate.ts';

/** The flags of `blyan mine` (same defaults and bounds), for one expert. */
const MineBody = z.strictObject({
  model: z.string().min(1).max(200).optional(),
  expert: z.string().regex(/^layer\d{1,4}\.expert\d{1,6}$/, 'must be an expert such as layer1.expert3').optional(),
  steps: z.number().int().min(1).max(100_000).default(20),
  lr: z.number().positive().max(1).default(0.001),
  batch: z.number().int().min(1).max(512).default(8),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  topK: z.number().int().min(1).max(1 << 20).optional(),
  threads: z.number().int().min(1).max(1024).optional(),
  wallet: z.string().min(1).max(100).optional(),
  dryRun: z.boolean().default(false),
});

const JobParam = z.string().regex(/^[0-9a-f-]{36}$/, 'must be a job id');

/** SSE comment lines keep proxies from closing a stream that is quiet during a long validation. */
const KEEPALIVE_MS = 15_000;

/** Mining jobs: start one, follow it (SSE), read its status, cancel it. */
export function mineRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { jobs } = deps.learning;

  app.post('/mine', async (req, reply) => {
    await requireOperator(req, deps.credentials, deps.dataDir, 'mine');
    const body = parse(MineBody, req.body, 'body');
    const job = await jobs.start(body);
    // PoL outcomes for /metrics, counted once per job whoever follows it.
    const sub = job.subscribe((e) => {
      if (e.event === 'accepted' || e.event === 'rejected') deps.metrics.pol.inc({ result: e.event });
    });
    for (const e of sub.history) if (e.event === 'accepted' || e.event === 'rejected') deps.metrics.pol.inc({ result: e.event });
    return reply.code(202).send({ jobId: job.id, status: job.status, events: `/mine/${job.id}/events` });
  });

  app.get('/mine', async () => ({ running: jobs.current?.id ?? null, jobs: jobs.list().map((j) => j.view()) }));

  app.get('/mine/:jobId', async (req) => jobs.get(parse(JobParam, (req.params as { jobId?: unknown }).jobId, 'jobId')).view());

  app.delete('/mine/:jobId', async (req) => {
    await requireOperator(req, deps.credentials, deps.dataDir, 'mine');
    const job = await jobs.cancel(parse(JobParam, (req.params as { jobId?: unknown }).jobId, 'jobId'));
    return job.view();
  });

  /**
   * The job's events so far (consecutive progress events as the latest one), then live ones, ending after
   * `done`: progress {step, steps, loss}, training, evaluating, accepted | rejected | error, done {status}.
   * Node stop cancels the running job before it closes the server, so every stream ends with its `done`.
   */
  app.get('/mine/:jobId/events', async (req, reply) => {
    const job = jobs.get(parse(JobParam, (req.params as { jobId?: unknown }).jobId, 'jobId'));
    const sse = startSse(reply);
    await new Promise<void>((resolve) => {
      let sending: Promise<void> = Promise.resolve();
      let live = true;
      const finish = () => {
        if (!live) return;
        live = false;
        clearInterval(keepalive);
        unsubscribe();
        void sending.then(() => sse.end());
        resolve();
      };
      const push = (e: JobEvent) => {
        if (!live) return;
        sending = sending.then(() => sse.send(e.data, e.event));
        if (e.event === 'done') finish();
      };
      const { history, unsubscribe } = job.subscribe(push);
      const keepalive = setInterval(() => {
        if (!reply.raw.destroyed) reply.raw.write(': keepalive\n\n');
      }, KEEPALIVE_MS);
      reply.raw.on('close', finish);
      for (const e of history) push(e);
    });
    return reply;
  });
}
