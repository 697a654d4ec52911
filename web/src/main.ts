/** The Blyan web UI: a hash router over four views, and the node's status in the header. */
import { describeError } from './api.ts';
import { h, notice, replace } from './dom.ts';
import { shortAddress } from './format.ts';
import { nodeHealth } from './state.ts';
import { renderChat } from './views/chat.ts';
import { renderExperts } from './views/experts.ts';
import { renderExplorer } from './views/explorer.ts';
import { renderWallet } from './views/wallet.ts';
import { currentSession, onWalletChange, restore } from './wallet.ts';

type View = (root: HTMLElement, path: string[], query: URLSearchParams) => Promise<void>;
const VIEWS: Record<string, { title: string; render: View }> = {
  chat: { title: 'Chat', render: (root) => renderChat(root) },
  explorer: { title: 'Explorer', render: renderExplorer },
  experts: { title: 'Experts', render: renderExperts },
  wallet: { title: 'Wallet', render: (root) => renderWallet(root) },
};

let lastView = '';

async function route(): Promise<void> {
  const main = document.getElementById('main') as HTMLElement;
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart = '', queryPart = ''] = raw.split('?', 2);
  const path = pathPart.split('/').filter((p) => p !== '');
  const name = path[0] ?? 'chat';
  const view = VIEWS[name];
  for (const a of document.querySelectorAll<HTMLAnchorElement>('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (view === undefined) {
    document.title = 'Not found · Blyan';
    replace(main, h('h1', null, 'Not found'), h('p', null, 'No such page. ', h('a', { href: '#/chat' }, 'Go to the chat.')));
    return;
  }
  document.title = `${view.title} · Blyan`;
  try {
    await view.render(main, path.slice(1), new URLSearchParams(queryPart));
  } catch (err) {
    replace(main, h('h1', null, view.title), notice('error', describeError(err)));
  }
  // Move focus to the new page for keyboard and screen-reader users, except on first load of the chat.
  if (lastView !== '' && lastView !== raw && !main.contains(document.activeElement)) main.focus({ preventScroll: false });
  lastView = raw;
}

async function renderStatus(): Promise<void> {
  const el = document.getElementById('node-status');
  if (el === null) return;
  const health = await nodeHealth(true);
  const session = currentSession();
  const who = session === null ? h('a', { href: '#/wallet' }, 'Sign in') : h('a', { href: '#/wallet', title: session.address, 'data-testid': 'header-address' }, shortAddress(session.address));
  if (health === null) replace(el, h('span', { class: 'dot dot-bad', 'aria-hidden': 'true' }), 'Node unreachable · ', who);
  else replace(el, h('span', { class: 'dot dot-ok', 'aria-hidden': 'true' }), `Node ${health.version} · chain ${health.chainId} · `, who);
}

document.querySelector('.skip-link')?.addEventListener('click', (e) => {
  e.preventDefault();
  document.getElementById('main')?.focus();
});
restore();
onWalletChange(() => void renderStatus());
window.addEventListener('hashchange', () => void route());
void renderStatus();
void route();
setInterval(() => void renderStatus(), 30_000);
