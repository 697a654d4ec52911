import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { formatAddress, parseAddress } from '../../chain/address.ts';
import { sha256, toHex } from '../../chain/hash.ts';
import { entryView, shardView } from '../../cli/actions/datasetView.ts';
import { firstControl } from '../../datasets/charset.ts';
import { DATASET_TIERS, LICENSE_PATTERN } from '../../datasets/datasetBlock.ts';
import { MAX_DATASET_NAME, MAX_LICENSE_LENGTH } from '../../datasets/limits.ts';
import { listDatasets, readDataset, resolveDataset } from '../../datasets/registry.ts';
import { shardBytes, shardFor } from '../../datasets/sharding.ts';
import { BlyanError } from '../../errors.ts';
import { type AddDatasetOutcome, addDataset } from '../../node/datasetAdd.ts';
import { requireOperator } from '../auth/operator.ts';
import type { ApiDeps } from '../deps.ts';
import { parse } from '../validate.ts';

/** The options of `blyan dataset add`, with the file's text in the body (its size is capped by the node's body limit: 413 beyond it). */
const AddBody = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(MAX_DATASET_NAME)
    .refine((s) => firstControl(s) === -1, 'must have no control characters'),
  text: z.string().min(1),
  tier: z.enum(DATASET_TIERS).default('experimental'),
  license: z.string().max(MAX_LICENSE_LENGTH).regex(LICENSE_PATTERN, 'must be an SPDX expression such as MIT, CC-BY-4.0 or NOASSERTION').default('NOASSERTION'),
  pii: z.enum(['redact', 'reject']).default('redact'),
  wallet: z.string().min(1).max(100).optional(),
});

const IdParam = z.string().min(1).max(300);
const ShowQuery = z.strictObject({
  chunks: z.enum(['true', 'false', '1', '0']).optional(),
  miner: z.string().min(1).max(100).optional(),
  round: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  shards: z.coerce.number().int().min(1).max(0xffffffff).optional(),
});

/** Datasets on chain D: `blyan dataset add`, `list --json` and `show --json` over HTTP. */
export function datasetRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { store, learning } = deps;
  // One addition at a time: the duplicate rule (U1) must see the dataset added just before.
  let tail: Promise<unknown> = Promise.resolve();

  app.post('/datasets', async (req, reply) => {
    await requireOperator(req, deps.credentials, deps.dataDir, 'datasets');
    const body = parse(AddBody, req.body, 'body');
    const run = tail.then(() => addDataset(store, learning.wallet, body));
    tail = run.catch(() => undefined);
    const r: AddDatasetOutcome = await run;
    if (r.ok) return reply.code(201).send(r.dataset);
    // A refusal of the content, not of the request: 422 with the rule's code and the pre-filter's report.
    return reply.code(422).send({ code: r.rejection.code, message: r.rejection.message, data: r.rejection.data, report: r.report });
  });

  app.get('/datasets', async () => listDatasets(store).map(entryView));

  app.get('/datasets/:id', async (req) => {
    const ref = parse(IdParam, (req.params as { id?: unknown }).id, 'id');
    const q = parse(ShowQuery, req.query, 'query');
    const entry = resolveDataset(store, ref);
    const view: Record<string, unknown> = { ...entryView(entry) };
    if (q.chunks === 'true' || q.chunks === '1') view['chunkHashes'] = entry.meta.chunks.map(toHex);
    if (q.miner !== undefined || q.round !== undefined || q.shards !== undefined) {
      if (q.miner === undefined || q.round === undefined) throw new BlyanError('BAD_ARGUMENT', 'query: a shard needs miner=ADDRESS and round=N');
      const miner = parseAddress(q.miner);
      const shard = shardFor({ id: entry.id, size: entry.meta.size, chunkSize: entry.meta.chunkSize }, miner, q.round, q.shards);
      const bytes = shardBytes(readDataset(store, entry.id).content, shard);
      view['shard'] = shardView(shard, formatAddress(miner), bytes, sha256(bytes));
    }
    return view;
  });
}
