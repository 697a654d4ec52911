// Child process for the p2p tests and bench: opens a data dir, starts the p2p node, reports events as JSON
// lines on stdout and takes commands as JSON lines on stdin. Argument: a JSON ChildConfig (fixture.ts).
import { createBlock } from '../../src/chain/block.ts';
import { toHex } from '../../src/chain/hash.ts';
import type { Block } from '../../src/chain/types.ts';
import { verifyStore } from '../../src/chain/verifyStore.ts';
import { encodeBlockMessage } from '../../src/p2p/gossip.ts';
import { startP2p } from '../../src/p2p/index.ts';
import { serveRpc } from '../../src/p2p/protocols/rpc.ts';
import { handleTile, LeafCache, TILE_LIMITS, TILE_PROTOCOL } from '../../src/p2p/protocols/tiles.ts';
import { deterministicBytes, TEST_KEY } from '../helpers/fixtures.ts';
import { type Command, openChildStore, out, serveCommands, stopAndExit } from './childKit.ts';
import type { ChildConfig } from './fixture.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const store = openChildStore(config.data);
const node = await startP2p({
  store,
  dataDir: config.data,
  bootstrap: config.bootstrap ?? [],
  autoSync: config.autoSync ?? false,
  ...(config.experts === undefined ? {} : { experts: config.experts }),
  ...(config.timeouts === undefined ? {} : { timeouts: config.timeouts }),
  ...(config.tuning === undefined ? {} : { tuning: config.tuning }),
  // A node whose libp2p tile handler is replaced below offers no bulk channel, so its tiles go through that handler.
  ...(config.corruptTiles === true || config.slowTilesMs !== undefined || config.bulk === false ? { bulk: false as const } : {}),
  onEvent: (e) => out({ event: 'p2p', ...e }),
});

if (config.corruptTiles === true || config.slowTilesMs !== undefined) {
  // Replace the honest tile handler with one that lies (flips a byte) and/or answers slowly.
  const honest = handleTile({ store, isKnownPeer: () => true, leaves: new LeafCache() });
  await node.libp2p.handle(
    TILE_PROTOCOL,
    serveRpc({
      protocol: TILE_PROTOCOL,
      limits: TILE_LIMITS,
      timeoutMs: 30_000,
      handle: async (req, peer, connection) => {
        if (config.slowTilesMs !== undefined) await new Promise((r) => setTimeout(r, config.slowTilesMs));
        const reply = honest(req, peer, connection);
        if (config.corruptTiles !== true) return reply;
        const tile = (reply.parts[1] as Uint8Array).slice();
        reply.done?.();
        if (tile.byteLength > 0) tile[tile.byteLength >> 1] = ((tile[tile.byteLength >> 1] as number) ^ 0xff) & 0xff;
        out({ event: 'served-corrupt' });
        return [reply.parts[0] as Uint8Array, tile];
      },
      onPeerError: () => {},
      onServed: () => out({ event: 'served-tile' }),
    }),
    { force: true, maxInboundStreams: 16 },
  );
}

out({ event: 'ready', peerId: node.peerId, addrs: node.multiaddrs() });

let mined = 0;
function mine(size: number): { block: Block; payload: Uint8Array } {
  store.refreshHeads();
  let model: Block | undefined;
  for (const { block } of store.iterate('A')) if (block.header.type === 'model') model = block;
  if (model === undefined) throw new Error('no model block');
  mined++;
  const payload = deterministicBytes(`gossip-${node.peerId}-${mined}-${Date.now()}`, size);
  const block = createBlock(
    { chain: 'B', index: 0, prev: null, deps: [model.id], type: 'expert', expert: `layer0.expert${100 + mined}`, layer: 0, time: Date.now() },
    payload,
    TEST_KEY,
    store.preset,
  );
  store.append(block, payload);
  return { block, payload };
}

async function run(cmd: Command): Promise<Record<string, unknown>> {
  switch (cmd.cmd) {
    case 'sync': {
      const r = await node.sync();
      return { result: r };
    }
    case 'status':
      return { status: node.status() };
    case 'dial':
      return { peer: await node.dial(String(cmd.addr)) };
    case 'verify': {
      store.refreshHeads();
      const r = verifyStore(store);
      return { report: r };
    }
    case 'heights':
      store.refreshHeads();
      return { heights: { A: store.height('A'), B: store.height('B'), C: store.height('C'), D: store.height('D') } };
    case 'subscribers':
      return { n: node.libp2p.services.pubsub.getSubscribers(`/blyan/${store.preset.genesisId.slice(0, 16)}/block/1`).length };
    case 'has':
      return { has: store.has(Buffer.from(String(cmd.block), 'hex')) };
    case 'mine': {
      const { block, payload } = mine(Number(cmd.size ?? 2048));
      const recipients = await node.publishBlock(block, payload);
      return { block: toHex(block.id), recipients };
    }
    case 'forge': {
      // A block with a broken signature, published raw (the honest path would never sign it so).
      const { block, payload } = mine(1024);
      const sig = block.sig.slice();
      sig[10] = ((sig[10] as number) ^ 1) & 0xff;
      const forged: Block = { ...block, sig };
      const r = await node.libp2p.services.pubsub.publish(`/blyan/${store.preset.genesisId.slice(0, 16)}/block/1`, encodeBlockMessage(forged, payload));
      return { block: toHex(block.id), recipients: r.recipients.length };
    }
    case 'stop':
      return stopAndExit(cmd, node, store);
    default:
      throw new Error(`unknown command ${String(cmd.cmd)}`);
  }
}

if (config.syncOnStart === true) {
  node
    .sync()
    .then((r) => out({ event: 'synced', result: r }))
    .catch((err: unknown) => out({ event: 'sync-error', message: (err as Error).message }));
}

serveCommands(run);
