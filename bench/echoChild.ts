// Child of distributed.bench.ts: the floor under a remote expert hop. Serves `/blyan-bench/echo/1` as an expert
// RPC session (rpcSession.ts, on the node's own libp2p stack: TCP + Noise + Yamux) and a plain TCP socket, both
// answering every message with itself; prints {addr, port} on stdout. The parent times round trips on both.
import '../src/p2p/polyfill.ts';
import { createServer } from 'node:net';
import { serveSession } from '../src/p2p/protocols/rpcSession.ts';
import { loopbackHost } from '../test/p2p/fixture.ts';

export const ECHO_PROTOCOL = '/blyan-bench/echo/1';
export const ECHO_LIMITS = { requestBytes: 1 << 20, responseBytes: 1 << 20 };

if (import.meta.url === `file://${process.argv[1]}`) {
  const host = await loopbackHost();
  await host.handle(ECHO_PROTOCOL, serveSession({ protocol: ECHO_PROTOCOL, limits: ECHO_LIMITS, timeoutMs: 10_000, idleMs: 60_000, handle: (req) => [req], onPeerError: () => {} }));
  await host.start();
  const tcp = createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  tcp.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ addr: host.getMultiaddrs()[0]?.toString(), port: (tcp.address() as { port: number }).port })}\n`);
  });
}
