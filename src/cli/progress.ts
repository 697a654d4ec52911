import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A progress bar on stderr for long work. It stays silent when stderr is not a terminal or when the
 * output is JSON, so scripts and CI logs get no control characters.
 */
export function progressBar(label: string, total: number, opts: { quiet?: boolean; unit?: string } = {}): Progress {
  if (opts.quiet === true || !process.stderr.isTTY || total <= 0) {
    return { update() {}, stop() {} };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${opts.unit ?? ''} | {eta_formatted} left`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update(done, extra) {
      bar.update(done, extra);
    },
    stop() {
      bar.stop();
    },
  };
}
