import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isValidPrivateKey } from '../chain/sign.ts';
import { addressOf } from '../chain/sign.ts';
import { BlyanError } from '../errors.ts';
import { type Hex20, hexAddress } from '../ledger/systemAccounts.ts';

/**
 * The node's own key (`<data>/node.key`, 0600, hex): it signs the chain-C batches this node produces and
 * the Capture/Release transactions of the queries it serves, so users pay this address. It is an
 * operational key like a validator's, separate from the operator's encrypted wallet, because the node must
 * use it unattended; it should only ever hold earned fees, which the operator moves out with `blyan wallet`.
 */
export interface NodeKey {
  readonly privateKey: Uint8Array;
  readonly address: Hex20;
}

export const NODE_KEY_FILE = 'node.key';

export function loadOrCreateNodeKey(dataDir: string): NodeKey {
  const path = join(dataDir, NODE_KEY_FILE);
  let key: Uint8Array;
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new BlyanError('KEY_INVALID', `${path} must hold 64 lowercase hex digits (the node's secp256k1 key); delete it to create a new one`);
    key = new Uint8Array(Buffer.from(text, 'hex'));
    if (!isValidPrivateKey(key)) throw new BlyanError('KEY_INVALID', `${path} holds no valid secp256k1 key; delete it to create a new one`);
  } else {
    do key = new Uint8Array(randomBytes(32));
    while (!isValidPrivateKey(key));
    writeFileSync(path, `${Buffer.from(key).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  }
  return { privateKey: key, address: hexAddress(addressOf(key)) };
}
