import { randomBytes } from 'node:crypto';
import { recoverMessageAddress } from 'viem';
import { parseSiweMessage } from 'viem/siwe';
import { BlyanError } from '../../errors.ts';
import type { Hex20 } from '../../ledger/systemAccounts.ts';

/**
 * Sign-In with Ethereum (EIP-4361). The node hands out single-use nonces bound to an address; the client
 * signs the standard message text (viem's createSiweMessage) with personal_sign; the node checks every
 * field against what it offered (domain, URI, chain id, version, nonce, times) and that the signature
 * recovers to the address in the message. A nonce is spent by its first use, good or bad, so a captured
 * message can never be replayed.
 */
export interface SiweOffer {
  readonly nonce: string;
  readonly address: Hex20;
  readonly domain: string;
  readonly uri: string;
  readonly chainId: number;
  readonly version: '1';
  readonly issuedAt: string;
  readonly expirationTime: string;
}

export const NONCE_TTL_MS = 5 * 60_000;
const MAX_OPEN_NONCES = 50_000;
/** Clocks of wallets and nodes differ a little. */
const SKEW_MS = 60_000;

function invalid(why: string): never {
  throw new BlyanError('SIWE_INVALID', `sign-in message: ${why}`);
}

export class SiweNonces {
  private readonly open = new Map<string, SiweOffer>();

  constructor(private readonly now: () => number = Date.now) {}

  offer(address: Hex20, domain: string, uri: string, chainId: number): SiweOffer {
    const now = this.now();
    if (this.open.size >= MAX_OPEN_NONCES) this.sweep(now);
    if (this.open.size >= MAX_OPEN_NONCES) {
      const oldest = this.open.keys().next().value;
      if (oldest !== undefined) this.open.delete(oldest);
    }
    // EIP-4361 nonces are at least 8 alphanumeric characters.
    const nonce = randomBytes(16).toString('hex');
    const o: SiweOffer = { nonce, address, domain, uri, chainId, version: '1', issuedAt: new Date(now).toISOString(), expirationTime: new Date(now + NONCE_TTL_MS).toISOString() };
    this.open.set(nonce, o);
    return o;
  }

  private sweep(now: number): void {
    for (const [n, o] of this.open) if (Date.parse(o.expirationTime) <= now) this.open.delete(n);
  }

  /** Checks a signed message; returns the signer. Spends the nonce whatever the outcome. */
  async verify(message: string, signature: `0x${string}`, expected: { domain: string; chainId: number }): Promise<Hex20> {
    const m = parseSiweMessage(message);
    if (m.nonce === undefined || m.address === undefined || m.domain === undefined || m.uri === undefined || m.chainId === undefined || m.version === undefined || m.issuedAt === undefined) {
      invalid('not an EIP-4361 message (domain, address, URI, version, chain id, nonce and issued-at are required)');
    }
    const offer = this.open.get(m.nonce);
    this.open.delete(m.nonce);
    const now = this.now();
    if (offer === undefined || Date.parse(offer.expirationTime) <= now) {
      throw new BlyanError('SIWE_BAD_NONCE', 'the nonce is unknown, already used or expired; request a new one (POST /wallet/request_nonce)');
    }
    if (m.address.toLowerCase() !== offer.address) invalid(`the nonce was issued to ${offer.address}, not ${m.address}`);
    if (m.domain !== expected.domain || m.domain !== offer.domain) invalid(`domain "${m.domain}" is not this node's "${expected.domain}"`);
    if (m.uri !== offer.uri) invalid(`URI "${m.uri}" is not this node's "${offer.uri}"`);
    if (m.chainId !== expected.chainId) invalid(`chain id ${m.chainId} is not this network's ${expected.chainId}`);
    if (m.version !== '1') invalid(`version must be 1`);
    if (m.issuedAt.getTime() > now + SKEW_MS) invalid('issued-at is in the future');
    if (m.expirationTime !== undefined && m.expirationTime.getTime() <= now) invalid('the message has expired');
    if (m.notBefore !== undefined && m.notBefore.getTime() > now + SKEW_MS) invalid('the message is not valid yet (not-before)');
    let signer: string;
    try {
      signer = await recoverMessageAddress({ message, signature });
    } catch {
      invalid('the signature is malformed');
    }
    if (signer.toLowerCase() !== offer.address) invalid(`the signature is by ${signer}, not by ${m.address}`);
    return offer.address;
  }
}
