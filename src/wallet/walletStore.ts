import { chmod, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { formatAddress, parseAddress } from '../chain/address.ts';
import { toHex } from '../chain/hash.ts';
import { BlyanError } from '../errors.ts';
import { type KeystoreV3, parseKeystore } from './keystore.ts';

/**
 * Wallets are keystore v3 files in `<dataDir>/keystore/`, named as geth names them
 * (`UTC--<time>--<address>`, plus `.json`), so the folder can be shared with geth-style tools.
 * The folder is 0700 and each file 0600: the files are encrypted, but a copy still lets anyone
 * run an offline guessing attack on the passphrase.
 */
export interface WalletEntry {
  /** EIP-55 checksummed address. */
  address: string;
  /** Absolute path of the keystore file. */
  file: string;
}

/** A keystore file is a few hundred bytes; refuse to read anything huge that was dropped there. */
const MAX_KEYSTORE_FILE_BYTES = 64 * 1024;
const GETH_NAME = /^UTC--.+--([0-9a-fA-F]{40})(\.json)?$/;

export function keystoreDir(dataDir: string): string {
  return join(dataDir, 'keystore');
}

/** Reads and validates one keystore file (shape and algorithms only; nothing is decrypted). */
export async function loadKeystoreFile(path: string): Promise<KeystoreV3> {
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new BlyanError('BAD_ARGUMENT', `${path} is not a file`);
    if (info.size > MAX_KEYSTORE_FILE_BYTES) {
      throw new BlyanError('KEYSTORE_MALFORMED', `${path} is ${info.size} bytes: too big for a keystore`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof BlyanError) throw err;
    throw new BlyanError('IO_ERROR', `cannot read ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  try {
    return parseKeystore(text);
  } catch (err) {
    if (err instanceof BlyanError) {
      throw new BlyanError(err.code, `${path}: ${err.message}`, { ...err.data, path }, { cause: err });
    }
    throw err;
  }
}

/**
 * Every keystore in the folder, oldest file name first. The address comes from the file's own
 * `address` field, else from a geth-style name; files that are neither are skipped.
 */
export async function listWallets(dataDir: string): Promise<WalletEntry[]> {
  const dir = keystoreDir(dataDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BlyanError('IO_ERROR', `cannot read ${dir}: ${(err as Error).message}`, { dir }, { cause: err });
  }
  const out: WalletEntry[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue; // our temporary files, editors' swap files
    const file = join(dir, name);
    let address: string | undefined;
    try {
      address = (await loadKeystoreFile(file)).address;
    } catch {
      continue; // not a keystore we can use; `wallet show` is no place to fail on a stray file
    }
    address ??= GETH_NAME.exec(name)?.[1]?.toLowerCase();
    if (address === undefined) continue;
    out.push({ address: formatAddress(new Uint8Array(Buffer.from(address, 'hex'))), file });
  }
  return out;
}

/** The wallet to use: the one with `address`, or the only one when no address is given. */
export async function findWallet(dataDir: string, address?: string): Promise<WalletEntry> {
  const wallets = await listWallets(dataDir);
  const dir = keystoreDir(dataDir);
  if (address !== undefined) {
    const wanted = formatAddress(parseAddress(address));
    const hit = wallets.find((w) => w.address === wanted);
    if (hit !== undefined) return hit;
    throw new BlyanError(
      'WALLET_NOT_FOUND',
      `no wallet for ${wanted} in ${dir}: \`blyan wallet show\` lists the wallets there, \`blyan wallet import FILE\` adds one`,
      { address: wanted, dir },
    );
  }
  const [only, ...rest] = wallets;
  if (only === undefined) {
    throw new BlyanError('WALLET_NOT_FOUND', `no wallet in ${dir}: run \`blyan wallet new\` (or \`blyan wallet import FILE\`)`, {
      dir,
    });
  }
  if (rest.length > 0) {
    throw new BlyanError(
      'WALLET_NOT_FOUND',
      `several wallets (${wallets.length}) in ${dir}: pass --address (see \`blyan wallet show\`)`,
      { dir, count: wallets.length },
    );
  }
  return only;
}

/** geth's file name: `UTC--2024-01-02T03-04-05.678Z--<address>` (colons are not portable). */
function fileNameFor(addressHex: string, now: Date): string {
  return `UTC--${now.toISOString().replace(/:/g, '-')}--${addressHex}.json`;
}

/** Creates the keystore folder with mode 0700 (and tightens it if it already exists). */
export async function ensureKeystoreDir(dataDir: string): Promise<string> {
  const dir = keystoreDir(dataDir);
  await mkdir(dataDir, { recursive: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  return dir;
}

/**
 * Writes `text` to `path` with mode 0600 so that a crash leaves either no file or the whole file:
 * temporary file in the same folder (same file system, so rename is atomic), fsync, rename.
 * Fails with BAD_ARGUMENT if `path` exists, unless `overwrite`.
 */
export async function writeFileAtomic(path: string, text: string, overwrite = false): Promise<void> {
  if (!overwrite) {
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (exists) throw new BlyanError('BAD_ARGUMENT', `${path} already exists: remove it or choose another name`, { path });
  }
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(tmp, path);
  // The rename itself is only durable once the folder is synced; not every platform allows it.
  const dirHandle = await open(dir, 'r').catch(() => undefined);
  await dirHandle?.sync().catch(() => undefined);
  await dirHandle?.close();
}

/** Stores a keystore that states its address; WALLET_EXISTS if that address already has a file. */
export async function saveWallet(dataDir: string, keystore: KeystoreV3): Promise<WalletEntry> {
  if (keystore.address === undefined) {
    throw new BlyanError('KEYSTORE_MALFORMED', 'a keystore must state its address to be saved as a wallet');
  }
  const addressHex = toHex(parseAddress(`0x${keystore.address}`));
  const address = formatAddress(parseAddress(`0x${addressHex}`));
  await assertNoWallet(dataDir, address);
  const dir = await ensureKeystoreDir(dataDir);
  const file = join(dir, fileNameFor(addressHex, new Date()));
  await writeFileAtomic(file, `${JSON.stringify(keystore, null, 2)}\n`);
  return { address, file };
}

/** WALLET_EXISTS if `address` already has a keystore here; cheap, so callers check before scrypt. */
export async function assertNoWallet(dataDir: string, address: string): Promise<void> {
  const existing = (await listWallets(dataDir)).find((w) => w.address.toLowerCase() === address.toLowerCase());
  if (existing !== undefined) {
    throw new BlyanError('WALLET_EXISTS', `a wallet for ${existing.address} already exists: ${existing.file}`, {
      address: existing.address,
      file: existing.file,
    });
  }
}
