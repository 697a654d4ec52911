import { NodeError } from './nodeError.ts';

/** Runs tasks one at a time, in arrival order, with a bounded wait queue (503 beyond it). */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly maxWaiting: number) {}

  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.waiting > this.maxWaiting) throw new NodeError('NODE_BUSY', `the engine is busy with ${this.waiting} requests; try again shortly`);
    this.waiting++;
    const result = this.tail.then(
      () => {
        this.waiting--;
        return task();
      },
      () => {
        this.waiting--;
        return task();
      },
    );
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every queued task has finished. */
  async drain(): Promise<void> {
    await this.tail;
  }
}
