/** DAG explorer: chains A–D, a chain's blocks, one block (verified in the browser), an expert's lineage. */
import { type BlockJson, type BlocksPage, type ChainInfo, type ExpertLineage, api, describeError } from '../api.ts';
import { type Child, field, h, notice, replace } from '../dom.ts';
import { bytes, num, shortAddress, shortHash, time } from '../format.ts';
import { nodeHealth } from '../state.ts';
import { verifyBlock } from '../verify.ts';

const CHAIN_NAMES: Record<string, string> = {
  A: 'Meta: genesis, models, validators, parameters',
  B: 'Parameters: every expert of every layer as a lineage of blocks (a DAG)',
  C: 'Ledger: BLY transactions',
  D: 'Datasets',
};
const PAGE = 25;

export async function renderExplorer(root: HTMLElement, path: string[], query: URLSearchParams): Promise<void> {
  const [what, arg] = path;
  if (what === 'block' && arg !== undefined) return renderBlock(root, arg);
  if (what === 'chain' && arg !== undefined) return renderChain(root, arg, query);
  if (what === 'expert' && arg !== undefined) return renderLineage(root, decodeURIComponent(arg), query.get('model'));
  return renderOverview(root);
}

function loading(root: HTMLElement, title: string): void {
  replace(root, h('h1', null, title), h('p', { class: 'hint', role: 'status' }, 'Loading…'));
}

function searchForm(): HTMLElement {
  const input = h('input', { type: 'search', name: 'q', placeholder: 'block hash or expert name (layer0.expert3)', autocomplete: 'off', spellcheck: 'false' });
  const form = h('form', { class: 'search', role: 'search', 'aria-label': 'Find a block or expert' }, field('Find a block hash or an expert', input), h('button', { type: 'submit' }, 'Go'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (/^(0x)?[0-9a-fA-F]{64}$/.test(q)) location.hash = `#/explorer/block/${q.replace(/^0x/, '').toLowerCase()}`;
    else if (/^[A-Za-z0-9_.]{1,100}$/.test(q)) location.hash = `#/explorer/expert/${encodeURIComponent(q)}`;
    else input.setCustomValidity('Enter a 64-digit block hash or a component name such as layer0.expert3');
    input.reportValidity();
  });
  input.addEventListener('input', () => input.setCustomValidity(''));
  return form;
}

async function renderOverview(root: HTMLElement): Promise<void> {
  loading(root, 'Explorer');
  let chains: ChainInfo[];
  try {
    chains = await api<ChainInfo[]>('/chains');
  } catch (err) {
    replace(root, h('h1', null, 'Explorer'), notice('error', `Could not read the chains: ${describeError(err)}`));
    return;
  }
  const health = await nodeHealth();
  replace(
    root,
    h('h1', null, 'Explorer'),
    health ? h('p', { class: 'hint' }, `Chain id ${health.chainId} · genesis `, h('a', { href: `#/explorer/block/${health.genesis}`, class: 'mono' }, shortHash(health.genesis))) : null,
    searchForm(),
    h(
      'ul',
      { class: 'cards', 'aria-label': 'Chains' },
      ...chains.map((c) =>
        h(
          'li',
          { class: 'card', 'data-chain': c.chain },
          h('h2', null, h('a', { href: `#/explorer/chain/${c.chain}` }, `Chain ${c.chain}`)),
          h('p', null, CHAIN_NAMES[c.chain] ?? ''),
          h(
            'dl',
            { class: 'kv' },
            h('dt', null, 'Blocks'),
            h('dd', null, num(c.height)),
            h('dt', null, 'Head'),
            h('dd', { class: 'mono' }, c.head === null ? 'empty' : h('a', { href: `#/explorer/block/${c.head}`, title: c.head }, shortHash(c.head))),
          ),
        ),
      ),
    ),
  );
}

async function renderChain(root: HTMLElement, chain: string, query: URLSearchParams): Promise<void> {
  const title = `Chain ${chain}`;
  loading(root, title);
  let page: BlocksPage;
  try {
    const first = await api<BlocksPage>(`/chains/${encodeURIComponent(chain)}/blocks?limit=1`);
    const fromParam = query.get('from');
    const from = fromParam !== null && /^\d+$/.test(fromParam) ? Number(fromParam) : Math.max(0, first.height - PAGE);
    page = await api<BlocksPage>(`/chains/${encodeURIComponent(chain)}/blocks?from=${from}&limit=${PAGE}`);
    renderChainPage(root, chain, page, from);
  } catch (err) {
    replace(root, h('h1', null, title), notice('error', `Could not read chain ${chain}: ${describeError(err)}`));
  }
}

function renderChainPage(root: HTMLElement, chain: string, page: BlocksPage, from: number): void {
  const rows = [...page.blocks].reverse();
  const pos = chain === 'B' ? 'Arrival' : 'Index';
  const older = from > 0 ? h('a', { href: `#/explorer/chain/${chain}?from=${Math.max(0, from - PAGE)}`, class: 'button' }, 'Older') : null;
  const newer = from + PAGE < page.height ? h('a', { href: `#/explorer/chain/${chain}?from=${from + PAGE}`, class: 'button' }, 'Newer') : null;
  replace(
    root,
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/explorer' }, 'Explorer'), ' / ', `Chain ${chain}`),
    h('h1', null, `Chain ${chain}`),
    h('p', { class: 'hint' }, CHAIN_NAMES[chain] ?? '', ` · ${num(page.height)} blocks`),
    page.blocks.length === 0
      ? h('p', null, 'No blocks on this page.')
      : h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'data-table', id: 'blocks-table' },
            h('caption', null, `Blocks ${from}–${from + page.blocks.length - 1}, newest first`),
            h(
              'thead',
              null,
              h('tr', null, ...[pos, 'Hash', 'Type', chain === 'B' ? 'Component' : null, 'Time', 'Author', 'Payload'].filter((x) => x !== null).map((x) => h('th', { scope: 'col' }, x))),
            ),
            h(
              'tbody',
              null,
              ...rows.map((b) =>
                h(
                  'tr',
                  null,
                  h('td', null, chain === 'B' ? num(b.seq) : num(b.index)),
                  h('td', { class: 'mono' }, h('a', { href: `#/explorer/block/${b.hash}`, title: b.hash }, shortHash(b.hash))),
                  h('td', null, b.type),
                  chain === 'B' ? h('td', null, b.expert === null ? '—' : h('a', { href: `#/explorer/expert/${encodeURIComponent(b.expert)}` }, b.expert)) : null,
                  h('td', null, time(b.time)),
                  h('td', { class: 'mono', title: b.author }, shortAddress(b.author)),
                  h('td', null, bytes(b.payloadSize)),
                ),
              ),
            ),
          ),
        ),
    h('div', { class: 'actions' }, newer, older),
  );
}

async function modelNameOf(b: BlockJson): Promise<string | null> {
  // A chain-B block depends on its model block (chain A); its lineage is asked by model hash.
  for (const d of b.deps) {
    try {
      const dep = await api<BlockJson>(`/blocks/${d}`);
      if (dep.chain === 'A' && dep.type === 'model') return dep.hash;
    } catch {
      // not this one
    }
  }
  return null;
}

async function renderBlock(root: HTMLElement, hash: string): Promise<void> {
  loading(root, 'Block');
  let b: BlockJson;
  try {
    b = await api<BlockJson>(`/blocks/${encodeURIComponent(hash)}`);
  } catch (err) {
    replace(root, h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/explorer' }, 'Explorer')), h('h1', null, 'Block'), notice('error', describeError(err)));
    return;
  }
  const result = h('div', { id: 'verify-result', 'aria-live': 'polite' });
  const verifyBtn = h('button', { type: 'button', class: 'primary', id: 'verify-button' }, 'Verify hash and signature in this browser');
  verifyBtn.addEventListener('click', async () => {
    verifyBtn.disabled = true;
    replace(result, h('p', { class: 'hint' }, 'Re-encoding the header…'));
    try {
      const health = await nodeHealth();
      const v = await verifyBlock(b, health?.chainId ?? null);
      replace(
        result,
        v.hashOk
          ? notice('ok', h('strong', { 'data-testid': 'hash-verified' }, 'Hash verified.'), ' SHA-256 of the re-encoded DAG-CBOR header equals the block hash.')
          : notice('error', h('strong', null, 'Hash mismatch.'), ' The fields do not encode to this hash.'),
        h(
          'dl',
          { class: 'kv' },
          h('dt', null, 'Computed SHA-256'),
          h('dd', { class: 'mono break' }, v.computedHash),
          h('dt', null, 'Header size'),
          h('dd', null, `${v.headerBytes} bytes`),
          h('dt', null, 'Node’s header bytes'),
          h('dd', null, v.rawHeaderMatches === null ? 'not served by this node' : v.rawHeaderMatches ? '✓ identical to the re-encoding' : '✗ differ from the re-encoding'),
          h('dt', null, 'Proof of work'),
          h('dd', null, `${v.workBits} leading zero bits (needs ${b.difficulty}) ${v.workOk ? '✓' : '✗'}`),
          h('dt', null, 'Signature'),
          h(
            'dd',
            { 'data-testid': 'signature-result' },
            v.signatureOk === null
              ? 'not checked (the node did not give its chain id)'
              : v.signatureOk
                ? `✓ signed by the author ${v.signer}`
                : `✗ ${v.signatureError ?? `recovered ${v.signer ?? 'nothing'}, not the author`}`,
          ),
        ),
        h('details', null, h('summary', null, 'Header bytes (hex)'), h('pre', { class: 'json break', tabindex: 0 }, v.headerHex)),
      );
    } catch (err) {
      replace(result, notice('error', `Verification failed: ${describeError(err)}`));
    } finally {
      verifyBtn.disabled = false;
    }
  });
  const link = (x: string) => h('a', { href: `#/explorer/block/${x}`, class: 'mono break', title: x }, x);
  const rows: [string, Child][] = [
    ['Hash', h('span', { class: 'mono break', 'data-testid': 'block-hash' }, b.hash)],
    ['Chain', h('a', { href: `#/explorer/chain/${b.chain}` }, b.chain)],
    [b.chain === 'B' ? 'DAG depth' : 'Index', num(b.index)],
    ['Position', b.seq === null ? '—' : num(b.seq)],
    ['Type', b.type],
    ['Previous', b.prev === null ? 'none' : link(b.prev)],
    ['Depends on', b.deps.length === 0 ? 'nothing' : h('ul', { class: 'plain' }, ...b.deps.map((d) => h('li', null, link(d))))],
  ];
  if (b.expert !== null) rows.push(['Component', h('a', { href: `#/explorer/expert/${encodeURIComponent(b.expert)}`, id: 'lineage-link' }, `${b.expert} (lineage)`)]);
  if (b.layer !== null) rows.push(['Layer', num(b.layer)]);
  rows.push(
    ['Payload', h('span', null, `${bytes(b.payloadSize)} · `, h('a', { href: `/blocks/${b.hash}/payload`, download: `${b.hash}.bin` }, 'download'))],
    ['Payload hash', h('span', { class: 'mono break' }, b.payloadHash)],
    ['Tile root', h('span', { class: 'mono break' }, b.tileRoot)],
    ['Time', time(b.time)],
    ['Nonce', h('span', { class: 'mono' }, b.nonce)],
    ['Difficulty', `${b.difficulty} bits`],
    ['Author', h('span', { class: 'mono break' }, b.author)],
    ['Signature', h('span', { class: 'mono break' }, b.sig)],
  );
  replace(
    root,
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/explorer' }, 'Explorer'), ' / ', h('a', { href: `#/explorer/chain/${b.chain}` }, `Chain ${b.chain}`), ' / ', shortHash(b.hash)),
    h('h1', null, `Block ${b.chain}:${b.chain === 'B' ? (b.expert ?? b.index) : b.index}`, h('span', { class: 'tag' }, b.type)),
    h('dl', { class: 'kv block-fields', id: 'block-fields' }, ...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
    h('section', { class: 'panel', 'aria-labelledby': 'verify-h' }, h('h2', { id: 'verify-h' }, 'Verify'), h('p', { class: 'hint' }, 'Re-encodes the header fields above as canonical DAG-CBOR, hashes them with SHA-256, checks the proof of work, and recovers the signer from the signature. Nothing is taken on trust from the node.'), verifyBtn, result),
  );
  if (b.chain === 'B' && b.expert !== null) {
    const model = await modelNameOf(b);
    const a = root.querySelector<HTMLAnchorElement>('#lineage-link');
    if (a && model !== null) a.href = `#/explorer/expert/${encodeURIComponent(b.expert)}?model=${model}`;
  }
}

async function renderLineage(root: HTMLElement, name: string, model: string | null): Promise<void> {
  loading(root, name);
  let l: ExpertLineage;
  try {
    l = await api<ExpertLineage>(`/experts/${encodeURIComponent(name)}${model === null ? '' : `?model=${encodeURIComponent(model)}`}`);
  } catch (err) {
    replace(root, h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/explorer' }, 'Explorer')), h('h1', null, name), notice('error', describeError(err)));
    return;
  }
  replace(
    root,
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/explorer' }, 'Explorer'), ' / ', h('a', { href: '#/explorer/chain/B' }, 'Chain B'), ' / ', name),
    h('h1', null, `${name} `, h('span', { class: 'tag' }, `${l.versions.length} version${l.versions.length === 1 ? '' : 's'}`)),
    h('p', { class: 'hint' }, `Model ${l.model} (`, h('a', { href: `#/explorer/block/${l.modelHash}`, class: 'mono' }, shortHash(l.modelHash)), '). Each version is a block; a delta builds on the version before it.'),
    h(
      'ol',
      { class: 'lineage', id: 'lineage', 'aria-label': `Versions of ${name}, oldest first` },
      ...l.versions.map((v) =>
        h(
          'li',
          { class: v.hash === l.current ? 'current' : '' },
          h('span', { class: 'lineage-v' }, `v${v.version}`),
          h('a', { href: `#/explorer/block/${v.hash}`, class: 'mono', title: v.hash }, shortHash(v.hash, 12)),
          h('span', { class: 'tag' }, v.type ?? '?'),
          h('span', null, time(v.time)),
          h('span', null, bytes(v.size)),
          h('span', { class: 'mono', title: v.author ?? '' }, v.author === null ? '—' : shortAddress(v.author)),
          v.hash === l.current ? h('strong', null, 'current') : null,
        ),
      ),
    ),
  );
}
