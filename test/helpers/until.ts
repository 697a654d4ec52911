/**
 * Polls `fn` until `ok` holds for its value, and returns that value; after `ms` it fails with what it last
 * saw, so a test that waits for another process says what it was waiting for.
 */
export async function until<T>(what: string, fn: () => T | Promise<T>, ok: (v: T) => boolean, ms = 60_000, stepMs = 200): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
