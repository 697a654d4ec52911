/** Wallet: a signer (browser wallet or dev key), SIWE sign-in, balance and free tier, devnet faucet, send BLY. */
import { getAddress, isAddress } from 'viem';
import { ApiError, api, describeError, isMissingRoute, optional } from '../api.ts';
import { type Child, field, h, notice, replace } from '../dom.ts';
import { bly, num, parseBly, shortAddress, shortHash, time } from '../format.ts';
import {
  connectInjected,
  currentSession,
  currentSigner,
  disconnect,
  forgetDevKey,
  hasInjectedWallet,
  sessionRejected,
  signIn,
  signOut,
  signTypedData,
  storedDevKey,
  type TypedDataField,
  useDevKey,
} from '../wallet.ts';

interface Me {
  address: string;
  balance: string;
  freeTier?: { used: number | string; limit: number | string; resetsAt: string | number | null };
}

let flash: HTMLElement | null = null;

export async function renderWallet(root: HTMLElement): Promise<void> {
  const signer = currentSigner();
  const session = currentSession();
  const account = h('section', { class: 'panel', 'aria-labelledby': 'acct-h' }, h('h2', { id: 'acct-h' }, 'Account'), h('p', { class: 'hint' }, signer || session ? 'Loading…' : 'Connect a wallet or use a dev key to see a balance.'));
  const economy = h('section', { class: 'panel', 'aria-labelledby': 'eco-h' }, h('h2', { id: 'eco-h' }, 'Economy'), h('p', { class: 'hint' }, 'Loading…'));
  const msg = flash;
  flash = null;
  replace(root, h('h1', null, 'Wallet'), msg, h('div', { class: 'grid-2' }, signerPanel(root), sessionPanel(root)), account, sendPanel(root), economy);
  void fillAccount(account, root);
  void fillEconomy(economy);
}

function rerender(root: HTMLElement, message?: HTMLElement): void {
  flash = message ?? null;
  void renderWallet(root);
}

async function act(root: HTMLElement, button: HTMLButtonElement, fn: () => Promise<HTMLElement | undefined>): Promise<void> {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    rerender(root, await fn());
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) sessionRejected();
    rerender(root, notice('error', describeError(err)));
  }
}

function signerPanel(root: HTMLElement): HTMLElement {
  const signer = currentSigner();
  const body: Child[] = [];
  if (signer === null) {
    const injected = h('button', { type: 'button', class: 'primary', disabled: !hasInjectedWallet() }, 'Connect browser wallet');
    injected.addEventListener('click', () => act(root, injected, async () => notice('ok', `Connected ${await connectInjected()}.`)));
    const dev = h('button', { type: 'button', id: 'use-dev-key' }, storedDevKey() === null ? 'Create a dev key' : 'Use my dev key');
    dev.addEventListener('click', () => act(root, dev, async () => notice('ok', `Using the dev key of ${useDevKey(true)}.`)));
    body.push(
      h('p', null, 'Sign with an injected EIP-1193 wallet (MetaMask and the like), or with a dev key made in this browser.'),
      hasInjectedWallet() ? null : h('p', { class: 'hint' }, 'No browser wallet was found on this page.'),
      h('div', { class: 'actions' }, injected, dev),
      h('p', { class: 'hint' }, 'A dev key is a fresh private key kept unencrypted in this browser’s localStorage: for devnet testing only, never for real funds.'),
    );
  } else {
    body.push(
      h('dl', { class: 'kv' }, h('dt', null, 'Address'), h('dd', { class: 'mono break', 'data-testid': 'signer-address' }, signer.address), h('dt', null, 'Signer'), h('dd', null, signer.kind === 'dev' ? h('span', { class: 'tag tag-warn' }, 'DEV KEY (unencrypted, this browser only)') : 'browser wallet')),
    );
    const buttons: Child[] = [];
    if (signer.kind === 'dev') {
      const key = storedDevKey();
      body.push(h('details', null, h('summary', null, 'Show the dev private key'), h('p', { class: 'hint' }, 'Anyone with this key controls the address. Devnet only.'), h('pre', { class: 'json break', tabindex: 0 }, key ?? '')));
      const forget = h('button', { type: 'button', class: 'danger' }, 'Delete the dev key');
      forget.addEventListener('click', () => {
        if (confirm('Delete the dev key from this browser? Its balance cannot be reached again without it.')) {
          forgetDevKey();
          rerender(root, notice('info', 'The dev key was deleted.'));
        }
      });
      buttons.push(forget);
    }
    const disc = h('button', { type: 'button' }, 'Disconnect');
    disc.addEventListener('click', () => {
      disconnect();
      rerender(root, notice('info', 'Disconnected.'));
    });
    buttons.push(disc);
    body.push(h('div', { class: 'actions' }, ...buttons));
  }
  return h('section', { class: 'panel', 'aria-labelledby': 'signer-h' }, h('h2', { id: 'signer-h' }, 'Signer'), ...body);
}

function sessionPanel(root: HTMLElement): HTMLElement {
  const session = currentSession();
  const signer = currentSigner();
  const body: Child[] = [];
  if (session !== null) {
    body.push(
      notice('ok', h('span', { 'data-testid': 'signed-in' }, 'Signed in as ', h('span', { class: 'mono break' }, session.address))),
      h('p', { class: 'hint' }, `Session expires ${typeof session.expiresAt === 'number' ? time(session.expiresAt) : session.expiresAt}. Chats now run on your account and are paid by signed quotes.`),
    );
    const out = h('button', { type: 'button' }, 'Sign out');
    out.addEventListener('click', () => {
      signOut();
      rerender(root, notice('info', 'Signed out: chats use the anonymous free tier.'));
    });
    body.push(h('div', { class: 'actions' }, out));
    if (signer === null) body.push(h('p', { class: 'hint' }, 'Reconnect the wallet of this address to sign quotes and transfers.'));
  } else {
    const btn = h('button', { type: 'button', class: 'primary', id: 'sign-in', disabled: signer === null }, 'Sign in with Ethereum');
    btn.addEventListener('click', () =>
      act(root, btn, async () => {
        try {
          const s = await signIn();
          return notice('ok', `Signed in as ${s.address}.`);
        } catch (err) {
          if (isMissingRoute(err)) return notice('warn', 'This node does not offer sign-in (SIWE) yet.');
          throw err;
        }
      }),
    );
    body.push(h('p', null, 'Sign a Sign-In with Ethereum (EIP-4361) message to get a session on this node. No transaction, no fee.'), h('div', { class: 'actions' }, btn), signer === null ? h('p', { class: 'hint' }, 'Connect a signer first.') : null);
  }
  return h('section', { class: 'panel', 'aria-labelledby': 'session-h' }, h('h2', { id: 'session-h' }, 'Session'), ...body);
}

async function fillAccount(panel: HTMLElement, root: HTMLElement): Promise<void> {
  const title = h('h2', { id: 'acct-h' }, 'Account');
  const session = currentSession();
  const address = session?.address ?? currentSigner()?.address;
  if (address === undefined) return;
  try {
    let me: Me | undefined;
    if (session !== null) {
      try {
        me = await optional<Me>('/wallet/me');
      } catch (err) {
        // The node no longer knows the session (restarted, expired): sign out and show the public balance.
        if (!(err instanceof ApiError && err.status === 401)) throw err;
        sessionRejected();
        rerender(root, notice('warn', 'The node ended your session: sign in again.'));
        return;
      }
    }
    me ??= await optional<Me>(`/wallet/balance/${address}`);
    if (me === undefined) {
      replace(panel, title, h('p', { class: 'hint' }, 'This node does not serve balances yet.'));
      return;
    }
    const rows: Child[] = [h('dt', null, 'Address'), h('dd', { class: 'mono break' }, me.address), h('dt', null, 'Balance'), h('dd', { 'data-testid': 'balance' }, bly(me.balance))];
    if (me.freeTier) {
      rows.push(h('dt', null, 'Free tier'), h('dd', null, `${num(me.freeTier.used)} of ${num(me.freeTier.limit)} used`, me.freeTier.resetsAt ? ` · resets ${typeof me.freeTier.resetsAt === 'number' ? time(me.freeTier.resetsAt) : me.freeTier.resetsAt}` : ''));
    }
    const refresh = h('button', { type: 'button' }, 'Refresh');
    refresh.addEventListener('click', () => rerender(root));
    const faucet = h('button', { type: 'button', id: 'faucet' }, 'Get devnet BLY from the faucet');
    faucet.addEventListener('click', () =>
      act(root, faucet, async () => {
        try {
          const r = await api<{ amount: string; txId: string; block?: number }>('/faucet', { body: { address: me?.address ?? address } });
          return notice('ok', `The faucet sent ${bly(r.amount)} (transaction ${shortHash(r.txId)}`, r.block === undefined ? '' : h('span', null, ' in ', h('a', { href: `#/explorer/chain/C?from=${r.block}` }, `block C:${r.block}`)), ').');
        } catch (err) {
          if (isMissingRoute(err)) return notice('warn', 'This node has no faucet (devnet only).');
          throw err;
        }
      }),
    );
    replace(panel, title, h('dl', { class: 'kv' }, ...rows), h('div', { class: 'actions' }, refresh, faucet));
  } catch (err) {
    replace(panel, title, notice('error', describeError(err)));
  }
}

interface Eip712Info {
  domain: Record<string, unknown>;
  types: Record<string, TypedDataField[]>;
}

function sendPanel(root: HTMLElement): HTMLElement {
  const signer = currentSigner();
  const to = h('input', { type: 'text', name: 'to', required: true, placeholder: '0x…', autocomplete: 'off', spellcheck: 'false', pattern: '^0x[0-9a-fA-F]{40}$' });
  const amount = h('input', { type: 'text', name: 'amount', required: true, placeholder: '1.5', inputmode: 'decimal', autocomplete: 'off' });
  const submit = h('button', { type: 'submit', class: 'primary', disabled: signer === null }, 'Sign and send');
  const form = h('form', { class: 'send-form', 'aria-label': 'Send BLY' }, field('To address', to), field('Amount (BLY)', amount, 'Up to 18 decimals.'), h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void act(root, submit, async () => {
      const s = currentSigner();
      if (s === null) throw new Error('connect a signer first');
      if (!isAddress(to.value.trim(), { strict: false })) throw new Error('the recipient is not an address (0x and 40 hex digits)');
      const units = parseBly(amount.value);
      if (units <= 0n) throw new Error('the amount must be more than 0');
      const recipient = getAddress(to.value.trim());
      const [info, nonce] = await Promise.all([api<Eip712Info>('/wallet/eip712'), api<{ nonce: string }>(`/wallet/nonce/${s.address}`)]);
      const transferType = info.types.Transfer;
      if (transferType === undefined) throw new Error('the node’s EIP-712 types have no Transfer');
      const message = { from: s.address, to: recipient, amount: units.toString(), nonce: String(nonce.nonce) };
      const signature = await signTypedData({ domain: info.domain, types: { Transfer: transferType }, primaryType: 'Transfer', message });
      const r = await api<{ txId: string; block?: number; blockId?: string }>('/tx', { body: { type: 'Transfer', message, signature } });
      const blockId = r.blockId?.replace(/^0x/, '');
      return notice(
        'ok',
        h('span', { 'data-testid': 'sent' }, `Sent ${bly(units)} to ${recipient}.`),
        ` Transaction ${shortHash(r.txId)}`,
        blockId ? h('span', null, ' in block ', h('a', { href: `#/explorer/block/${blockId}`, class: 'mono' }, `C:${r.block ?? '?'} ${shortHash(blockId)}`)) : '',
        '.',
      );
    });
  });
  return h('section', { class: 'panel', 'aria-labelledby': 'send-h' }, h('h2', { id: 'send-h' }, 'Send BLY'), signer === null ? h('p', { class: 'hint' }, 'Connect a signer to send.') : null, form);
}

const SUPPLY_FIELDS: [string, string][] = [
  ['issued', 'Issued'],
  ['circulating', 'Circulating (issued − burned)'],
  ['burned', 'Burned'],
  ['users', 'Held by users'],
  ['staked', 'Staked'],
  ['escrow', 'In escrow (open quotes)'],
  ['rewardPool', 'Reward pool'],
  ['validationPool', 'Validation pool'],
  ['treasury', 'Treasury'],
];

interface LeaderRow {
  rank: number;
  address: string;
  rewards: string;
  balance: string;
  stake: string;
}

async function fillEconomy(panel: HTMLElement): Promise<void> {
  const title = h('h2', { id: 'eco-h' }, 'Economy');
  try {
    const [supply, board] = await Promise.all([optional<Record<string, unknown>>('/economy/supply'), optional<LeaderRow[]>('/economy/leaderboard?limit=10')]);
    if (supply === undefined && board === undefined) {
      replace(panel, title, h('p', { class: 'hint' }, 'This node does not serve economy figures yet.'));
      return;
    }
    const supplyEl =
      supply === undefined
        ? null
        : h(
            'dl',
            { class: 'kv', id: 'supply' },
            ...SUPPLY_FIELDS.filter(([k]) => typeof supply[k] === 'string').flatMap(([k, label]) => [h('dt', null, label), h('dd', null, bly(supply[k] as string))]),
            typeof supply.accounts === 'number' ? [h('dt', null, 'User accounts'), h('dd', null, num(supply.accounts))] : null,
            typeof supply.height === 'number' ? [h('dt', null, 'Ledger height'), h('dd', null, num(supply.height))] : null,
          );
    const boardEl =
      board === undefined
        ? null
        : board.length === 0
          ? h('p', { class: 'hint' }, 'No rewards paid yet: mine an accepted delta or host experts.')
          : h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                { class: 'data-table' },
                h('caption', null, 'Leaderboard: rewards earned'),
                h('thead', null, h('tr', null, ...['#', 'Address', 'Rewards', 'Balance', 'Stake'].map((c) => h('th', { scope: 'col' }, c)))),
                h('tbody', null, ...board.map((r) => h('tr', null, h('td', null, num(r.rank)), h('td', { class: 'mono', title: r.address }, shortAddress(r.address)), h('td', null, bly(r.rewards)), h('td', null, bly(r.balance)), h('td', null, bly(r.stake))))),
              ),
            );
    replace(panel, title, supplyEl, boardEl);
  } catch (err) {
    replace(panel, title, notice('error', describeError(err)));
  }
}
