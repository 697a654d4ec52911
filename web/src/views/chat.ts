/**
 * Chat: streams an answer over SSE (fetch, so a bearer token can go along), shows which experts produced each
 * token as a layer × expert heatmap linked to their blocks, a live cost meter, and a receipt per answer.
 * When signed in and the node quotes, the quote's EIP-712 authorization is signed before the stream starts.
 */
import { type ChatCost, type ExpertRef, type ExpertSummary, type ModelList, type Quote, type Receipt, api, describeError, errorOf, headers, isMissingRoute } from '../api.ts';
import { type Child, field, h, notice, replace } from '../dom.ts';
import { bly, num, parseExpertName, shortHash } from '../format.ts';
import { type HeatCell, cellKey, heatmap } from '../heatmap.ts';
import { readSse } from '../sse.ts';
import { type TypedData, currentSession, currentSigner, sessionRejected, signTypedData } from '../wallet.ts';

interface TokenRec {
  text: string;
  experts: ExpertRef[][];
}

interface Turn {
  n: number;
  prompt: string;
  seed: number;
  model: string | null;
  tokens: TokenRec[];
  text: string;
  status: 'starting' | 'streaming' | 'done' | 'error' | 'cancelled';
  error?: string;
  /** undefined: the node sent no quote; null when stream_start had `quote: null`. */
  quote?: Quote | null;
  /** Cumulative charge so far (base units). */
  cost?: string;
  finalCost?: ChatCost;
  receipt?: Receipt;
  usage?: { promptTokens: number; completionTokens: number; totalTokens: number };
  finishReason?: string;
  tokensPerSecond?: number | null;
  paid: boolean;
}

interface QuoteAnswer {
  quoteId: string;
  free: boolean;
  amount: string;
  maxTokens: string | number;
  expiresAt: string | number;
  typedData: TypedData;
}

const turns: Turn[] = [];
let selectedTurn = -1;
/** 0 = all tokens of the turn; i ≥ 1 = token i. */
let selectedToken = 0;
let running: AbortController | null = null;
let expertGrid: { model: string | null; list: ExpertSummary[] } | null = null;
let models: string[] | null = null;
let payMode: 'quote' | 'allowance' = 'quote';

let ui: {
  transcript: HTMLOListElement;
  side: HTMLElement;
  status: HTMLElement;
  send: HTMLButtonElement;
  stop: HTMLButtonElement;
  turnEls: Map<number, HTMLElement>;
} | null = null;

let sideFrame = 0;
function scheduleSide(): void {
  if (sideFrame !== 0) return;
  sideFrame = requestAnimationFrame(() => {
    sideFrame = 0;
    renderSide();
  });
}

async function loadModels(): Promise<string[]> {
  if (models !== null) return models;
  try {
    const list = await api<ModelList>('/v1/models');
    models = list.data.map((m) => m.id);
  } catch {
    models = [];
  }
  return models;
}

async function loadGrid(model: string | null): Promise<void> {
  if (expertGrid !== null && expertGrid.model === model) return;
  try {
    const list = await api<ExpertSummary[]>(model === null ? '/experts' : `/experts?model=${encodeURIComponent(model)}`);
    expertGrid = { model, list };
  } catch {
    expertGrid = { model, list: [] };
  }
}

export async function renderChat(root: HTMLElement): Promise<void> {
  const prompt = h('textarea', { name: 'prompt', rows: 3, required: true, placeholder: 'Ask the model something…', autocomplete: 'off' });
  const maxTokens = h('input', { type: 'number', name: 'maxTokens', min: 1, max: 4096, value: 48, inputmode: 'numeric' });
  const temperature = h('input', { type: 'number', name: 'temperature', min: 0, max: 10, step: 0.1, value: 0.8, inputmode: 'decimal' });
  const seed = h('input', { type: 'number', name: 'seed', min: 0, step: 1, placeholder: 'random', inputmode: 'numeric' });
  const modelSelect = h('select', { name: 'model' });
  const payWith = h(
    'select',
    { name: 'payment' },
    h('option', { value: 'quote' }, 'a signed quote (ledger)'),
    h('option', { value: 'allowance' }, 'the node’s free allowance'),
  );
  payWith.value = payMode;
  payWith.addEventListener('change', () => {
    payMode = payWith.value === 'allowance' ? 'allowance' : 'quote';
  });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const stop = h('button', { type: 'button', disabled: true, onclick: () => running?.abort() }, 'Stop');
  const status = h('p', { class: 'chat-status', role: 'status', 'aria-live': 'polite', id: 'chat-status' });
  const transcript = h('ol', { class: 'transcript', 'aria-label': 'Conversation', id: 'transcript' });
  const side = h('aside', { class: 'chat-side', 'aria-label': 'Cost and experts of the selected answer' });
  const form = h(
    'form',
    { class: 'chat-form', 'aria-label': 'Send a prompt' },
    field('Prompt', prompt, 'Enter sends; Shift+Enter adds a new line.'),
    h('details', { class: 'settings' }, h('summary', null, 'Settings'), h('div', { class: 'settings-grid' }, field('Model', modelSelect), field('Max tokens', maxTokens), field('Temperature', temperature), field('Seed', seed, 'Empty: a random seed, shown with the answer.'), currentSession() === null ? null : field('Signed in: pay with', payWith))),
    h('div', { class: 'actions' }, send, stop),
  );
  prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = prompt.value.trim();
    if (text === '' || running !== null) return;
    const seedValue = seed.value === '' ? Math.floor(Math.random() * 2 ** 31) : Number(seed.value);
    void runTurn({ prompt: text, maxTokens: Number(maxTokens.value) || 48, temperature: Number(temperature.value), seed: seedValue, model: modelSelect.value === '' ? null : modelSelect.value });
    prompt.value = '';
  });

  replace(
    root,
    h(
      'div',
      { class: 'chat-layout' },
      h('section', { class: 'chat-main', 'aria-labelledby': 'chat-h' }, h('h1', { id: 'chat-h' }, 'Chat'), transcript, status, form),
      side,
    ),
  );
  ui = { transcript, side, status, send, stop, turnEls: new Map() };
  for (const t of turns) renderTurn(t);
  setRunning(running !== null);
  renderSide();

  const names = await loadModels();
  replace(modelSelect, ...(names.length === 0 ? [h('option', { value: '' }, 'the node’s only model')] : names.map((m) => h('option', { value: m }, m))));
  if (names.length <= 1) modelSelect.disabled = names.length === 0;
  await loadGrid(names.length === 1 ? (names[0] as string) : null);
  renderSide();
  prompt.focus();
}

function setRunning(on: boolean): void {
  if (ui === null) return;
  ui.send.disabled = on;
  ui.stop.disabled = !on;
}

function setStatus(text: string): void {
  if (ui !== null) ui.status.textContent = text;
}

async function runTurn(req: { prompt: string; maxTokens: number; temperature: number; seed: number; model: string | null }): Promise<void> {
  const turn: Turn = { n: turns.length + 1, prompt: req.prompt, seed: req.seed, model: req.model, tokens: [], text: '', status: 'starting', paid: false };
  turns.push(turn);
  selectedTurn = turns.length - 1;
  selectedToken = 0;
  running = new AbortController();
  const signal = running.signal;
  setRunning(true);
  setStatus('Sending…');
  renderTurn(turn);
  renderSide();
  try {
    const query = new URLSearchParams({ prompt: req.prompt, maxTokens: String(req.maxTokens), temperature: String(req.temperature), seed: String(req.seed) });
    if (req.model !== null) query.set('model', req.model);
    if (currentSession() !== null && payMode === 'quote') {
      // The quote covers prompt + answer tokens; a prompt has at most as many tokens as UTF-8 bytes.
      const promptBound = new TextEncoder().encode(req.prompt).byteLength;
      const quote = await requestQuote(promptBound + req.maxTokens, signal);
      if (quote !== null) {
        query.set('quoteId', quote.quoteId);
        query.set('signature', quote.signature);
        turn.paid = true;
      }
    }
    setStatus('Waiting for the first token…');
    const res = await fetch(`/chat/stream?${query}`, { headers: { ...headers(), accept: 'text/event-stream' }, signal });
    if (!res.ok) {
      const err = await errorOf(res);
      if (err.status === 401) sessionRejected();
      throw err;
    }
    for await (const ev of readSse(res)) {
      const data = JSON.parse(ev.data) as Record<string, unknown>;
      if (ev.event === 'stream_start') {
        turn.status = 'streaming';
        if ('quote' in data) turn.quote = (data.quote as Quote | null) ?? null;
        setStatus('Generating…');
      } else if (ev.event === 'token') {
        const rec = { text: String(data.text ?? ''), experts: (data.experts as ExpertRef[][] | undefined) ?? [] };
        if (data.id !== null) turn.tokens.push(rec);
        else if (rec.text !== '') turn.tokens.push({ text: rec.text, experts: [] });
        turn.text += rec.text;
        if (typeof data.cost === 'string') turn.cost = data.cost;
        turn.tokensPerSecond = typeof data.tokensPerSecond === 'number' ? data.tokensPerSecond : (turn.tokensPerSecond ?? null);
        appendToken(turn, rec.text, turn.tokens.length);
        scheduleSide();
      } else if (ev.event === 'stream_end') {
        turn.status = 'done';
        turn.text = typeof data.text === 'string' ? data.text : turn.text;
        if (data.usage !== undefined) turn.usage = data.usage as NonNullable<Turn['usage']>;
        turn.finishReason = String(data.finishReason ?? '');
        if (data.cost !== undefined) turn.finalCost = data.cost as ChatCost;
        if (data.receipt !== undefined) turn.receipt = data.receipt as Receipt;
        const model = data.model as { name?: string } | undefined;
        if (typeof model?.name === 'string') turn.model = model.name;
      } else if (ev.event === 'error') {
        turn.status = 'error';
        turn.error = `${String(data.message ?? 'the stream failed')} (${String(data.code ?? 'ERROR')})`;
      }
    }
    if (turn.status === 'streaming' || turn.status === 'starting') {
      turn.status = 'error';
      turn.error = 'the stream ended before the answer did';
    }
  } catch (err) {
    if (signal.aborted) turn.status = 'cancelled';
    else {
      turn.status = 'error';
      turn.error = describeError(err);
    }
  } finally {
    running = null;
    setRunning(false);
    await loadGrid(turn.model);
    renderTurn(turn);
    renderSide();
    setStatus(
      turn.status === 'done'
        ? `Answer complete: ${turn.usage?.completionTokens ?? turn.tokens.length} tokens (${turn.finishReason}).`
        : turn.status === 'cancelled'
          ? 'Stopped.'
          : `The answer failed: ${turn.error ?? ''}`,
    );
  }
}

/** Signed in: get a quote and sign its Authorize typed data. null when this node does not quote. */
async function requestQuote(maxTokens: number, signal: AbortSignal): Promise<{ quoteId: string; signature: string } | null> {
  let quote: QuoteAnswer;
  try {
    quote = await api<QuoteAnswer>('/chat/quote', { body: { maxTokens }, signal });
  } catch (err) {
    if (isMissingRoute(err)) return null;
    if (err instanceof Error && 'status' in err && (err as { status: number }).status === 401) sessionRejected();
    throw err;
  }
  if (currentSigner() === null) throw new Error('signed in, but no wallet is connected to sign the quote: reconnect it on the Wallet page');
  setStatus(quote.free ? 'Signing the free-tier authorization…' : `Signing an authorization of up to ${bly(quote.amount)}…`);
  const signature = await signTypedData(quote.typedData);
  return { quoteId: quote.quoteId, signature };
}

// ---- transcript ----

function appendToken(turn: Turn, text: string, index: number): void {
  const el = ui?.turnEls.get(turn.n);
  const answer = el?.querySelector('.answer');
  if (answer === null || answer === undefined) {
    renderTurn(turn);
    return;
  }
  answer.querySelector('.placeholder')?.remove();
  answer.append(tokenSpan(turn, text, index));
  const meta = el?.querySelector('.turn-live');
  if (meta) meta.textContent = `${turn.tokens.length} tokens${turn.tokensPerSecond ? ` · ${turn.tokensPerSecond.toFixed(1)} tok/s` : ''}${turn.cost !== undefined ? ` · ${bly(turn.cost)}` : ''}`;
}

function tokenSpan(turn: Turn, text: string, index: number): HTMLElement {
  const span = h('span', { class: 'tok', 'data-token': index, title: `token ${index}: show its experts` }, text);
  span.addEventListener('click', () => {
    selectedTurn = turns.indexOf(turn);
    selectedToken = index;
    renderSide();
    markSelectedToken();
  });
  return span;
}

function markSelectedToken(): void {
  if (ui === null) return;
  for (const el of ui.transcript.querySelectorAll('.tok.selected')) el.classList.remove('selected');
  const t = turns[selectedTurn];
  if (t === undefined || selectedToken === 0) return;
  ui.turnEls.get(t.n)?.querySelector(`.tok[data-token="${selectedToken}"]`)?.classList.add('selected');
}

function renderTurn(turn: Turn): void {
  if (ui === null) return;
  const answer = h('p', { class: 'answer', 'data-testid': 'answer' });
  if (turn.tokens.length === 0) answer.append(h('span', { class: 'placeholder' }, turn.status === 'starting' || turn.status === 'streaming' ? '…' : ''));
  turn.tokens.forEach((t, i) => {
    answer.append(tokenSpan(turn, t.text, i + 1));
  });
  const busy = turn.status === 'starting' || turn.status === 'streaming';
  const metaParts: string[] = [];
  if (turn.model) metaParts.push(turn.model);
  metaParts.push(`seed ${turn.seed}`);
  if (turn.usage) metaParts.push(`${turn.usage.completionTokens} tokens`);
  if (turn.finishReason) metaParts.push(`finish: ${turn.finishReason}`);
  if (turn.tokensPerSecond) metaParts.push(`${turn.tokensPerSecond.toFixed(1)} tok/s`);
  if (turn.finalCost) metaParts.push(turn.finalCost.free ? 'free tier' : `charged ${bly(turn.finalCost.charged)}`);
  const el = h(
    'li',
    { class: `turn turn-${turn.status}`, 'data-turn': turn.n },
    h('div', { class: 'msg msg-user' }, h('span', { class: 'who' }, 'You'), h('p', null, turn.prompt)),
    h(
      'div',
      { class: 'msg msg-bot', 'aria-busy': busy ? 'true' : 'false' },
      h('span', { class: 'who' }, turn.model ?? 'Model'),
      answer,
      busy ? h('p', { class: 'turn-meta turn-live' }, 'streaming…') : h('p', { class: 'turn-meta' }, metaParts.join(' · ')),
      turn.status === 'error' ? notice('error', turn.error ?? 'failed') : null,
      turn.status === 'cancelled' ? notice('warn', 'Stopped before the end.') : null,
      busy
        ? null
        : h(
            'div',
            { class: 'turn-actions' },
            h(
              'button',
              {
                type: 'button',
                class: 'link-button',
                onclick: () => {
                  selectedTurn = turns.indexOf(turn);
                  selectedToken = 0;
                  renderSide();
                  ui?.side.querySelector('h2')?.scrollIntoView({ block: 'nearest' });
                },
              },
              'Show cost and experts',
            ),
            turn.status === 'done' ? receiptView(turn) : null,
          ),
    ),
  );
  const old = ui.turnEls.get(turn.n);
  if (old?.parentNode) old.replaceWith(el);
  else ui.transcript.append(el);
  ui.turnEls.set(turn.n, el);
  markSelectedToken();
}

/** The experts behind an answer with their blocks: the node's receipt, or (said so) the streamed routing. */
function receiptOf(turn: Turn): { receipt: Receipt; fromNode: boolean } {
  if (turn.receipt !== undefined) return { receipt: turn.receipt, fromNode: true };
  const seen = new Map<string, ExpertRef>();
  for (const t of turn.tokens) for (const layer of t.experts) for (const e of layer) seen.set(`${e.expert}@${e.block}`, e);
  return { receipt: { quoteId: null, experts: [...seen.values()], captureTx: null }, fromNode: false };
}

function receiptView(turn: Turn): HTMLElement {
  const { receipt, fromNode } = receiptOf(turn);
  const json = JSON.stringify({ prompt: turn.prompt, model: turn.model, seed: turn.seed, text: turn.text, usage: turn.usage, cost: turn.finalCost ?? null, receipt }, null, 2);
  const copy = h('button', { type: 'button' }, 'Copy receipt JSON');
  const copied = h('span', { class: 'hint', role: 'status' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(json);
      copied.textContent = 'Copied.';
    } catch {
      copied.textContent = 'The browser refused the clipboard: select the JSON below instead.';
    }
  });
  const download = h('a', { class: 'button', download: `blyan-receipt-${turn.n}.json` }, 'Download');
  download.addEventListener('click', () => {
    download.setAttribute('href', URL.createObjectURL(new Blob([json], { type: 'application/json' })));
  });
  return h(
    'details',
    { class: 'receipt', 'data-testid': 'receipt' },
    h('summary', null, `Receipt: ${receipt.experts.length} expert blocks`),
    fromNode ? null : h('p', { class: 'hint' }, 'This node sent no receipt; the list below is the routing it streamed with each token.'),
    h(
      'dl',
      { class: 'kv' },
      h('dt', null, 'Quote'),
      h('dd', { class: 'mono break' }, receipt.quoteId ?? 'none (free allowance)'),
      h('dt', null, 'Capture transaction'),
      h('dd', { class: 'mono break' }, receipt.captureTx ?? 'none'),
    ),
    h(
      'table',
      { class: 'receipt-table' },
      h('caption', { class: 'visually-hidden' }, 'Expert blocks that produced this answer'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Expert'), h('th', { scope: 'col' }, 'Block'))),
      h(
        'tbody',
        null,
        ...[...receipt.experts]
          .sort((a, b) => a.expert.localeCompare(b.expert, 'en', { numeric: true }))
          .map((e) =>
            h(
              'tr',
              null,
              h('td', null, h('a', { href: `#/explorer/expert/${encodeURIComponent(e.expert)}${turn.model ? `?model=${encodeURIComponent(turn.model)}` : ''}` }, e.expert)),
              h('td', { class: 'mono' }, e.block === null ? 'unknown' : h('a', { href: `#/explorer/block/${e.block}`, title: e.block }, e.block)),
            ),
          ),
      ),
    ),
    h('div', { class: 'actions' }, copy, download, copied),
    h('details', null, h('summary', null, 'JSON'), h('pre', { class: 'json', tabindex: 0 }, json)),
  );
}

// ---- side panel: cost meter + heatmap ----

function renderSide(): void {
  if (ui === null) return;
  const turn = turns[selectedTurn];
  if (turn === undefined) {
    replace(
      ui.side,
      h('section', { class: 'panel' }, h('h2', null, 'Cost'), h('p', { class: 'hint' }, 'The cost of an answer appears here while it streams.')),
      h('section', { class: 'panel' }, h('h2', null, 'Experts'), h('p', { class: 'hint' }, 'Which expert of which layer produced each token, linked to its block.')),
    );
    return;
  }
  replace(ui.side, costPanel(turn), expertsPanel(turn));
}

function costPanel(turn: Turn): HTMLElement {
  const rows: Child[] = [];
  const kv = (k: string, v: Child, id?: string) => rows.push(h('dt', null, k), h('dd', { id }, v));
  const q = turn.quote;
  if (q === undefined && turn.cost === undefined && turn.finalCost === undefined) {
    const why = turn.status === 'starting' ? 'Waiting for the node…' : 'This node reported no cost for this answer (its version streams no quote).';
    return h('section', { class: 'panel cost-meter', id: 'cost-meter', 'aria-labelledby': 'cost-h' }, h('h2', { id: 'cost-h' }, `Cost · answer ${turn.n}`), h('p', { class: 'hint', 'data-testid': 'cost-unavailable' }, why));
  }
  const free = turn.finalCost?.free ?? q?.free ?? false;
  kv('Tier', turn.paid ? (free ? 'Free tier (signed quote)' : 'Paid (signed quote)') : free ? 'Free tier' : 'Paid', 'cost-tier');
  if (q) {
    kv('Price', `${bly(q.pricePer1kTokens)} / 1k tokens`);
    kv('Quote limit', bly(q.maxCost));
    if (q.quoteId) kv('Quote', h('span', { class: 'mono', title: q.quoteId }, shortHash(q.quoteId)));
  }
  const charged = turn.finalCost?.charged ?? turn.cost ?? '0';
  kv(turn.status === 'streaming' ? 'Charged so far' : 'Charged', h('output', { 'data-testid': 'cost-charged' }, bly(charged)), 'cost-charged');
  if (turn.finalCost) kv('Burned', bly(turn.finalCost.burned));
  let meter: HTMLElement | null = null;
  if (q && q.maxCost !== '0') {
    try {
      const max = Number(BigInt(q.maxCost));
      const value = Number(BigInt(charged));
      meter = h('meter', { min: 0, max, value, 'aria-label': 'Charged of the quote limit' });
    } catch {
      meter = null;
    }
  }
  return h('section', { class: 'panel cost-meter', id: 'cost-meter', 'aria-labelledby': 'cost-h' }, h('h2', { id: 'cost-h' }, `Cost · answer ${turn.n}`), h('dl', { class: 'kv' }, ...rows), meter);
}

function expertsPanel(turn: Turn): HTMLElement {
  const n = turn.tokens.filter((t) => t.experts.length > 0).length;
  const cells = new Map<string, HeatCell>();
  let layers = 0;
  let experts = 0;
  const add = (name: string, block: string | null) => {
    const p = parseExpertName(name);
    if (p === null) return undefined;
    layers = Math.max(layers, p.layer + 1);
    experts = Math.max(experts, p.expert + 1);
    const key = cellKey(p.layer, p.expert);
    let c = cells.get(key);
    if (c === undefined) {
      c = { layer: p.layer, expert: p.expert, name, count: 0, block };
      cells.set(key, c);
    }
    return c;
  };
  for (const e of expertGrid?.list ?? []) if (turn.model === null || e.model === turn.model) add(e.name, e.hash);
  const tok = selectedToken > 0 ? turn.tokens[selectedToken - 1] : undefined;
  turn.tokens.forEach((t) => {
    for (const layer of t.experts) {
      for (const e of layer) {
        const c = add(e.expert, e.block);
        if (c === undefined) continue;
        c.count += 1;
        if (e.block !== null) c.block = e.block;
      }
    }
  });
  if (tok !== undefined) {
    for (const layer of tok.experts) {
      layer.forEach((e, k) => {
        const c = add(e.expert, e.block);
        if (c !== undefined) {
          c.rank = k + 1;
          if (e.block !== null) c.block = e.block;
        }
      });
    }
  }
  const range = h('input', { type: 'range', min: 0, max: turn.tokens.length, value: selectedToken, step: 1, id: 'token-select' });
  range.addEventListener('input', () => {
    selectedToken = Number(range.value);
    renderSide();
    markSelectedToken();
    document.getElementById('token-select')?.focus();
  });
  const which = selectedToken === 0 ? `all ${n} tokens` : `token ${selectedToken} “${(tok?.text ?? '').replace(/\n/g, '⏎')}”`;
  return h(
    'section',
    { class: 'panel', 'aria-labelledby': 'experts-h' },
    h('h2', { id: 'experts-h' }, 'Experts'),
    turn.tokens.length > 0 ? field(`Showing ${which}`, range, '0 shows every token; pick one to see its top-k experts per layer. Click a token in the answer too.') : null,
    layers === 0
      ? h('p', { class: 'hint' }, turn.status === 'done' ? 'The node reported no routed experts for this answer (a dense model?).' : 'Experts appear with the first token.')
      : heatmap({
          caption: selectedToken === 0 ? `Tokens routed through each expert (answer ${turn.n})` : `Experts of token ${selectedToken} (rank 1 = most probable)`,
          layers,
          experts,
          cells,
          unit: 'tokens',
          highlight: selectedToken > 0,
          id: 'chat-heatmap',
        }),
    h('p', { class: 'hint' }, 'Each cell links to the block of the expert version that ran.'),
    h('p', { class: 'hint' }, `${num(n)} tokens routed so far.`),
  );
}
