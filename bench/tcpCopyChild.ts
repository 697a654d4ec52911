// Child of p2p.bench.ts: the raw-TCP baseline, "a raw TCP copy of the same bytes". `serve DIR` first reads
// every payload of the store at DIR into memory of its own (untimed), then, once a connection comes, writes
// them over that one plain TCP socket; it prints its port. `fetch PORT` receives, counts the bytes and prints
// {bytes, seconds, cpuSeconds}. Only the socket copy is timed: no store read, encryption, hashing or disk
// write (docs/sync-protocol.md §11).
import { createConnection, createServer } from 'node:net';
import { TINY } from '../src/chain/presets.ts';
import { BlockStore } from '../src/chain/store.ts';

const [mode, arg] = process.argv.slice(2);
if (mode === 'serve') {
  const store = BlockStore.open(arg as string, TINY);
  const payloads: Buffer[] = [];
  for (const { block } of store.iterate('B')) {
    if (block.header.payloadSize === 0) continue;
    store.withPayloadView(block.header.payloadHash, (view) => payloads.push(Buffer.from(view)));
  }
  store.closeSync();
  const server = createServer((sock) => {
    void (async () => {
      for (const p of payloads) if (!sock.write(p)) await new Promise((r) => sock.once('drain', r));
      sock.end();
    })();
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a !== null ? a.port : 0 })}\n`);
  });
} else {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  let bytes = 0;
  const sock = createConnection({ host: '127.0.0.1', port: Number(arg) });
  sock.on('data', (c: Buffer) => {
    bytes += c.byteLength;
  });
  sock.on('end', () => {
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(`${JSON.stringify({ bytes, seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, minorFaults: process.resourceUsage().minorPageFault - faults0 })}\n`);
    process.exit(0);
  });
}
