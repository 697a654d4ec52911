/**
 * An insertion-ordered set of at most `max` strings: adding a new one beyond that forgets the oldest. For "seen
 * recently" ids (gossiped transactions, a mempool's included ids), where memory must stay bounded whatever peers
 * send and forgetting the oldest is safe.
 */
export class BoundedSet {
  private readonly set = new Set<string>();
  constructor(private readonly max: number) {}

  has(k: string): boolean {
    return this.set.has(k);
  }

  add(k: string): void {
    if (this.set.has(k)) return;
    if (this.set.size >= this.max) this.set.delete(this.set.values().next().value as string);
    this.set.add(k);
  }
}
