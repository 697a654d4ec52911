/**
 * A layer × expert heatmap as an accessible table: one row per layer, one cell per expert, each cell a link to
 * the block of that expert's version. Values are counts (tokens routed through the expert); an optional
 * highlight marks the experts of one token with their rank (1 = most probable).
 */
import { type Child, h } from './dom.ts';
import { num, shortHash } from './format.ts';

export interface HeatCell {
  layer: number;
  expert: number;
  name: string;
  count: number;
  /** The block of the version that ran / is current; null when unknown. */
  block: string | null;
  /** Rank within the highlighted token's top-k (1-based), if any. */
  rank?: number;
}

export interface HeatmapOptions {
  caption: string;
  layers: number;
  experts: number;
  cells: Map<string, HeatCell>;
  /** What a count means, for the cell labels ("tokens"). */
  unit: string;
  /** Highlight mode: cells show rank instead of count. */
  highlight?: boolean;
  id?: string;
}

export function cellKey(layer: number, expert: number): string {
  return `${layer}:${expert}`;
}

/** Light-to-dark blue; text switches to white where the background is dark (WCAG AA contrast either way). */
function shade(t: number): { bg: string; fg: string } {
  let l = 97 - t * 62; // lightness 97% → 35%
  // Between 52% and 62% neither white nor near-black text reaches 4.5:1 on this hue: step over that band.
  if (l > 52 && l < 62) l = l < 57 ? 52 : 62;
  return { bg: `hsl(221 83% ${l.toFixed(1)}%)`, fg: l <= 52 ? '#ffffff' : '#0b1220' };
}

export function heatmap(o: HeatmapOptions): HTMLElement {
  let max = 0;
  for (const c of o.cells.values()) max = Math.max(max, c.count);
  const head = h('tr', null, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Layer'), ' '), ...Array.from({ length: o.experts }, (_, e) => h('th', { scope: 'col' }, `E${e}`)));
  const rows: Child[] = [];
  for (let l = 0; l < o.layers; l++) {
    const tds: Child[] = [];
    for (let e = 0; e < o.experts; e++) {
      const c = o.cells.get(cellKey(l, e));
      const td = h('td', { class: 'heat-cell' });
      if (c === undefined) {
        td.append(h('span', { class: 'heat-empty', title: `layer${l}.expert${e}: not on this node` }, '·'));
      } else {
        const t = o.highlight ? (c.rank === undefined ? 0 : 1 - (c.rank - 1) * 0.35) : max === 0 ? 0 : c.count / max;
        const { bg, fg } = shade(Math.max(0, t));
        const text = o.highlight ? (c.rank === undefined ? '' : `#${c.rank}`) : c.count === 0 ? '' : num(c.count);
        const label = o.highlight
          ? `${c.name}: ${c.rank === undefined ? 'not used by this token' : `rank ${c.rank} for this token`}${c.block ? `, block ${shortHash(c.block)}` : ''}`
          : `${c.name}: ${num(c.count)} ${o.unit}${c.block ? `, block ${shortHash(c.block)}` : ''}`;
        const inner =
          c.block === null
            ? h('span', { class: 'heat-link', title: label, 'aria-label': label }, text)
            : h('a', { class: 'heat-link', href: `#/explorer/block/${c.block}`, title: label, 'aria-label': label }, text);
        inner.style.backgroundColor = bg;
        inner.style.color = fg;
        td.append(inner);
        td.dataset.count = String(c.count);
        if (c.rank !== undefined) td.dataset.rank = String(c.rank);
      }
      tds.push(td);
    }
    rows.push(h('tr', null, h('th', { scope: 'row' }, `L${l}`), ...tds));
  }
  return h(
    'div',
    { class: 'heatmap-wrap' },
    h('table', { class: 'heatmap', id: o.id }, h('caption', null, o.caption), h('thead', null, head), h('tbody', null, ...rows)),
  );
}
