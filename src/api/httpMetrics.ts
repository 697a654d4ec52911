/** Upper bounds (seconds) of the request latency buckets; the +Inf bucket is the count. */
const LATENCY_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60];

const REQUESTS = 'blyan_http_requests_total';
const LATENCY = 'blyan_http_request_duration_seconds';

/** Requests of one (method, route, status) and their latencies; buckets are not cumulative until rendered. */
class Series {
  count = 0;
  sum = 0;
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length);

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= (LATENCY_BUCKETS[i] as number)) {
        (this.buckets[i] as number)++;
        return;
      }
    }
  }
}

/**
 * HTTP requests (`blyan_http_requests_total{method,route,status}`) and latency
 * (`blyan_http_request_duration_seconds{method,route}`) of the API, kept as plain numbers and written in the
 * Prometheus text format when scraped.
 *
 * Why not prom-client's Counter and Histogram: every update of theirs validates its labels and hashes them into
 * a fresh string key; the two updates per request cost about 2 µs, some 5% of the CPU of a whole `/health`
 * answer. Here a request finds its series through maps keyed by strings the router and HTTP parser already hold
 * (route pattern, method) and by the status number, and adds to a few numbers.
 */
export class HttpMetrics {
  /** route → method → status → series */
  private readonly routes = new Map<string, Map<string, Map<number, Series>>>();

  /** Counts one finished request; `route` is the route pattern (never the raw URL, which would explode the series). */
  record(method: string, route: string, status: number, seconds: number): void {
    let methods = this.routes.get(route);
    if (methods === undefined) {
      methods = new Map();
      this.routes.set(route, methods);
    }
    let statuses = methods.get(method);
    if (statuses === undefined) {
      statuses = new Map();
      methods.set(method, statuses);
    }
    let series = statuses.get(status);
    if (series === undefined) {
      series = new Series();
      statuses.set(status, series);
    }
    series.observe(seconds);
  }

  /** Both metric families in the Prometheus text exposition format (0.0.4), as prom-client writes them. */
  exposition(): string {
    const requests = [`# HELP ${REQUESTS} HTTP requests by route and status`, `# TYPE ${REQUESTS} counter`];
    const latency = [`# HELP ${LATENCY} HTTP request latency (until the response ends; streams included)`, `# TYPE ${LATENCY} histogram`];
    for (const [route, methods] of this.routes) {
      for (const [method, statuses] of methods) {
        const labels = `method="${escapeLabel(method)}",route="${escapeLabel(route)}"`;
        // The latency histogram is per (method, route): its statuses are added together.
        const buckets = new Float64Array(LATENCY_BUCKETS.length);
        let count = 0;
        let sum = 0;
        for (const [status, s] of statuses) {
          requests.push(`${REQUESTS}{${labels},status="${status}"} ${s.count}`);
          for (let i = 0; i < buckets.length; i++) (buckets[i] as number) += s.buckets[i] as number;
          count += s.count;
          sum += s.sum;
        }
        let cumulative = 0;
        for (let i = 0; i < buckets.length; i++) {
          cumulative += buckets[i] as number;
          latency.push(`${LATENCY}_bucket{le="${LATENCY_BUCKETS[i]}",${labels}} ${cumulative}`);
        }
        latency.push(`${LATENCY}_bucket{le="+Inf",${labels}} ${count}`, `${LATENCY}_sum{${labels}} ${sum}`, `${LATENCY}_count{${labels}} ${count}`);
      }
    }
    return `${requests.join('\n')}\n\n${latency.join('\n')}\n`;
  }
}

/** A label value as the exposition format quotes it. */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
