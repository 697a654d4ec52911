/** Charts built from the node's numbers: bar charts as tables (readable by screen readers), a small SVG series. */
import { h, s } from './dom.ts';

export interface Bar {
  label: string;
  value: number;
  display: string;
  href?: string;
}

export function barChart(caption: string, bars: Bar[], opts: { valueHeader: string; id?: string } = { valueHeader: 'Value' }): HTMLElement {
  const max = bars.reduce((m, b) => Math.max(m, b.value), 0);
  return h(
    'table',
    { class: 'bars', id: opts.id },
    h('caption', null, caption),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, opts.valueHeader))),
    h(
      'tbody',
      null,
      ...bars.map((b) => {
        const bar = h('span', { class: 'bar', 'aria-hidden': 'true' });
        bar.style.width = `${max === 0 ? 0 : Math.max(0.5, (b.value / max) * 100)}%`;
        return h(
          'tr',
          null,
          h('th', { scope: 'row' }, b.href === undefined ? b.label : h('a', { href: b.href }, b.label)),
          h('td', null, h('span', { class: 'bar-track' }, bar), h('span', { class: 'bar-value' }, b.display)),
        );
      }),
    ),
  );
}

export interface Point {
  x: number;
  y: number;
  label: string;
  ok: boolean;
}

/** Improvement per delta as vertical bars on a zero line (accepted solid, rejected hollow); data stays in the table beside it. */
export function seriesChart(title: string, points: Point[]): SVGSVGElement {
  const W = 640;
  const H = 180;
  const pad = 28;
  const ys = points.map((p) => p.y);
  const maxAbs = Math.max(1e-9, ...ys.map(Math.abs));
  const zero = H / 2;
  const step = points.length === 0 ? 0 : (W - 2 * pad) / points.length;
  const svg = s(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'series', preserveAspectRatio: 'none' },
    s('title', null, title),
    s('line', { x1: pad, x2: W - pad, y1: zero, y2: zero, class: 'axis' }),
    s('text', { x: 4, y: 14, class: 'axis-label' }, `+${maxAbs.toPrecision(3)}`),
    s('text', { x: 4, y: H - 4, class: 'axis-label' }, `−${maxAbs.toPrecision(3)}`),
  );
  points.forEach((p, i) => {
    const hgt = (Math.abs(p.y) / maxAbs) * (H / 2 - pad / 2);
    const y = p.y >= 0 ? zero - hgt : zero;
    svg.append(
      s('rect', { x: pad + i * step + step * 0.15, y, width: Math.max(1, step * 0.7), height: Math.max(1, hgt), class: p.ok ? 'pt-ok' : 'pt-bad' }, s('title', null, p.label)),
    );
  });
  return svg;
}
