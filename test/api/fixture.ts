import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { CharVocab } from '../../src/learning/charVocab.ts';
import { exportCharMoeCheckpoint } from '../../src/learning/checkpointExport.ts';
import { createParams, initParams } from '../../src/learning/params.ts';
import { loadNodeConfig } from '../../src/node/config.ts';
import { BlyanNode } from '../../src/node/node.ts';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';

const ENV = { BLYAN_PASSPHRASE: 'api-test-passphrase' };
export const TEXT = 'To be, or not to be, that is the question:\nWhether tis nobler in the mind to suffer\n';

/**
 * A `tiny` data dir holding a small untrained char-level MoE (2 layers × 4 experts, 64 positions unless
 * told otherwise: long answers make cancellation observable)
 * with its tokenizer, imported through the real CLI as a user would.
 */
export function tinyDataDir(opts: { maxPositions?: number } = {}): { data: string; cleanup: () => void } {
  const t = tempDir('blyan-api-');
  const data = join(t.dir, 'data');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  const w = blyan(['wallet', 'new', '--light-kdf', '--data', data], ENV);
  if (w.code !== 0) throw new Error(w.stderr);
  const vocab = CharVocab.fromText(TEXT);
  const params = createParams({ vocab: vocab.size, dModel: 32, layers: 2, heads: 2, headDim: 16, experts: 4, topK: 2, hidden: 48, context: 32, ropeTheta: 10000, eps: 1e-5, auxCoef: 0.01 });
  initParams(params, 3);
  const ckpt = join(t.dir, 'ckpt');
  exportCharMoeCheckpoint(params, ckpt, { vocab, maxPositions: opts.maxPositions ?? 64 });
  blyanJson(['import', ckpt, '--name', 'tiny-char', '--data', data], ENV);
  return { data, cleanup: t.cleanup };
}

/** The node in this process on a free loopback port. */
export async function startNode(data: string, extra: Record<string, string> = {}): Promise<BlyanNode> {
  return BlyanNode.start(loadNodeConfig({ data, port: '0', host: '127.0.0.1' }, extra));
}

/** What `blyan up --json` prints once it serves. */
export interface UpInfo {
  readonly url: string;
  readonly role: string;
  readonly ledger: string;
  readonly p2p: { readonly peerId: string; readonly multiaddrs: string[] } | null;
}

/** `blyan up` as its own process on a free loopback port, as a user runs it; `args` adds flags (e.g. --bootstrap). */
export async function startNodeProcess(data: string, env: Record<string, string> = {}, args: string[] = []): Promise<{ url: string; info: UpInfo; stop: () => Promise<number | null> }> {
  const bin = join(import.meta.dirname, '../../bin/blyan.js');
  const child = spawn(process.execPath, [bin, 'up', '--data', data, '--port', '0', '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...ENV, ...env } });
  let out = '';
  child.stdout.setEncoding('utf8');
  const info = await new Promise<UpInfo>((ok, fail) => {
    child.stdout.on('data', (s: string) => {
      out += s;
      try {
        ok(JSON.parse(out) as UpInfo);
      } catch {
        // not the whole JSON yet
      }
    });
    child.once('exit', (code) => fail(new Error(`blyan up exited early (${code})`)));
  });
  const url = info.url;
  return {
    url,
    info,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
