/** Experts dashboard: usage (heatmap + top list), payload sizes, and the proof-of-learning history. */
import { type ExpertSummary, type ExpertTop, api, describeError, optional } from '../api.ts';
import { barChart, seriesChart } from '../charts.ts';
import { h, notice, replace } from '../dom.ts';
import { bytes, expertOrder, num, parseExpertName, shortAddress, shortHash, time } from '../format.ts';
import { type HeatCell, cellKey, heatmap } from '../heatmap.ts';

export async function renderExperts(root: HTMLElement, _path: string[], query: URLSearchParams): Promise<void> {
  replace(root, h('h1', null, 'Experts'), h('p', { class: 'hint', role: 'status' }, 'Loading…'));
  let all: ExpertSummary[];
  try {
    all = await api<ExpertSummary[]>('/experts');
  } catch (err) {
    replace(root, h('h1', null, 'Experts'), notice('error', `Could not list the experts: ${describeError(err)}`));
    return;
  }
  const models = [...new Set(all.map((e) => e.model))];
  const model = query.get('model') ?? models[0] ?? null;
  const list = all.filter((e) => e.model === model).sort((a, b) => expertOrder(a.name, b.name));
  const picker =
    models.length > 1
      ? h(
          'nav',
          { 'aria-label': 'Models', class: 'actions' },
          ...models.map((m) => h('a', { href: `#/experts?model=${encodeURIComponent(m)}`, class: 'button', 'aria-current': m === model ? 'page' : undefined }, m)),
        )
      : null;
  const usageKnown = list.some((e) => e.usage !== undefined);
  const top = h('section', { class: 'panel', 'aria-labelledby': 'top-h' }, h('h2', { id: 'top-h' }, 'Most used experts'), h('p', { class: 'hint' }, 'Loading…'));
  const pol = h('section', { class: 'panel', 'aria-labelledby': 'pol-h' }, h('h2', { id: 'pol-h' }, 'Proof-of-learning history'), h('p', { class: 'hint' }, 'Loading…'));
  replace(
    root,
    h('h1', null, 'Experts'),
    picker,
    h('p', { class: 'hint' }, model === null ? 'No model with routed experts on this node.' : `Model ${model}: ${list.length} routed experts, ${bytes(list.reduce((s, e) => s + e.size, 0))} of expert weights.`),
    h('div', { class: 'grid-2' }, usagePanel(list, usageKnown), top),
    sizePanel(list),
    pol,
  );
  void fillTop(top, model);
  void fillPol(pol, model);
}

function usagePanel(list: ExpertSummary[], usageKnown: boolean): HTMLElement {
  const cells = new Map<string, HeatCell>();
  let layers = 0;
  let experts = 0;
  for (const e of list) {
    const p = parseExpertName(e.name);
    if (p === null) continue;
    layers = Math.max(layers, p.layer + 1);
    experts = Math.max(experts, p.expert + 1);
    cells.set(cellKey(p.layer, p.expert), { layer: p.layer, expert: p.expert, name: e.name, count: Number(e.usage ?? 0), block: e.hash });
  }
  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'usage-h' },
    h('h2', { id: 'usage-h' }, 'Usage by layer and expert'),
    usageKnown
      ? heatmap({ caption: 'Tokens routed through each expert', layers, experts, cells, unit: 'tokens', id: 'usage-heatmap' })
      : h('p', { class: 'hint', 'data-testid': 'usage-unavailable' }, 'This node does not report expert usage yet.'),
  );
}

async function fillTop(panel: HTMLElement, model: string | null): Promise<void> {
  const title = h('h2', { id: 'top-h' }, 'Most used experts');
  try {
    const top = await optional<ExpertTop[]>(`/experts/top?limit=10${model === null ? '' : `&model=${encodeURIComponent(model)}`}`);
    if (top === undefined) {
      replace(panel, title, h('p', { class: 'hint' }, 'This node has no /experts/top yet.'));
      return;
    }
    const mine = top.filter((e) => model === null || e.model === model);
    replace(
      panel,
      title,
      mine.length === 0
        ? h('p', { class: 'hint' }, 'No expert has been used yet: chat with the model and come back.')
        : barChart(
            'Tokens routed (top 10)',
            mine.map((e) => ({ label: e.name, value: Number(e.usage), display: num(e.usage), ...(e.hash ? { href: `#/explorer/block/${e.hash}` } : {}) })),
            { valueHeader: 'Tokens', id: 'top-chart' },
          ),
    );
  } catch (err) {
    replace(panel, title, notice('error', describeError(err)));
  }
}

function sizePanel(list: ExpertSummary[]): HTMLElement {
  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'size-h' },
    h('h2', { id: 'size-h' }, 'Size and versions'),
    list.length === 0
      ? h('p', { class: 'hint' }, 'No experts.')
      : h(
          'details',
          { open: list.length <= 64 },
          h('summary', null, `Payload size of all ${list.length} experts`),
          barChart(
            'Payload bytes of the current version (versions in brackets)',
            list.map((e) => ({ label: e.name, value: e.size, display: `${bytes(e.size)} [v${e.version}]`, href: `#/explorer/expert/${encodeURIComponent(e.name)}?model=${encodeURIComponent(e.model)}` })),
            { valueHeader: 'Size', id: 'size-chart' },
          ),
        ),
  );
}

/** One entry of GET /pol/deltas, read leniently: the learning API is young. */
interface DeltaRow {
  block: string | null;
  component: string;
  accepted: boolean;
  reason: string | null;
  baseLoss: number | null;
  newLoss: number | null;
  improvement: number | null;
  time: number | null;
  model: string | null;
  miner: string | null;
  version: number | null;
}

function pick(o: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}
function numOrNull(v: unknown): number | null {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

function readDeltas(raw: unknown): DeltaRow[] {
  const out: DeltaRow[] = [];
  const push = (items: unknown, acceptedDefault: boolean | null) => {
    if (!Array.isArray(items)) return;
    for (const it of items) {
      if (it === null || typeof it !== 'object') continue;
      const o = it as Record<string, unknown>;
      const status = pick(o, 'status', 'result', 'outcome');
      const acc = pick(o, 'accepted');
      const accepted = typeof acc === 'boolean' ? acc : typeof status === 'string' ? /^accept/i.test(status) : (acceptedDefault ?? false);
      const code = pick(o, 'code');
      const message = pick(o, 'reason', 'message', 'error');
      const reasonV = typeof code === 'string' && typeof message === 'string' ? `${message} (${code})` : (message ?? code);
      const baseLoss = numOrNull(pick(o, 'baseLoss', 'lossBefore', 'before'));
      const newLoss = numOrNull(pick(o, 'newLoss', 'lossAfter', 'after'));
      let improvement = numOrNull(pick(o, 'improvement', 'lossImprovement', 'delta'));
      if (improvement === null && baseLoss !== null && newLoss !== null) improvement = baseLoss - newLoss;
      out.push({
        block: (pick(o, 'block', 'hash', 'deltaBlock', 'id') as string | undefined) ?? null,
        component: String(pick(o, 'component', 'expert', 'name') ?? '?'),
        accepted,
        reason: reasonV === undefined ? null : typeof reasonV === 'string' ? reasonV : JSON.stringify(reasonV),
        baseLoss,
        newLoss,
        improvement,
        time: numOrNull(pick(o, 'time', 'at', 'receivedAt', 'timestamp')),
        model: (pick(o, 'model', 'modelHash') as string | undefined) ?? null,
        miner: (pick(o, 'miner', 'author') as string | undefined) ?? null,
        version: numOrNull(pick(o, 'version')),
      });
    }
  };
  if (Array.isArray(raw)) push(raw, null);
  else if (raw !== null && typeof raw === 'object') {
    const o = raw as Record<string, unknown>;
    push(o.deltas ?? o.items ?? o.data, null);
    push(o.accepted, true);
    push(o.rejected, false);
  }
  return out.sort((a, b) => (a.time ?? 0) - (b.time ?? 0));
}

async function fillPol(panel: HTMLElement, model: string | null): Promise<void> {
  const title = h('h2', { id: 'pol-h' }, 'Proof-of-learning history');
  try {
    const raw = await optional<unknown>(`/pol/deltas?limit=200${model === null ? '' : `&model=${encodeURIComponent(model)}`}`);
    if (raw === undefined) {
      replace(panel, title, h('p', { class: 'hint', 'data-testid': 'pol-unavailable' }, 'This node does not serve the proof-of-learning history (/pol/deltas) yet.'));
      return;
    }
    const rows = readDeltas(raw);
    if (rows.length === 0) {
      replace(panel, title, h('p', { class: 'hint' }, 'No delta has been submitted to this node yet. Mine one with `blyan mine`.'));
      return;
    }
    const accepted = rows.filter((r) => r.accepted);
    const fmt = (x: number | null) => (x === null ? '—' : x.toPrecision(5));
    replace(
      panel,
      title,
      h('p', { class: 'hint' }, `${accepted.length} accepted, ${rows.length - accepted.length} rejected. Loss improvement = validation loss before − after (higher is better).`),
      seriesChart(
        'Loss improvement per delta, oldest first (filled: accepted; outlined: rejected)',
        rows.map((r) => ({ x: r.time ?? 0, y: r.improvement ?? 0, ok: r.accepted, label: `${r.component}: ${r.accepted ? 'accepted' : 'rejected'}, improvement ${fmt(r.improvement)}` })),
      ),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data-table', id: 'pol-table' },
          h('caption', { class: 'visually-hidden' }, 'Delta submissions'),
          h('thead', null, h('tr', null, ...['Time', 'Component', 'Result', 'Loss before', 'Loss after', 'Improvement', 'Reason', 'Miner', 'Block'].map((x) => h('th', { scope: 'col' }, x)))),
          h(
            'tbody',
            null,
            ...[...rows].reverse().map((r) =>
              h(
                'tr',
                null,
                h('td', null, time(r.time)),
                h('td', null, h('a', { href: `#/explorer/expert/${encodeURIComponent(r.component)}${model === null ? '' : `?model=${encodeURIComponent(model)}`}` }, r.component), r.version === null ? '' : ` v${r.version}`),
                h('td', null, h('span', { class: r.accepted ? 'tag tag-ok' : 'tag tag-bad' }, r.accepted ? 'accepted' : 'rejected')),
                h('td', null, fmt(r.baseLoss)),
                h('td', null, fmt(r.newLoss)),
                h('td', null, fmt(r.improvement)),
                h('td', null, r.reason ?? (r.accepted ? '' : '—')),
                h('td', { class: 'mono', title: r.miner ?? '' }, r.miner === null ? '—' : shortAddress(r.miner)),
                h('td', { class: 'mono' }, r.block === null || !/^(0x)?[0-9a-f]{64}$/i.test(r.block) ? '—' : h('a', { href: `#/explorer/block/${r.block.replace(/^0x/, '')}` }, shortHash(r.block))),
              ),
            ),
          ),
        ),
      ),
    );
  } catch (err) {
    replace(panel, title, notice('error', describeError(err)));
  }
}
