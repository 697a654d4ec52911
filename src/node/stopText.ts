/**
 * Stop strings over a growing text: `feed` returns the part that is safe to emit (it cannot be the start
 * of a stop string) and says when a stop string was completed; the stop string itself is never emitted.
 */
export class StopText {
  private text = '';
  private emitted = 0;
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** `full` is the whole answer so far. */
  feed(full: string): string {
    if (this.stopped) return '';
    this.text = full;
    let end = full.length;
    for (const s of this.stops) {
      const at = full.indexOf(s, Math.max(0, this.emitted - s.length + 1));
      if (at >= 0 && at < end) {
        end = at;
        this.stopped = true;
      }
    }
    if (!this.stopped) {
      // Hold back a tail that could still grow into a stop string.
      for (const s of this.stops) {
        for (let k = Math.min(s.length - 1, full.length); k > 0; k--) {
          if (full.endsWith(s.slice(0, k))) {
            end = Math.min(end, full.length - k);
            break;
          }
        }
      }
    }
    const out = full.slice(this.emitted, Math.max(this.emitted, end));
    this.emitted = Math.max(this.emitted, end);
    return out;
  }

  /** The rest once generation ended without a stop string. */
  flush(): string {
    if (this.stopped) return '';
    const out = this.text.slice(this.emitted);
    this.emitted = this.text.length;
    return out;
  }

  /** The answer as emitted. */
  get result(): string {
    return this.text.slice(0, this.emitted);
  }
}
