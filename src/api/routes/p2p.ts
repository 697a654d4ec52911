import type { FastifyInstance } from 'fastify';
import { BlyanError } from '../../errors.ts';
import type { ApiDeps } from '../deps.ts';

/** The node's view of the peer-to-peer network (docs/api.md "Peer-to-peer"). */
export function p2pRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const p2p = () => {
    if (deps.p2p === undefined) throw new BlyanError('NOT_FOUND', 'this node runs without the peer-to-peer network (started with --no-p2p or BLYAN_P2P=off)');
    return deps.p2p;
  };

  /** This node and the peers it knows: ids, addresses, chain heads, scores. */
  app.get('/p2p/nodes', async () => {
    const s = p2p().status();
    return {
      self: { peerId: s.peerId, multiaddrs: s.multiaddrs, role: deps.role },
      peers: s.peers.map((p) => ({ peerId: p.id, heads: p.heads, score: p.score })),
      served: s.served,
    };
  });

  /** Chain sync progress: heights (local and target), bytes, rate, done. */
  app.get('/p2p/sync', async () => p2p().status().sync);

  /** Which experts (name and block) are hosted where: this node's own current versions, and known workers. */
  app.get('/p2p/experts', async () => {
    const s = p2p().status();
    const own = [...deps.store.parameterIndex()].map((e) => ({ model: e.model, name: e.name, block: Buffer.from(e.current).toString('hex'), peerId: s.peerId }));
    return { experts: own };
  });
}
