/**
 * The signer behind the UI: an injected EIP-1193 wallet (MetaMask and the like) or a local dev key, plus the
 * SIWE session (EIP-4361) that the node's bearer token stands for. The dev key is generated in this browser
 * and kept unencrypted in localStorage: it is for devnet testing only, and the UI says so.
 */
import type { Hex } from 'viem';
import { type PrivateKeyAccount, generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { api, setAuthToken } from './api.ts';

export const DEV_KEY_STORAGE = 'blyan.devKey';
const SESSION_STORAGE = 'blyan.session';

interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
  on?(event: string, listener: (...args: unknown[]) => void): void;
}

export interface TypedDataField {
  name: string;
  type: string;
}
export interface TypedData {
  domain: Record<string, unknown>;
  types: Record<string, TypedDataField[]>;
  primaryType: string;
  message: Record<string, unknown>;
}

export interface Session {
  token: string;
  address: string;
  expiresAt: string | number;
}

export type SignerKind = 'dev' | 'injected';

interface SignerState {
  kind: SignerKind;
  address: Hex;
  account?: PrivateKeyAccount;
  provider?: Eip1193Provider;
}

let signer: SignerState | null = null;
let session: Session | null = null;
const listeners = new Set<() => void>();

export function onWalletChange(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
function changed(): void {
  for (const fn of listeners) fn();
}

export function currentSigner(): { kind: SignerKind; address: Hex } | null {
  return signer === null ? null : { kind: signer.kind, address: signer.address };
}
export function currentSession(): Session | null {
  return session;
}

function injectedProvider(): Eip1193Provider | undefined {
  const eth = (window as unknown as { ethereum?: Eip1193Provider }).ethereum;
  return eth !== undefined && typeof eth.request === 'function' ? eth : undefined;
}
export function hasInjectedWallet(): boolean {
  return injectedProvider() !== undefined;
}

/** The stored dev key, if any (never sent anywhere: it signs locally). */
export function storedDevKey(): Hex | null {
  const k = localStorage.getItem(DEV_KEY_STORAGE);
  return k !== null && /^0x[0-9a-fA-F]{64}$/.test(k) ? (k as Hex) : null;
}

export function useDevKey(create: boolean): Hex {
  let key = storedDevKey();
  if (key === null) {
    if (!create) throw new Error('no dev key stored in this browser');
    key = generatePrivateKey();
    localStorage.setItem(DEV_KEY_STORAGE, key);
  }
  const account = privateKeyToAccount(key);
  setSigner({ kind: 'dev', address: account.address, account });
  return account.address;
}

export function forgetDevKey(): void {
  localStorage.removeItem(DEV_KEY_STORAGE);
  if (signer?.kind === 'dev') {
    signer = null;
    signOut();
  }
  changed();
}

export async function connectInjected(): Promise<Hex> {
  const provider = injectedProvider();
  if (provider === undefined) throw new Error('no browser wallet found (install MetaMask or another EIP-1193 wallet, or use a dev key)');
  const accounts = (await provider.request({ method: 'eth_requestAccounts' })) as string[];
  const first = accounts[0];
  if (first === undefined) throw new Error('the wallet shared no account');
  const address = first as Hex;
  setSigner({ kind: 'injected', address, provider });
  provider.on?.('accountsChanged', (...args: unknown[]) => {
    const list = args[0] as string[] | undefined;
    const next = list?.[0];
    if (next === undefined) disconnect();
    else setSigner({ kind: 'injected', address: next as Hex, provider });
  });
  return address;
}

export function disconnect(): void {
  signer = null;
  signOut();
}

function setSigner(next: SignerState): void {
  const same = signer !== null && signer.address.toLowerCase() === next.address.toLowerCase();
  signer = next;
  if (!same && session !== null && session.address.toLowerCase() !== next.address.toLowerCase()) signOut();
  else changed();
}

function need(): SignerState {
  if (signer === null) throw new Error('connect a wallet or use a dev key first');
  return signer;
}

/** personal_sign (EIP-191) of a text message. */
export async function signMessage(message: string): Promise<Hex> {
  const s = need();
  if (s.account !== undefined) return s.account.signMessage({ message });
  const hex = `0x${Array.from(new TextEncoder().encode(message), (b) => b.toString(16).padStart(2, '0')).join('')}`;
  return (await (s.provider as Eip1193Provider).request({ method: 'personal_sign', params: [hex, s.address] })) as Hex;
}

const DOMAIN_FIELD_TYPES: Record<string, string> = { name: 'string', version: 'string', chainId: 'uint256', verifyingContract: 'address', salt: 'bytes32' };

/** Integers as bigint for viem (JSON brings them as decimal strings or numbers). */
function normalizeMessage(types: Record<string, TypedDataField[]>, primaryType: string, message: Record<string, unknown>): Record<string, unknown> {
  const fields = types[primaryType];
  if (fields === undefined) throw new Error(`typed data has no type ${primaryType}`);
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = message[f.name];
    if (/^u?int\d*$/.test(f.type) && (typeof v === 'string' || typeof v === 'number')) out[f.name] = BigInt(v);
    else if (types[f.type] !== undefined && typeof v === 'object' && v !== null) out[f.name] = normalizeMessage(types, f.type, v as Record<string, unknown>);
    else out[f.name] = v;
  }
  return out;
}

/** EIP-712 signTypedData: locally with the dev key, or eth_signTypedData_v4 through the wallet. */
export async function signTypedData(data: TypedData): Promise<Hex> {
  const s = need();
  const { EIP712Domain: _drop, ...types } = data.types;
  const domain = { ...data.domain };
  if (typeof domain.chainId === 'string') domain.chainId = Number(domain.chainId);
  if (s.account !== undefined) {
    const message = normalizeMessage(types, data.primaryType, data.message);
    // viem's types are generic over literal type maps; the node sends them at run time.
    return s.account.signTypedData({ domain, types, primaryType: data.primaryType, message } as unknown as Parameters<PrivateKeyAccount['signTypedData']>[0]);
  }
  const domainType = Object.keys(domain)
    .filter((k) => DOMAIN_FIELD_TYPES[k] !== undefined)
    .map((k) => ({ name: k, type: DOMAIN_FIELD_TYPES[k] as string }));
  const payload = JSON.stringify({ domain, types: { EIP712Domain: domainType, ...types }, primaryType: data.primaryType, message: data.message }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return (await (s.provider as Eip1193Provider).request({ method: 'eth_signTypedData_v4', params: [s.address, payload] })) as Hex;
}

interface NonceAnswer {
  nonce: string;
  domain: string;
  uri: string;
  chainId: number;
  version: '1';
  issuedAt: string;
  expirationTime?: string;
  statement?: string;
}

export const SIWE_STATEMENT = 'Sign in to this Blyan node.';

/** SIWE: nonce from the node, EIP-4361 message, personal_sign, bearer token back. */
export async function signIn(): Promise<Session> {
  const s = need();
  const n = await api<NonceAnswer>('/wallet/request_nonce', { body: { address: s.address }, auth: false });
  const message = createSiweMessage({
    address: s.address,
    chainId: n.chainId,
    domain: n.domain,
    nonce: n.nonce,
    uri: n.uri,
    version: '1',
    issuedAt: new Date(n.issuedAt),
    ...(n.expirationTime === undefined ? {} : { expirationTime: new Date(n.expirationTime) }),
    statement: n.statement ?? SIWE_STATEMENT,
  });
  const signature = await signMessage(message);
  const auth = await api<Session>('/wallet/authenticate', { body: { message, signature }, auth: false });
  session = { token: auth.token, address: auth.address, expiresAt: auth.expiresAt };
  setAuthToken(session.token);
  localStorage.setItem(SESSION_STORAGE, JSON.stringify(session));
  changed();
  return session;
}

export function signOut(): void {
  session = null;
  setAuthToken(null);
  localStorage.removeItem(SESSION_STORAGE);
  changed();
}

function expired(s: Session): boolean {
  const t = typeof s.expiresAt === 'number' ? s.expiresAt : Date.parse(s.expiresAt);
  return Number.isFinite(t) && t <= Date.now();
}

/** Restores the dev key signer and an unexpired session from the last visit. */
export function restore(): void {
  const raw = localStorage.getItem(SESSION_STORAGE);
  if (raw !== null) {
    try {
      const s = JSON.parse(raw) as Session;
      if (typeof s.token === 'string' && typeof s.address === 'string' && !expired(s)) {
        session = s;
        setAuthToken(s.token);
      } else localStorage.removeItem(SESSION_STORAGE);
    } catch {
      localStorage.removeItem(SESSION_STORAGE);
    }
  }
  const key = storedDevKey();
  if (key !== null && (session === null || privateKeyToAccount(key).address.toLowerCase() === session.address.toLowerCase())) {
    const account = privateKeyToAccount(key);
    signer = { kind: 'dev', address: account.address, account };
  }
}

/** Forget a session the node no longer accepts (401). */
export function sessionRejected(): void {
  if (session !== null) signOut();
}
