import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { HttpMetrics } from '../../src/api/httpMetrics.ts';

// The hand-written exposition of the two HTTP metrics against prom-client (the reference) fed the same requests.

test('HttpMetrics writes the same samples as prom-client for the same requests', async () => {
  const registry = new Registry();
  const counter = new Counter({ name: 'blyan_http_requests_total', help: 'x', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const histogram = new Histogram({ name: 'blyan_http_request_duration_seconds', help: 'x', labelNames: ['method', 'route'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60], registers: [registry] });
  const mine = new HttpMetrics();
  const requests: [string, string, number, number][] = [
    ['GET', '/health', 200, 0.0004],
    ['GET', '/health', 200, 0.001],
    ['GET', '/health', 200, 0.02],
    ['GET', '/health', 503, 0.3],
    ['POST', '/chat', 200, 2.5],
    ['POST', '/chat', 402, 0.004],
    ['GET', '/blocks/:hash', 404, 100],
    ['GET', '/we"ird\\route', 200, 0.05],
  ];
  for (const [method, route, status, seconds] of requests) {
    counter.inc({ method, route, status: String(status) });
    histogram.observe({ method, route }, seconds);
    mine.record(method, route, status, seconds);
  }
  const samples = (text: string) =>
    text
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => {
        // Label order is not part of the format: compare the labels as a sorted set.
        const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(l);
        assert.ok(m !== null, l);
        const labels = (m[2] as string).match(/[a-z]+="(?:[^"\\]|\\.)*"/g) ?? [];
        return `${m[1]}{${labels.sort().join(',')}} ${Number(m[3])}`;
      })
      .sort();
  assert.deepEqual(samples(mine.exposition()), samples(await registry.metrics()));
  assert.match(mine.exposition(), /# TYPE blyan_http_request_duration_seconds histogram/);
});
