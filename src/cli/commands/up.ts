import type { Command } from 'commander';
import { DEVNET } from '../../chain/presets.ts';
import { loadNodeConfig, type NodeFlags } from '../../node/config.ts';
import { chainSummary, formatSummary } from '../chainSummary.ts';
import { initStore, openStore, readDataDirConfig } from '../openStore.ts';
import { note, printJson, printLine } from '../output.ts';
import { installShippedModel } from '../shippedModel.ts';

interface UpFlags extends NodeFlags {
  json?: boolean;
  once?: boolean;
}

/** Creates the devnet (with its shipped model) in a data dir that holds no chain yet. */
async function ensureDataDir(dataDir: string): Promise<void> {
  if (readDataDirConfig(dataDir) !== undefined) return;
  const { store } = initStore(dataDir, DEVNET);
  try {
    await installShippedModel(store);
  } finally {
    await store.close();
  }
}

/**
 * `blyan up`: bring this machine's node up: make sure the data dir holds the devnet (or the network it
 * was initialised with), then serve the HTTP API until SIGINT/SIGTERM. `--once` prints where the chain
 * stands and exits instead.
 */
export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('initialise the data dir if needed (devnet) and run the node: HTTP API on 127.0.0.1:7777')
    .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)')
    .option('--host <host>', 'address to listen on (default $BLYAN_HOST or 127.0.0.1)')
    .option('--port <port>', 'port to listen on, 0 for any free one (default $BLYAN_PORT or 7777)')
    .option('--role <role>', 'full (default), service (answers users), worker (hosts experts) or seed (serves the chain); $BLYAN_ROLE')
    .option('--p2p-port <port>', 'libp2p TCP port, 0 for any free one (default $BLYAN_P2P_PORT or 0)')
    .option('--bootstrap <multiaddrs>', 'comma-separated seed multiaddrs (…/p2p/<peer id>) to join and sync from ($BLYAN_BOOTSTRAP)')
    .option('--no-p2p', 'do not join the peer-to-peer network (or BLYAN_P2P=off)')
    .option('--experts <names>', 'worker: host and sync only these experts, e.g. layer0.expert1,layer3.expert0 ($BLYAN_EXPERTS)')
    .option('--announce <multiaddrs>', 'addresses to announce instead of the listening ones, e.g. a public IP ($BLYAN_ANNOUNCE)')
    .option('--relay-server', 'relay connections for peers behind NAT (circuit relay v2; $BLYAN_RELAY_SERVER=on)')
    .option('--relay', 'be reachable through relays and hole punching when behind NAT ($BLYAN_RELAY=on)')
    .option('--autonat', 'ask peers which of our addresses they can reach (AutoNAT; $BLYAN_AUTONAT=on)')
    .option('--upnp', 'ask the router to forward the p2p port (UPnP / NAT-PMP; $BLYAN_UPNP=on)')
    .option('--bulk-port <port>', 'TCP port for the direct channel: chain tiles to syncing peers, sealed expert RPC sessions; 0 for any free one (default), off for none ($BLYAN_BULK_PORT)')
    .option('--ledger-producer <mode>', 'on: this node produces chain C; off: it follows the network\'s producer; auto (default): produce unless joining with --bootstrap ($BLYAN_LEDGER_PRODUCER)')
    .option('--config <file>', 'JSON config file (default <data>/node.json when present)')
    .option('--ledger-url <url>', 'share a PostgreSQL ledger with other node processes, postgres://… (default $BLYAN_LEDGER_URL, else the data dir\'s own)')
    .option('--once', 'print the chain summary and exit instead of serving')
    .option('--json', 'print JSON (the chain summary with --once; {url, …} when serving)')
    .action(async (opts: UpFlags) => {
      const config = loadNodeConfig(opts);
      await ensureDataDir(config.dataDir);
      if (opts.once === true) {
        const store = openStore(config.dataDir);
        const summary = chainSummary(store, config.dataDir);
        await store.close();
        if (opts.json === true) printJson(summary);
        else {
          printLine(formatSummary(summary));
          note('\nnext: `blyan up` to serve, `blyan chain list`, `blyan wallet new` (see --help)');
        }
        return;
      }
      const { BlyanNode } = await import('../../node/node.ts');
      const node = await BlyanNode.start(config);
      const stopped = node.untilSignal();
      const summary = chainSummary(node.store, config.dataDir);
      const p2p = node.p2p === undefined ? null : { peerId: node.p2p.p2p.peerId, multiaddrs: node.p2p.p2p.multiaddrs() };
      const ledger = node.ledger.mode;
      if (opts.json === true) printJson({ url: node.url, role: config.role, ledger, p2p, ...summary });
      else {
        printLine(formatSummary(summary));
        printLine(`\nBlyan node (${config.role}) listening on ${node.url}  (Ctrl-C to stop)`);
        printLine(ledger === 'follower' ? 'ledger: follower (chain C comes from the network\'s producer)' : 'ledger: producer (this node writes chain C)');
        const named = node.ledger.producerConflict();
        if (named !== undefined) note(`warning: chain A names ${named} the ledger producer; this node will refuse every transaction rather than fork chain C (run it with --ledger-producer off to follow)`);
        if (p2p !== null) for (const m of p2p.multiaddrs) printLine(`p2p: ${m}`);
      }
      await stopped;
      note('node stopped');
    });
}
