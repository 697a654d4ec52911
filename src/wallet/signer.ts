import { formatAddress } from '../chain/address.ts';
import { addressOf } from '../chain/sign.ts';
import { BlyanError } from '../errors.ts';
import { decryptKeystore } from './keystore.ts';
import { getPassphrase } from './passphrase.ts';
import { findWallet, loadKeystoreFile } from './walletStore.ts';

export interface UnlockedWallet {
  /** 20-byte address, derived from the key itself (not trusted from the file). */
  address: Uint8Array;
  /** 32-byte secp256k1 private key. Keep it in memory only; never log it. */
  privateKey: Uint8Array;
}

export interface UnlockOptions {
  /** Which wallet; may be left out when the data dir holds exactly one. */
  address?: string;
  /** Skips BLYAN_PASSPHRASE and the prompt, e.g. for a node that already asked. */
  passphrase?: string;
}

/** Finds, loads and decrypts a wallet, for commands that sign blocks. */
export async function unlockWallet(dataDir: string, opts: UnlockOptions = {}): Promise<UnlockedWallet> {
  const wallet = await findWallet(dataDir, opts.address);
  const keystore = await loadKeystoreFile(wallet.file);
  const passphrase =
    opts.passphrase ?? (await getPassphrase({ confirm: false, purpose: `passphrase of wallet ${wallet.address}` }));
  const privateKey = await decryptKeystore(keystore, passphrase);
  const address = addressOf(privateKey);
  // decryptKeystore checks the file's address field; a file without one was listed by its name.
  if (formatAddress(address) !== wallet.address) {
    throw new BlyanError(
      'KEYSTORE_MALFORMED',
      `${wallet.file} is named for ${wallet.address} but holds the key of ${formatAddress(address)}`,
    );
  }
  return { address, privateKey };
}
