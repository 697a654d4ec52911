import { BlyanError } from '../errors.ts';

/**
 * Where a passphrase comes from, in order: BLYAN_PASSPHRASE, then a prompt on the terminal.
 * With neither (a script, CI, a pipe) we fail rather than block on a stdin nobody will type into.
 * The passphrase is never echoed, printed or put in an error message.
 */
export interface PassphraseRequest {
  /** Ask twice and require both to match: for a passphrase that will protect a new file. */
  confirm: boolean;
  /** Shown as the prompt, e.g. "passphrase of the file being imported". */
  purpose: string;
}

export const PASSPHRASE_ENV = 'BLYAN_PASSPHRASE';

export async function getPassphrase(req: PassphraseRequest): Promise<string> {
  const fromEnv = process.env[PASSPHRASE_ENV];
  // An empty variable is treated as unset: `export BLYAN_PASSPHRASE=` is far more often a mistake
  // than a wish to protect a key with nothing.
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY !== true) {
    throw new BlyanError(
      'PASSPHRASE_REQUIRED',
      `a passphrase is needed (${req.purpose}): set ${PASSPHRASE_ENV} or run in a terminal`,
    );
  }
  const first = await promptHidden(`${capitalise(req.purpose)}: `);
  if (!req.confirm) return first;
  if (first === '') throw new BlyanError('BAD_ARGUMENT', 'an empty passphrase would not protect the key');
  const second = await promptHidden('Repeat it: ');
  if (first !== second) throw new BlyanError('BAD_ARGUMENT', 'the two passphrases do not match');
  return first;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Reads one line from the TTY in raw mode, so nothing typed is echoed. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let chars: string[] = [];
    const finish = (err: BlyanError | undefined): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err === undefined) resolve(chars.join(''));
      else reject(err);
      chars = [];
    };
    const onData = (chunk: string): void => {
      // Escape sequences (arrow keys, function keys) carry no passphrase characters.
      if (chunk.startsWith('\u001b')) return;
      // A paste arrives as one chunk, so walk it code point by code point.
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish(undefined);
          return;
        }
        if (ch === '\u0003') {
          finish(new BlyanError('PASSPHRASE_REQUIRED', 'passphrase entry cancelled (Ctrl-C)'));
          return;
        }
        if (ch === '\u0004') {
          finish(chars.length === 0 ? new BlyanError('PASSPHRASE_REQUIRED', 'passphrase entry cancelled (Ctrl-D)') : undefined);
          return;
        }
        if (ch === '\u007f' || ch === '\b') chars.pop();
        else if (ch === '\u0015') chars = []; // Ctrl-U: clear the line
        else if (ch >= ' ') chars.push(ch);
      }
    };
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
