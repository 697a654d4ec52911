import { createInterface } from 'node:readline/promises';
import { generate } from '../../engine/generate.ts';
import { Sampler } from '../../engine/sampler.ts';
import { loadTokenizer, type TextCodec } from '../../engine/tokenizer.ts';
import { isBlyanError } from '../../errors.ts';
import { type EngineOptions, openEngine, parseIds, parsePositiveInt } from '../engineContext.ts';
import { formatError, note } from '../output.ts';
import { type SamplingFlags, samplingFrom } from '../samplingFlags.ts';


/** `blyan chat`: loaded only when the command runs. */
export async function chatAction(opts: EngineOptions & SamplingFlags & { maxNewTokens: string }): Promise<void> {
    const maxNew = parsePositiveInt(opts.maxNewTokens, '--max-new-tokens', 128);
    const sampling = samplingFrom(opts.greedy === true || opts.temperature !== undefined ? opts : { ...opts, temperature: '0.8', topP: '0.95' });
    const ctx = await openEngine(opts);
    let tokenizer: TextCodec | null = null;
    try {
      tokenizer = await loadTokenizer(ctx.store, ctx.entry);
    } catch (err) {
      if (!isBlyanError(err, 'ENGINE_BAD_INPUT')) throw err;
    }
    const eos = ctx.entry.meta.config.eosTokenIds;
    note(`chatting with ${ctx.entry.meta.name} (${ctx.entry.idHex.slice(0, 16)}…)${tokenizer === null ? ': no tokenizer, type token ids like 1,42,7' : ''}; /reset, /quit`);
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
    let session = ctx.model.newSession();
    const sampler = new Sampler(sampling);
    try {
      for (;;) {
        let line: string;
        try {
          line = await rl.question('> ');
        } catch {
          break; // end of input
        }
        const text = line.trim();
        if (text === '/quit' || text === '/exit') break;
        if (text === '/reset') {
          session = ctx.model.newSession();
          note('(context cleared)');
          continue;
        }
        if (text === '') continue;
        try {
          const prompt = tokenizer === null ? parseIds(text) : tokenizer.encode(`${text}\n`);
          const produced: number[] = [];
          let printed = '';
          const r = await generate(session, prompt, sampler, {
            maxNewTokens: maxNew,
            stop: eos,
            onToken: (id) => {
              produced.push(id);
              if (tokenizer === null) process.stdout.write(`${produced.length > 1 ? ',' : ''}${id}`);
              else {
                // Decode the whole answer so far: multi-byte characters may span tokens.
                const full = tokenizer.decode(produced);
                process.stdout.write(full.slice(printed.length));
                printed = full;
              }
              return undefined;
            },
          });
          process.stdout.write('\n');
          note(`(${r.ids.length} tokens, ${(r.ids.length / (r.decodeMs / 1000)).toFixed(1)} tok/s)`);
        } catch (err) {
          note(formatError(err));
          if (isBlyanError(err, 'ENGINE_CONTEXT_OVERFLOW')) {
            session = ctx.model.newSession();
            note('(context was full and has been cleared)');
          }
        }
      }
    } finally {
      rl.close();
      await ctx.close();
    }
}
