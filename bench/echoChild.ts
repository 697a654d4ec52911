// Child of distributed.bench.ts: the floor under a remote expert hop. Serves `/blyan-bench/echo/1` as an expert
// RPC session (rpcSession.ts) on the node's own libp2p stack (TCP + Noise + Yamux) and on the direct channel
// (sealed records over TCP), and a plain TCP socket, all answering every message with itself; prints {addr, port}
// on stdout. The parent times round trips on each.
import '../src/p2p/polyfill.ts';
import { createServer } from 'node:net';
import { DirectServer } from '../src/p2p/direct/directServer.ts';
import { DIRECT_LIMITS, DIRECT_PROTOCOL, decodeDirectRequest, encodeDirectTicket } from '../src/p2p/protocols/direct.ts';
import { RpcError, serveRpc } from '../src/p2p/protocols/rpc.ts';
import { type SessionServeOptions, serveSession, serveSessionStream } from '../src/p2p/protocols/rpcSession.ts';
import { loopbackHost } from '../test/p2p/fixture.ts';

export const ECHO_PROTOCOL = '/blyan-bench/echo/1';
export const ECHO_LIMITS = { requestBytes: 1 << 20, responseBytes: 1 << 20 };

if (import.meta.url === `file://${process.argv[1]}`) {
  const host = await loopbackHost();
  const echo: SessionServeOptions = { protocol: ECHO_PROTOCOL, limits: ECHO_LIMITS, timeoutMs: 10_000, idleMs: 60_000, handle: (req) => [req], onPeerError: () => {} };
  await host.handle(ECHO_PROTOCOL, serveSession(echo));
  // The same session on the direct channel (docs/expert-rpc.md §2.1), as a node offers it.
  const direct = new DirectServer({
    host: '127.0.0.1',
    port: 0,
    handleTile: () => {
      throw new RpcError('NOT_FOUND', 'no tiles here');
    },
    writeMs: 10_000,
    onPeerError: () => {},
  });
  direct.serveSessions(ECHO_PROTOCOL, serveSessionStream(echo));
  await host.handle(
    DIRECT_PROTOCOL,
    serveRpc({
      protocol: DIRECT_PROTOCOL,
      limits: DIRECT_LIMITS,
      timeoutMs: 10_000,
      handle: async (req, peer) => [encodeDirectTicket(await direct.sessionTicket(peer, decodeDirectRequest(req).protocol))],
      onPeerError: () => {},
    }),
  );
  await host.start();
  const tcp = createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  tcp.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ addr: host.getMultiaddrs()[0]?.toString(), port: (tcp.address() as { port: number }).port })}\n`);
  });
}
