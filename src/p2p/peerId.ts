import './polyfill.ts';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { writeFileAtomicSync } from '../atomicFile.ts';
import { BlyanError } from '../errors.ts';

/**
 * The node's libp2p identity: an Ed25519 key kept in `<data>/p2p/peer-key` (libp2p's protobuf key
 * encoding, mode 0600). It is not the wallet key: it only names the node on the network, so a restart
 * keeps the same peer id and other nodes' scores and address books stay valid.
 */
export function peerKeyPath(dataDir: string): string {
  return join(dataDir, 'p2p', 'peer-key');
}

export async function loadOrCreatePeerKey(dataDir: string): Promise<PrivateKey> {
  const path = peerKeyPath(dataDir);
  if (existsSync(path)) {
    try {
      return privateKeyFromProtobuf(new Uint8Array(readFileSync(path)));
    } catch (err) {
      throw new BlyanError('KEYSTORE_MALFORMED', `${path} is not a libp2p private key; delete it to get a new peer id`, { path }, { cause: err });
    }
  }
  const key = await generateKeyPair('Ed25519');
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Atomically, so a crash never leaves a half-written key that the next start would refuse.
  writeFileAtomicSync(path, privateKeyToProtobuf(key), { mode: 0o600 });
  return key;
}
