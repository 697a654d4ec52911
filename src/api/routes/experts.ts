import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { formatAddress } from '../../chain/address.ts';
import { toHex } from '../../chain/hash.ts';
import { listModels, resolveModel } from '../../engine/modelRegistry.ts';
import { BlyanError } from '../../errors.ts';
import type { ApiDeps } from '../deps.ts';
import { parse } from '../validate.ts';

const ROUTED_EXPERT = /^layer\d+\.expert\d+$/;
const ModelQuery = z.object({ model: z.string().min(1).max(200).optional() });
const NameParam = z.string().regex(/^[A-Za-z0-9_.]{1,100}$/, 'must be a component name such as layer0.expert3');

const TopQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(10), model: z.string().min(1).max(200).optional() });

export function expertRoutes(app: FastifyInstance, { store, usage }: ApiDeps): void {
  /** The experts that produced the most tokens on this node, most first. */
  app.get('/experts/top', async (req) => {
    const q = parse(TopQuery, req.query, 'query');
    const model = q.model === undefined ? undefined : resolveModel(store, q.model);
    const names = new Map(listModels(store).map((m) => [m.idHex, m]));
    return usage.top(q.limit, model?.idHex).flatMap((r) => {
      const m = names.get(r.model);
      if (m === undefined) return [];
      const id = store.currentVersion(m.id, r.expert);
      return [{ name: r.expert, model: m.meta.name, modelHash: r.model, usage: r.usage, hash: id === undefined ? null : toHex(id) }];
    });
  });

  /** The current version of every routed expert of every model (or of `?model=`). */
  app.get('/experts', async (req) => {
    const q = parse(ModelQuery, req.query, 'query');
    const models = q.model === undefined ? listModels(store) : [resolveModel(store, q.model)];
    const names = new Map(models.map((m) => [m.idHex, m.meta.name]));
    const out = [];
    for (const e of store.parameterIndex()) {
      const modelName = names.get(e.model);
      if (modelName === undefined || !ROUTED_EXPERT.test(e.name)) continue;
      const header = store.header(e.current);
      out.push({ model: modelName, modelHash: e.model, name: e.name, version: e.versions, hash: toHex(e.current), size: header?.payloadSize ?? 0, usage: usage.of(e.model, e.name) });
    }
    return out;
  });

  /** Every version of one component, oldest first; the last is current. */
  app.get('/experts/:name', async (req) => {
    const name = parse(NameParam, (req.params as { name?: unknown }).name, 'name');
    const q = parse(ModelQuery, req.query, 'query');
    const entry = resolveModel(store, q.model);
    const ids = store.lineage(entry.id, name);
    if (ids.length === 0) throw new BlyanError('NOT_FOUND', `model ${entry.meta.name} has no component ${name}`);
    const versions = ids.map((id, i) => {
      const h = store.header(id);
      return {
        version: i + 1,
        hash: toHex(id),
        type: h?.type ?? null,
        time: h?.time ?? null,
        author: h === undefined ? null : formatAddress(h.author),
        size: h?.payloadSize ?? 0,
      };
    });
    return { model: entry.meta.name, modelHash: entry.idHex, name, current: toHex(ids[ids.length - 1] as Uint8Array), versions };
  });
}
