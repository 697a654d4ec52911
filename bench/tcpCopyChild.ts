// Child of p2p.bench.ts: the raw-TCP baseline. `serve DIR` sends every payload of the store at DIR over one
// plain TCP connection (read from LMDB as the p2p seed does) and prints its port; `fetch PORT` receives,
// counts the bytes and prints {bytes, seconds}.
import { createConnection, createServer } from 'node:net';
import { TINY } from '../src/chain/presets.ts';
import { BlockStore } from '../src/chain/store.ts';

const [mode, arg] = process.argv.slice(2);
if (mode === 'serve') {
  const store = BlockStore.open(arg as string, TINY);
  const hashes: Uint8Array[] = [];
  for (const { block } of store.iterate('B')) if (block.header.payloadSize > 0) hashes.push(block.header.payloadHash);
  const server = createServer((sock) => {
    void (async () => {
      for (const h of hashes) {
        const p = store.getPayload(h) as Uint8Array;
        if (!sock.write(p)) await new Promise((r) => sock.once('drain', r));
      }
      sock.end();
    })();
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a !== null ? a.port : 0 })}\n`);
  });
} else {
  const t0 = performance.now();
  let bytes = 0;
  const sock = createConnection({ host: '127.0.0.1', port: Number(arg) });
  sock.on('data', (c: Buffer) => {
    bytes += c.byteLength;
  });
  sock.on('end', () => {
    process.stdout.write(`${JSON.stringify({ bytes, seconds: (performance.now() - t0) / 1000 })}\n`);
    process.exit(0);
  });
}
