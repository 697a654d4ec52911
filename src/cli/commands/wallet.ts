import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Command } from 'commander';
import { LEDGER_URL_OPTION } from './ledger.ts';
import { formatAddress } from '../../chain/address.ts';
import { addressOf, isValidPrivateKey } from '../../chain/sign.ts';
import { BlyanError } from '../../errors.ts';
import { decryptKeystore, encryptKeystore, LIGHT_KDF, STANDARD_KDF } from '../../wallet/keystore.ts';
import { getPassphrase, PASSPHRASE_ENV } from '../../wallet/passphrase.ts';
import {
  assertNoWallet,
  findWallet,
  listWallets,
  loadKeystoreFile,
  saveWallet,
  type WalletEntry,
  writeFileAtomic,
} from '../../wallet/walletStore.ts';
import { balanceAction, sendAction } from '../actions/ledgerActions.ts';
import { resolveDataDir } from '../dataDir.ts';
import { note, printJson, printLine } from '../output.ts';

/**
 * `blyan wallet new|show|import|export|balance|send`. Keys never leave their keystore unencrypted: there is no
 * command that prints or writes a raw private key, and nothing here prints the passphrase.
 */

interface CommonOpts {
  data?: string;
  json?: boolean;
}
interface KdfOpts {
  lightKdf?: boolean;
}

const DATA_HELP = 'data directory (default: $BLYAN_DATA or ~/.blyan)';
const LIGHT_HELP = `cheap scrypt (n=${LIGHT_KDF.n}, like geth --lightkdf): fast, but much easier to brute-force`;
/** A raw key file holds 64 hex digits; a keystore a few hundred bytes. Anything far bigger is neither. */
const MAX_IMPORT_BYTES = 64 * 1024;

export function registerWalletCommands(program: Command): void {
  const wallet = program
    .command('wallet')
    .description('create, list, import and export the keys that sign your blocks')
    .addHelpText(
      'after',
      `\nWallets are Ethereum keystore v3 files in <data>/keystore/.\nPassphrase: $${PASSPHRASE_ENV} if set, else a prompt on the terminal.`,
    );

  wallet
    .command('new')
    .description('create a new key and store it encrypted with a passphrase')
    .option('--data <dir>', DATA_HELP)
    .option('--light-kdf', LIGHT_HELP)
    .option('--json', 'print {address, file} as JSON')
    .action(async (opts: CommonOpts & KdfOpts) => {
      const dataDir = resolveDataDir(opts.data);
      const passphrase = await getPassphrase({ confirm: true, purpose: 'passphrase for the new wallet' });
      const key = secp256k1.utils.randomSecretKey();
      try {
        const entry = await encryptAndSave(dataDir, key, passphrase, opts);
        report(entry, opts.json);
        note('keep the passphrase safe: without it the key cannot be recovered');
      } finally {
        key.fill(0);
      }
    });

  wallet
    .command('show')
    .description('list the wallets (address and keystore file); never decrypts anything')
    .option('--data <dir>', DATA_HELP)
    .option('--address <address>', 'show only this wallet')
    .option('--json', 'print [{address, file}] as JSON')
    .action(async (opts: CommonOpts & { address?: string }) => {
      const dataDir = resolveDataDir(opts.data);
      const wallets = opts.address !== undefined ? [await findWallet(dataDir, opts.address)] : await listWallets(dataDir);
      if (opts.json === true) return printJson(wallets);
      if (wallets.length === 0) note(`no wallets in ${dataDir}: run \`blyan wallet new\``);
      for (const w of wallets) printLine(`${w.address}  ${w.file}`);
    });

  wallet
    .command('import')
    .description('add a key from a keystore v3 JSON file or from a file holding a 0x-hex private key')
    .argument('<file>', 'keystore v3 JSON (kept under its passphrase) or a text file with the hex private key')
    .option('--data <dir>', DATA_HELP)
    .option('--light-kdf', LIGHT_HELP)
    .option('--json', 'print {address, file} as JSON')
    .action(async (file: string, opts: CommonOpts & KdfOpts) => {
      const dataDir = resolveDataDir(opts.data);
      const source = await readImportFile(resolve(file));
      let key: Uint8Array;
      let passphrase: string;
      if (source.kind === 'keystore') {
        const keystore = await loadKeystoreFile(source.path);
        // Cheap check before the expensive decryption, when the file states its address.
        if (keystore.address !== undefined) await assertNoWallet(dataDir, `0x${keystore.address}`);
        passphrase = await getPassphrase({ confirm: false, purpose: 'passphrase of the file being imported' });
        key = await decryptKeystore(keystore, passphrase);
      } else {
        key = source.key;
        await assertNoWallet(dataDir, formatAddress(addressOf(key)));
        passphrase = await getPassphrase({ confirm: true, purpose: 'passphrase for the imported wallet' });
      }
      try {
        const entry = await encryptAndSave(dataDir, key, passphrase, opts);
        report(entry, opts.json);
      } finally {
        key.fill(0);
      }
    });

  wallet
    .command('export')
    .description('print (or write with --out) a wallet as keystore v3 JSON, still encrypted')
    .option('--data <dir>', DATA_HELP)
    .option('--address <address>', 'which wallet (needed when there are several)')
    .option('--out <file>', 'write the keystore to FILE (mode 0600; must not exist) instead of stdout')
    .option('--json', 'with --out, print {address, file} as JSON')
    .action(async (opts: CommonOpts & { address?: string; out?: string }) => {
      const dataDir = resolveDataDir(opts.data);
      const entry = await findWallet(dataDir, opts.address);
      const text = `${JSON.stringify(await loadKeystoreFile(entry.file), null, 2)}\n`;
      if (opts.out === undefined) {
        process.stdout.write(text);
        return;
      }
      const out = resolve(opts.out);
      await writeFileAtomic(out, text);
      report({ address: entry.address, file: out }, opts.json);
    });

  wallet
    .command('balance')
    .description('BLY balance, stake and nonce of an address on the local ledger (chain C)')
    .argument('[address]', '0x address (default: the only wallet in the data dir)')
    .option('--data <dir>', DATA_HELP)
    .option(...LEDGER_URL_OPTION)
    .option('--json', 'print {address, balance, stake, nonce, …} as JSON')
    .action(async (address: string | undefined, opts: CommonOpts & { ledgerUrl?: string }) => {
      const b = await balanceAction(resolveDataDir(opts.data), address, opts.ledgerUrl);
      if (opts.json === true) return printJson(b);
      printLine(`${b.address}  ${b.balance} BLY  (staked ${b.stake}, nonce ${b.nonce}, trust ${b.trustLevel})`);
    });

  wallet
    .command('send')
    .description("sign a BLY transfer (EIP-712) and commit it: through the data dir's running node if there is one, else to its own ledger (refused on a follower's data dir whose node is down)")
    .argument('<to>', '0x address')
    .argument('<amount>', 'BLY, a decimal such as 10 or 0.25 (at most 18 decimals)')
    .option('--address <address>', 'the sending wallet (needed when there are several)')
    .option('--data <dir>', DATA_HELP)
    .option(...LEDGER_URL_OPTION)
    .option('--json', 'print the receipt as JSON')
    .action(async (to: string, amount: string, opts: CommonOpts & { address?: string; ledgerUrl?: string }) => {
      const r = await sendAction(resolveDataDir(opts.data), to, amount, opts.address, opts.ledgerUrl);
      if (opts.json === true) return printJson(r);
      printLine(`sent ${r.amount} BLY to ${r.to} in block C:${r.block} (tx ${r.txId})`);
    });
}

async function encryptAndSave(
  dataDir: string,
  key: Uint8Array,
  passphrase: string,
  opts: KdfOpts,
): Promise<WalletEntry> {
  // Fail before the seconds of scrypt, not after.
  await assertNoWallet(dataDir, formatAddress(addressOf(key)));
  const kdf = opts.lightKdf === true ? LIGHT_KDF : STANDARD_KDF;
  if (opts.lightKdf !== true) note(`encrypting with scrypt (n=${kdf.n}); this takes a few seconds…`);
  const keystore = await encryptKeystore(key, passphrase, { ...kdf });
  return saveWallet(dataDir, keystore);
}

function report(entry: WalletEntry, json: boolean | undefined): void {
  if (json === true) printJson(entry);
  else printLine(`${entry.address}  ${entry.file}`);
}

type ImportSource = { kind: 'keystore'; path: string } | { kind: 'raw'; key: Uint8Array };

/** Tells a keystore from a raw hex key by content. Never echoes the content: it may be a secret. */
async function readImportFile(path: string): Promise<ImportSource> {
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new BlyanError('BAD_ARGUMENT', `${path} is not a file`);
    if (info.size > MAX_IMPORT_BYTES) throw new BlyanError('BAD_ARGUMENT', `${path} is too big to be a key file`);
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if (err instanceof BlyanError) throw err;
    throw new BlyanError('IO_ERROR', `cannot read ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
  if (text.startsWith('{')) return { kind: 'keystore', path };
  if (/^(0x)?[0-9a-fA-F]{64}$/.test(text)) {
    const key = new Uint8Array(Buffer.from(text.replace(/^0x/, ''), 'hex'));
    if (!isValidPrivateKey(key)) throw new BlyanError('KEY_INVALID', `${path} does not hold a valid secp256k1 private key`);
    return { kind: 'raw', key };
  }
  throw new BlyanError(
    'BAD_ARGUMENT',
    `${path} is neither a keystore v3 JSON file nor a file holding a hex private key (64 hex digits, 0x optional)`,
  );
}
