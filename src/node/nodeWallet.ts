import { BlyanError, isBlyanError } from '../errors.ts';
import { PASSPHRASE_ENV } from '../wallet/passphrase.ts';
import { type UnlockedWallet, unlockWallet } from '../wallet/signer.ts';

/**
 * The node's signing key for the blocks it makes on request (datasets, mined deltas): a wallet of the data
 * dir, unlocked with BLYAN_PASSPHRASE from the node's environment. A node never prompts (nobody is at its
 * terminal to answer), so a missing wallet or passphrase is an error that says how to fix the node.
 * Unlocked keys are kept in memory: scrypt takes a second or more, too long to pay per request.
 */
export class NodeWallet {
  private readonly unlocked = new Map<string, { passphrase: string; wallet: Promise<UnlockedWallet> }>();

  constructor(
    private readonly dataDir: string,
    private readonly passphrase: () => string | undefined = () => process.env[PASSPHRASE_ENV],
  ) {}

  /** The wallet with `address`, or the only one of the data dir. */
  async unlock(address?: string): Promise<UnlockedWallet> {
    const passphrase = this.passphrase();
    if (passphrase === undefined || passphrase === '') {
      throw new BlyanError('PASSPHRASE_REQUIRED', `the node needs its wallet to sign blocks: set ${PASSPHRASE_ENV} in the node's environment and restart it`);
    }
    const key = address?.toLowerCase() ?? '';
    const cached = this.unlocked.get(key);
    if (cached !== undefined && cached.passphrase === passphrase) return cached.wallet;
    const wallet = unlockWallet(this.dataDir, { passphrase, ...(address === undefined ? {} : { address }) }).catch((err: unknown) => {
      this.unlocked.delete(key);
      throw explain(err, this.dataDir);
    });
    this.unlocked.set(key, { passphrase, wallet });
    return wallet;
  }
}

/** Wallet errors as a node operator needs them: what to run, with which data dir. */
function explain(err: unknown, dataDir: string): unknown {
  if (isBlyanError(err, 'WALLET_NOT_FOUND') && typeof err.data['count'] === 'number') {
    return new BlyanError('BAD_ARGUMENT', `the node's data dir holds ${err.data['count']} wallets: name the one to sign with as "wallet": "0x…" in the request`);
  }
  if (isBlyanError(err, 'WALLET_NOT_FOUND')) {
    return new BlyanError('NODE_NO_WALLET', `${err.message}; the node signs with a wallet of ${dataDir} (\`blyan wallet new --data ${dataDir}\`)`, err.data);
  }
  if (isBlyanError(err, 'KEYSTORE_BAD_PASSPHRASE')) {
    return new BlyanError('NODE_NO_WALLET', `${PASSPHRASE_ENV} does not unlock the node's wallet: set the right passphrase and restart the node`);
  }
  return err;
}
