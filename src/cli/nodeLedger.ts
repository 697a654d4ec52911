import { z } from 'zod';
import { parseAddress } from '../chain/address.ts';
import type { TxReceipt } from '../ledger/ledgerStore.ts';
import { type Hex20, hexAddress } from '../ledger/systemAccounts.ts';
import { ledgerDomain, type AnyTx } from '../ledger/tx.ts';
import type { Eip712Domain } from '../ledger/eip712.ts';
import { txToJson } from '../ledger/txCodec.ts';
import { type Hex32, isTxKind } from '../ledger/txTypes.ts';
import { callNode } from './nodeClient.ts';

/**
 * The ledger of the node running on a data dir, through its API (src/api/routes/ledger.ts, wallet.ts): what a
 * CLI command needs to sign a transaction there (the domain, the signer's next nonce in the node's view) and
 * to submit it. The node answers once a chain-C block holds the transaction (on a follower: the producer's
 * block, docs/ledger.md §9.4), with the receipt.
 */

const Address = z.string().transform((s, ctx): Hex20 => {
  try {
    return hexAddress(parseAddress(s));
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const Units = z.string().regex(/^\d{1,80}$/, 'must be a decimal count of base units').transform(BigInt);

const Eip712Answer = z.object({ domain: z.object({ chainId: z.number().int().nonnegative() }) });
const NonceAnswer = z.object({ nonce: Units });
const ReceiptAnswer = z.object({
  txId: z.custom<Hex32>((v) => typeof v === 'string' && /^0x[0-9a-f]{64}$/.test(v), 'must be a 0x-hex transaction id'),
  kind: z.string().refine(isTxKind, 'not a transaction kind'),
  from: Address,
  block: z.number().int().nonnegative(),
  blockId: z.string().regex(/^[0-9a-f]{64}$/),
  index: z.number().int().nonnegative(),
});

/** What a command needs to sign and commit a transaction: the node's ledger (below) or the data dir's own. */
export interface TxChannel {
  /** The EIP-712 domain signatures are checked against (the network's chain id). */
  domain(): Promise<Eip712Domain>;
  /** The smallest nonce the account's next transaction may use. */
  nonce(address: Hex20): Promise<bigint>;
  /** Resolves with the receipt once a chain-C block holds the transaction; a refusal is thrown typed. */
  submit(tx: AnyTx, idempotencyKey?: string): Promise<TxReceipt>;
}

export class NodeLedger implements TxChannel {
  constructor(readonly url: string) {}

  /** The EIP-712 domain the node checks signatures against (its network's chain id). */
  async domain(): Promise<Eip712Domain> {
    const a = await callNode(this.url, { method: 'GET', path: '/wallet/eip712' }, Eip712Answer);
    return ledgerDomain(a.domain.chainId);
  }

  /** The smallest nonce the account's next transaction may use, as the node sees it. */
  async nonce(address: Hex20): Promise<bigint> {
    return (await callNode(this.url, { method: 'GET', path: `/wallet/nonce/${address}` }, NonceAnswer)).nonce;
  }

  /** POST /tx: resolves with the receipt once a chain-C block holds the transaction; the node's refusal is thrown typed. */
  async submit(tx: AnyTx, idempotencyKey?: string): Promise<TxReceipt> {
    const json = txToJson(tx);
    return callNode(
      this.url,
      {
        method: 'POST',
        path: '/tx',
        body: { type: json.primaryType, message: json.message, signature: json.signature, domain: json.domain },
        ...(idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': idempotencyKey } }),
      },
      ReceiptAnswer,
    );
  }
}
