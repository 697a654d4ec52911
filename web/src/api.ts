/** The node's HTTP API (docs/api.md), same origin. Errors are `{code, message}` with a 4xx/5xx status. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** True when the endpoint itself does not exist on this node (yet): a 404 ROUTE_NOT_FOUND. */
export function isMissingRoute(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && err.code === 'ROUTE_NOT_FOUND';
}

let bearer: string | null = null;
/** Sent as `Authorization: Bearer …` on every call once signed in. */
export function setAuthToken(token: string | null): void {
  bearer = token;
}
export function authToken(): string | null {
  return bearer;
}

export interface CallOptions {
  readonly method?: 'GET' | 'POST';
  readonly body?: unknown;
  readonly signal?: AbortSignal;
  /** Send the bearer token (default true when signed in). */
  readonly auth?: boolean;
}

export function headers(opts: { json?: boolean; auth?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = { accept: 'application/json' };
  if (opts.json) out['content-type'] = 'application/json';
  if (opts.auth !== false && bearer !== null) out.authorization = `Bearer ${bearer}`;
  return out;
}

export async function errorOf(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message);
}

export async function api<T>(path: string, opts: CallOptions = {}): Promise<T> {
  const init: RequestInit = { method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'), headers: headers({ json: opts.body !== undefined, auth: opts.auth ?? true }) };
  if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
  if (opts.signal !== undefined) init.signal = opts.signal;
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', `the node did not answer (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

/** A call that may not exist on this node yet: `undefined` when the route is missing, otherwise as api(). */
export async function optional<T>(path: string, opts: CallOptions = {}): Promise<T | undefined> {
  try {
    return await api<T>(path, opts);
  } catch (err) {
    if (isMissingRoute(err)) return undefined;
    throw err;
  }
}

export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.status === 0 ? err.message : `${err.message} (${err.code}, HTTP ${err.status})`;
  return err instanceof Error ? err.message : String(err);
}

// ---- response shapes (docs/api.md) ----

export interface Health {
  status: string;
  chainId: number;
  genesis: string;
  version: string;
  role: string;
}
export interface ChainInfo {
  chain: 'A' | 'B' | 'C' | 'D';
  height: number;
  head: string | null;
}
export interface BlockJson {
  hash: string;
  chain: string;
  index: number;
  seq: number | null;
  prev: string | null;
  deps: string[];
  type: string;
  expert: string | null;
  layer: number | null;
  payloadHash: string;
  payloadSize: number;
  tileRoot: string;
  time: number;
  nonce: string;
  difficulty: number;
  author: string;
  sig: string;
}
export interface BlocksPage {
  chain: string;
  height: number;
  blocks: BlockJson[];
  next: number | null;
}
export interface ExpertSummary {
  model: string;
  modelHash: string;
  name: string;
  version: number;
  hash: string;
  size: number;
  usage?: number | string;
}
export interface ExpertTop {
  name: string;
  model: string;
  usage: number | string;
  hash: string | null;
}
export interface ExpertLineage {
  model: string;
  modelHash: string;
  name: string;
  current: string;
  versions: { version: number; hash: string; type: string | null; time: number | null; author: string | null; size: number }[];
}
export interface ModelList {
  data: { id: string; hash: string; created: number }[];
}
export interface ExpertRef {
  expert: string;
  block: string | null;
}
export interface Quote {
  quoteId: string | null;
  free: boolean;
  maxCost: string;
  pricePer1kTokens: string;
}
export interface ChatCost {
  charged: string;
  burned: string;
  free: boolean;
}
export interface Receipt {
  quoteId: string | null;
  experts: ExpertRef[];
  captureTx: string | null;
}
