import type { Account } from '../ledger/state.ts';
import type { Hex20 } from '../ledger/systemAccounts.ts';

/**
 * Hands out ledger nonces for the keys this node signs with. The ledger only requires each nonce to be at
 * least the account's next one (rule T4), and the ledger queue applies transactions in submission order,
 * so taking max(committed next, last handed out + 1) at signing time keeps concurrent submissions valid.
 */
export class NonceBook {
  private readonly next = new Map<Hex20, bigint>();

  constructor(private readonly account: (addr: Hex20) => Promise<Account | undefined>) {}

  async take(addr: Hex20): Promise<bigint> {
    const committed = (await this.account(addr))?.nonce ?? 0n;
    // From here on synchronous: concurrent takes cannot hand out the same nonce.
    const local = this.next.get(addr) ?? 0n;
    const n = committed > local ? committed : local;
    this.next.set(addr, n + 1n);
    return n;
  }
}
