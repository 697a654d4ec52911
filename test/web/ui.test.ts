/**
 * The web UI in a real browser (Debian's chromium through playwright-core) against a real `blyan up` process on
 * a tiny data dir: the chat streams text with its expert heatmap and cost, the explorer shows a block and
 * verifies its hash in the page, and the wallet signs in (SIWE) with a dev key. Screenshots go to
 * test-artifacts/web/. A missing chromium fails the test with how to install it; it never skips.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { tinyDataDir } from '../api/fixture.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/blyan.js');
const ARTIFACTS = join(ROOT, 'test-artifacts/web');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const T = 60_000;

let data: { data: string; cleanup: () => void } | undefined;
let node: ChildProcess | undefined;
let url = '';
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let page: Page;
const pageErrors: string[] = [];
const foreignRequests: string[] = [];

async function startNode(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'up', '--data', dir, '--port', '0', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BLYAN_DATA: '', BLYAN_LOG_LEVEL: 'warn' },
  });
  let out = '';
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const info = await new Promise<{ url: string }>((ok, fail) => {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      try {
        ok(JSON.parse(out) as { url: string });
      } catch {
        // not the whole JSON yet
      }
    });
    child.on('exit', (code) => fail(new Error(`blyan up exited early (${code}): ${err.slice(-2000)}`)));
  });
  return { child, url: info.url };
}

/** An attribute of every element a locator matches. */
async function attrs(loc: Locator, name: string): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (const el of await loc.all()) out.push(await el.getAttribute(name));
  return out;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`chromium is not installed at ${CHROMIUM}: the web UI tests need Debian's chromium (apt-get install chromium, as .ci/run does) or CHROMIUM_PATH set to a Chromium binary`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  // The UI the node serves is the one in this tree.
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs'), '--quiet'], { stdio: 'inherit' });
  data = tinyDataDir();
  const started = await startNode(data.data);
  node = started.child;
  url = started.url;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 404/.test(m.text())) pageErrors.push(m.text());
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreignRequests.push(r.url());
  });
});

after(async () => {
  await context?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  if (node !== undefined && node.exitCode === null) {
    const exited = once(node, 'exit');
    node.kill('SIGTERM');
    await exited;
  }
  data?.cleanup();
});

test('the node serves the built UI at / with its hashed assets', async () => {
  const res = await fetch(`${url}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  const html = await res.text();
  const assets = [...html.matchAll(/\/assets\/([A-Za-z0-9._-]+)/g)].map((m) => m[1] as string);
  assert.ok(assets.some((a) => /^app-[0-9a-f]{12}\.js$/.test(a)) && assets.some((a) => /^style-[0-9a-f]{12}\.css$/.test(a)), html);
  for (const a of assets) {
    const r = await fetch(`${url}/assets/${a}`);
    assert.equal(r.status, 200, a);
    if (a.endsWith('.js')) assert.ok((await r.arrayBuffer()).byteLength < 256 * 1024, 'the bundle stays small');
  }
  assert.deepEqual(readdirSync(join(ROOT, 'web/dist/assets')).sort(), [...new Set(assets)].sort(), 'index.html names every built asset');
  assert.equal(((await (await fetch(`${url}/health`)).json()) as { status: string }).status, 'ok', 'API routes keep answering');
});

test('GET /blocks/:hash/header is the bytes whose SHA-256 is the hash', async () => {
  const chains = (await (await fetch(`${url}/chains`)).json()) as { chain: string; head: string | null }[];
  for (const c of chains) {
    if (c.head === null) continue;
    const res = await fetch(`${url}/blocks/${c.head}/header`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('x-block-hash'), c.head);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(createHash('sha256').update(bytes).digest('hex'), c.head, `chain ${c.chain}`);
  }
  assert.equal((await fetch(`${url}/blocks/${'0'.repeat(64)}/header`)).status, 404);
  assert.equal((await fetch(`${url}/blocks/xyz/header`)).status, 400);
});

test('chat: streamed text, the expert heatmap, the cost and a receipt', async () => {
  await page.goto(`${url}/#/chat`);
  await page.getByRole('heading', { name: 'Chat', level: 1 }).waitFor();
  // A fixed seed, so the same answer can be asked of the API and compared.
  await page.getByText('Settings').click();
  await page.getByLabel('Seed').fill('7');
  await page.getByLabel('Max tokens').fill('24');
  await page.getByLabel('Prompt', { exact: true }).fill('To be, or not');
  await page.getByLabel('Prompt', { exact: true }).press('Enter');
  await page.getByText(/Answer complete: \d+ tokens/).waitFor();

  const answer = page.getByTestId('answer').last();
  const shown = (await answer.textContent()) ?? '';
  const tokenSpans = await answer.locator('.tok').count();
  assert.ok(shown.length > 0, 'the answer shows text');
  assert.ok(tokenSpans > 1, `the text arrived token by token (${tokenSpans} token events)`);
  const res = await fetch(`${url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'To be, or not', maxTokens: 24, seed: 7, temperature: 0.8 }) });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  const api = JSON.parse(body) as { text: string; usage: { completionTokens: number }; experts: unknown[][][] };
  assert.equal(shown, api.text, 'the page shows what the node generated');

  // Heatmap: 2 layers × 4 experts, each cell a link to a block; counts add up to tokens × layers × top-k.
  const heat = page.locator('#chat-heatmap');
  await heat.waitFor();
  assert.equal(await heat.locator('tbody tr').count(), 2);
  assert.equal(await heat.locator('td.heat-cell').count(), 8);
  const counts = (await attrs(heat.locator('td.heat-cell'), 'data-count')).map(Number);
  const routed = api.experts.flat(2).length;
  assert.ok(routed > 0);
  assert.equal(counts.reduce((a, b) => a + b, 0), routed, 'the heatmap counts every routed expert of every token');
  const hrefs = await attrs(heat.locator('a.heat-link'), 'href');
  assert.ok(hrefs.length > 0 && hrefs.every((h) => /^#\/explorer\/block\/[0-9a-f]{64}$/.test(h ?? '')), hrefs.join(' '));

  // Cost: the anonymous free tier charges nothing.
  const cost = page.locator('#cost-meter');
  await cost.getByText('Free tier').waitFor();
  assert.equal(await cost.getByTestId('cost-charged').textContent(), '0 BLY');

  // Receipt: the node's list of expert blocks.
  const receipt = page.getByTestId('receipt').last();
  await receipt.locator('summary').first().click();
  assert.equal(await receipt.getByText('This node sent no receipt').count(), 0, 'the receipt comes from the node');
  const blocks = await attrs(receipt.locator('tbody a[href^="#/explorer/block/"]'), 'href');
  assert.ok(blocks.length > 0);
  for (const b of blocks) assert.match(b ?? '', /^#\/explorer\/block\/[0-9a-f]{64}$/);
  await shot('chat');

  // One token's experts: its top-2 per layer, ranked.
  await answer.locator('.tok').nth(1).click();
  assert.equal(await heat.locator('td[data-rank]').count(), 4);
  await shot('chat-token');
});

test('explorer: chains, a block verified in the browser, an expert lineage', async () => {
  await page.goto(`${url}/#/explorer`);
  await page.locator('.cards > li').first().waitFor();
  assert.equal(await page.locator('.cards > li').count(), 4);
  await page.getByRole('link', { name: 'Chain B' }).click();
  await page.locator('#blocks-table').waitFor();
  await shot('explorer-chain');
  const first = page.locator('#blocks-table tbody a[href^="#/explorer/block/"]').first();
  const hash = ((await first.getAttribute('href')) ?? '').slice(17);
  await first.click();
  await page.getByTestId('block-hash').waitFor();
  assert.equal(await page.getByTestId('block-hash').textContent(), hash);
  await page.getByRole('button', { name: /Verify hash and signature/ }).click();
  await page.getByTestId('hash-verified').waitFor();
  assert.match((await page.getByTestId('signature-result').textContent()) ?? '', /^✓ signed by the author 0x[0-9a-fA-F]{40}$/);
  assert.match((await page.locator('#verify-result').textContent()) ?? '', /identical to the re-encoding/);
  await shot('explorer-block');
  await page.locator('#lineage-link').click();
  await page.locator('#lineage li').first().waitFor();
  assert.ok((await page.locator('#lineage li.current').count()) === 1);
  await shot('explorer-lineage');
});

test('experts dashboard: usage from the chats, sizes, PoL history', async () => {
  await page.goto(`${url}/#/experts`);
  await page.getByRole('heading', { name: 'Size and versions' }).waitFor();
  assert.equal(await page.locator('#size-chart tbody tr').count(), 8);
  const heat = page.locator('#usage-heatmap');
  await heat.waitFor();
  const total = (await attrs(heat.locator('td.heat-cell'), 'data-count')).reduce((s, c) => s + Number(c ?? 0), 0);
  assert.ok(total > 0, 'usage counts the chats above');
  await page.locator('#top-chart').waitFor();
  await page.getByRole('heading', { name: 'Proof-of-learning history' }).waitFor();
  await shot('experts');
});

test('wallet: a dev key signs in with SIWE and sees its balance', async () => {
  await page.goto(`${url}/#/wallet`);
  await page.getByRole('button', { name: 'Create a dev key' }).click();
  const address = ((await page.getByTestId('signer-address').textContent()) ?? '').trim();
  assert.match(address, /^0x[0-9a-fA-F]{40}$/);
  await page.getByText('DEV KEY (unencrypted, this browser only)').waitFor();
  await page.getByRole('button', { name: 'Sign in with Ethereum' }).click();
  await page.getByTestId('signed-in').waitFor();
  assert.match((await page.getByTestId('signed-in').textContent()) ?? '', new RegExp(address));
  assert.equal((await page.getByTestId('header-address').getAttribute('title'))?.toLowerCase(), address.toLowerCase());
  await page.getByTestId('balance').waitFor();
  assert.equal(await page.getByTestId('balance').textContent(), '0 BLY');
  await shot('wallet-signed-in');

  // The session is real: the node knows the token.
  const token = (await page.evaluate('JSON.parse(localStorage.getItem("blyan.session")).token')) as string;
  const me = (await (await fetch(`${url}/wallet/me`, { headers: { authorization: `Bearer ${token}` } })).json()) as { address: string };
  assert.equal(me.address.toLowerCase(), address.toLowerCase());

  // Devnet faucet, then a signed transfer.
  await page.getByRole('button', { name: /faucet/ }).click();
  await page.getByText(/The faucet sent 100 BLY/).waitFor();
  await page.getByTestId('balance').getByText('100 BLY').waitFor();
  await page.getByLabel('To address').fill('0x00000000000000000000000000000000000000a1');
  await page.getByLabel('Amount (BLY)').fill('1.5');
  await page.getByRole('button', { name: 'Sign and send' }).click();
  await page.getByTestId('sent').waitFor();
  await page.getByTestId('balance').getByText('98.5 BLY').waitFor();
  const other = (await (await fetch(`${url}/wallet/balance/0x00000000000000000000000000000000000000a1`)).json()) as { balance: string };
  assert.equal(other.balance, '1500000000000000000');
  await shot('wallet-sent');
});

test('signed in, a chat is paid by a signed quote and shows its cost', async () => {
  const token = (await page.evaluate('JSON.parse(localStorage.getItem("blyan.session")).token')) as string;
  const balance = async () => BigInt(((await (await fetch(`${url}/wallet/me`, { headers: { authorization: `Bearer ${token}` } })).json()) as { balance: string }).balance);
  const before = await balance();
  await page.goto(`${url}/#/chat`);
  // More tokens than the ledger's free tier covers per request: the quote has a price.
  await page.getByText('Settings').click();
  await page.getByLabel('Max tokens').fill('4096');
  await page.getByLabel('Prompt', { exact: true }).fill('Whether tis');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByText(/Answer complete: \d+ tokens/).waitFor();
  const cost = page.locator('#cost-meter');
  await cost.getByText('Paid (signed quote)').waitFor();
  const charged = (await cost.getByTestId('cost-charged').textContent()) ?? '';
  assert.match(charged, /^0\.\d+ BLY$/, 'a paid answer costs something');
  const [whole = '0', frac = ''] = charged.replace(' BLY', '').split('.');
  const units = BigInt(whole) * 10n ** 18n + BigInt(frac.padEnd(18, '0'));
  assert.equal(before - (await balance()), units, 'the meter shows what the ledger took');
  assert.equal(await cost.locator('meter').count(), 1, 'charged against the quote limit');
  const receipt = page.getByTestId('receipt').last();
  await receipt.locator('summary').first().click();
  assert.match((await receipt.textContent()) ?? '', /Quote0x[0-9a-f]{64}Capture transaction0x[0-9a-f]{64}/, 'a signed quote is captured on the ledger');
  await shot('chat-paid');
});

test('wallet: an injected EIP-1193 wallet signs in and signs a transfer (eth_signTypedData_v4)', async () => {
  // A stand-in for MetaMask: window.ethereum forwards to this process, which signs as a wallet would,
  // from the JSON it is given (EIP712Domain in the types, integers as decimal strings).
  const account = privateKeyToAccount(generatePrivateKey());
  const calls: string[] = [];
  const ctx = await (browser as Browser).newContext({ viewport: { width: 1280, height: 900 } });
  const p = await ctx.newPage();
  p.setDefaultTimeout(T);
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.exposeFunction('__wallet', async (method: string, params: unknown[]) => {
    calls.push(method);
    if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [account.address];
    if (method === 'personal_sign') return account.signMessage({ message: { raw: params[0] as `0x${string}` } });
    if (method === 'eth_signTypedData_v4') {
      const td = JSON.parse(params[1] as string) as { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; primaryType: string; message: Record<string, unknown> };
      const { EIP712Domain, ...types } = td.types;
      assert.ok(EIP712Domain !== undefined, 'wallets need EIP712Domain in the types');
      const fields = types[td.primaryType] ?? [];
      const message = Object.fromEntries(fields.map((f) => [f.name, /^uint/.test(f.type) ? BigInt(td.message[f.name] as string) : td.message[f.name]]));
      return account.signTypedData({ domain: td.domain, types, primaryType: td.primaryType, message } as Parameters<typeof account.signTypedData>[0]);
    }
    throw new Error(`unsupported method ${method}`);
  });
  await p.addInitScript('window.ethereum = { request: ({ method, params }) => window.__wallet(method, params ?? []), on() {} };');
  await p.goto(`${url}/#/wallet`);
  await p.getByRole('button', { name: 'Connect browser wallet' }).click();
  assert.equal((await p.getByTestId('signer-address').textContent())?.trim(), account.address);
  await p.getByRole('button', { name: 'Sign in with Ethereum' }).click();
  await p.getByTestId('signed-in').waitFor();
  await p.getByRole('button', { name: /faucet/ }).click();
  await p.getByText(/The faucet sent 100 BLY/).waitFor();
  await p.getByLabel('To address').fill('0x00000000000000000000000000000000000000a2');
  await p.getByLabel('Amount (BLY)').fill('2');
  await p.getByRole('button', { name: 'Sign and send' }).click();
  await p.getByTestId('sent').waitFor();
  await p.getByTestId('balance').getByText('98 BLY').waitFor();
  assert.deepEqual([...new Set(calls)], ['eth_requestAccounts', 'personal_sign', 'eth_signTypedData_v4']);
  await p.screenshot({ path: join(ARTIFACTS, 'wallet-injected.png'), fullPage: true });
  await ctx.close();
});

test('keyboard, labels and a narrow screen', async () => {
  await page.close();
  page = await (context as BrowserContext).newPage();
  await page.goto(`${url}/#/chat`);
  await page.getByLabel('Prompt', { exact: true }).waitFor();
  const unlabelled = (await page.evaluate(
    `[...document.querySelectorAll('input, textarea, select')].filter((el) => el.labels.length === 0 && !el.getAttribute('aria-label')).map((el) => el.name || el.id)`,
  )) as string[];
  assert.deepEqual(unlabelled, []);
  // The chat puts the caret in the prompt; Enter sent the first answer above. Elsewhere the first Tab
  // reaches the skip link, which moves focus past the header to the page.
  const fresh = await (context as BrowserContext).newPage();
  await fresh.goto(`${url}/#/explorer`);
  await fresh.locator('.cards > li').first().waitFor();
  await fresh.keyboard.press('Tab');
  assert.equal(await fresh.evaluate('document.activeElement.textContent'), 'Skip to content');
  await fresh.keyboard.press('Enter');
  assert.equal(await fresh.evaluate('document.activeElement.id'), 'main');
  await fresh.keyboard.press('Tab');
  assert.equal(await fresh.evaluate('document.activeElement !== document.getElementById("main") && document.getElementById("main").contains(document.activeElement)'), true, 'the next Tab stays in the page, past the header');
  await fresh.close();
  await context?.close();
  context = await (browser as Browser).newContext({ viewport: { width: 390, height: 844 }, isMobile: true, colorScheme: 'dark' });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${url}/#/explorer`);
  await page.locator('.cards > li').first().waitFor();
  assert.ok((await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1')) as boolean, 'no horizontal scrolling on a phone');
  await shot('explorer-mobile');
  await page.goto(`${url}/#/chat`);
  await page.getByLabel('Prompt', { exact: true }).fill('To be');
  await page.getByLabel('Prompt', { exact: true }).press('Enter');
  await page.getByText(/Answer complete: \d+ tokens/).waitFor();
  assert.ok((await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1')) as boolean, 'the chat fits a phone too');
  await shot('chat-mobile');
});

test('no page errors, nothing loaded from another origin', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(foreignRequests, []);
  const js = readdirSync(join(ROOT, 'web/dist/assets')).filter((f) => f.endsWith('.js'));
  for (const f of js) assert.doesNotMatch(readFileSync(join(ROOT, 'web/dist/assets', f), 'utf8'), /<script[^>]+src=["']https?:/);
});
