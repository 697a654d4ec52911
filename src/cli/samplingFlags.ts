import type { Command } from 'commander';
import type { SamplingOptions } from '../engine/sampler.ts';
import { BlyanError } from '../errors.ts';

function parseFloatOpt(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new BlyanError('BAD_ARGUMENT', `${what} must be a number, got "${text}"`);
  return n;
}

export interface SamplingFlags {
  greedy?: boolean;
  temperature?: string;
  topK?: string;
  topP?: string;
  repetitionPenalty?: string;
  seed?: string;
}

export function samplingFrom(o: SamplingFlags): SamplingOptions {
  const s: { -readonly [K in keyof SamplingOptions]: SamplingOptions[K] } = {};
  if (o.greedy === true) s.greedy = true;
  const t = parseFloatOpt(o.temperature, '--temperature');
  if (t !== undefined) s.temperature = t;
  const k = parseFloatOpt(o.topK, '--top-k');
  if (k !== undefined) s.topK = k;
  const p = parseFloatOpt(o.topP, '--top-p');
  if (p !== undefined) s.topP = p;
  const r = parseFloatOpt(o.repetitionPenalty, '--repetition-penalty');
  if (r !== undefined) s.repetitionPenalty = r;
  const seed = parseFloatOpt(o.seed, '--seed');
  if (seed !== undefined) s.seed = seed;
  return s;
}

export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option('--greedy', 'always take the most likely token')
    .option('--temperature <t>', 'sampling temperature (default 1)')
    .option('--top-k <k>', 'sample among the k most likely tokens')
    .option('--top-p <p>', 'nucleus sampling threshold')
    .option('--repetition-penalty <r>', 'penalise tokens already in the context (> 1)')
    .option('--seed <n>', 'random seed (default 0)');
}

