// Child process for the distributed-inference tests and bench: an expert worker. Opens a data dir, starts the
// p2p node hosting some experts, reports events as JSON lines on stdout and takes commands as JSON lines on
// stdin (the protocol of fixture.ts NodeProcess). Argument: a JSON ExpertChildConfig.
import { EXPERT_PROTOCOL, expertLimits } from '../../src/p2p/expertRpc.ts';
import { startP2p } from '../../src/p2p/index.ts';
import { type Command, openChildStore, out, serveCommands, stopAndExit } from './childKit.ts';

export interface ExpertChildConfig {
  readonly data: string;
  readonly bootstrap?: string[];
  readonly host: string[] | 'all';
  readonly heartbeatMs?: number;
  /** Flip one bit of every answer (a lying worker). */
  readonly lie?: boolean;
  /** Answer with one f32 value too few per job (a broken worker). */
  readonly badShape?: boolean;
  /** Wait this long before each answer (a slow worker). */
  readonly delayMs?: number;
  /** No direct channel (an older node, or one behind a firewall): sessions come over libp2p only. */
  readonly bulk?: false;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ExpertChildConfig;
const store = openChildStore(config.data);
const node = await startP2p({
  store,
  dataDir: config.data,
  bootstrap: config.bootstrap ?? [],
  autoSync: false,
  hostExperts: config.host,
  expertRpc: { heartbeatMs: config.heartbeatMs ?? 500 },
  ...(config.bulk === false ? { bulk: false as const } : {}),
  onEvent: (e) => {
    // Not 'experts-served': one line per request would cost the bench more than the request itself.
    if ((e.type.startsWith('expert') && e.type !== 'experts-served') || e.type === 'penalty' || e.type === 'ban') out({ event: 'p2p', ...e });
  },
});

const server = node.expertServer;
if (server === undefined) throw new Error('not serving experts');
let answered = 0;
if (config.lie === true || config.badShape === true || config.delayMs !== undefined) {
  // Replace the honest handler with one that lies, answers short, and/or answers late.
  // On libp2p and on the direct channel alike.
  await node.handleSession(
    {
      protocol: EXPERT_PROTOCOL,
      limits: expertLimits(4096),
      timeoutMs: 30_000,
      idleMs: 120_000,
      handle: async (req, peer) => {
        if (config.delayMs !== undefined) await new Promise((r) => setTimeout(r, config.delayMs));
        const parts = await server.handle(req, peer);
        answered++;
        if (config.lie === true) {
          out({ event: 'lied', n: answered });
          return parts.map((p) => {
            const q = p.slice();
            q[0] = ((q[0] as number) ^ 1) & 0xff;
            return q;
          });
        }
        if (config.badShape === true) {
          out({ event: 'bad-shape', n: answered });
          return parts.map((p) => p.subarray(0, p.byteLength - 4));
        }
        return parts;
      },
      onPeerError: () => {},
    },
    { maxInboundStreams: 32 },
  );
}

out({ event: 'ready', peerId: node.peerId, addrs: node.multiaddrs(), hosted: node.hostedExperts().map((h) => h.name) });

async function run(cmd: Command): Promise<Record<string, unknown>> {
  switch (cmd.cmd) {
    case 'status':
      return { status: node.status() };
    case 'hosted':
      return { hosted: node.hostedExperts().map((h) => ({ name: h.name, block: h.blockHex, model: h.modelHex })) };
    case 'stop':
      return stopAndExit(cmd, node, store);
    default:
      throw new Error(`unknown command ${String(cmd.cmd)}`);
  }
}

serveCommands(run);
