import './polyfill.ts';
import { autoNAT } from '@libp2p/autonat';
import { bootstrap } from '@libp2p/bootstrap';
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2';
import { dcutr } from '@libp2p/dcutr';
import { type GossipSub, gossipsub } from '@libp2p/gossipsub';
import { type Identify, identify } from '@libp2p/identify';
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import { type KadDHT, kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht';
import { type Ping, ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { uPnPNAT } from '@libp2p/upnp-nat';
import { createLibp2p } from 'libp2p';
import { sha256 } from '../chain/hash.ts';
import { fastNoise } from './noiseFast.ts';
import { yamuxHalfWindow } from './yamuxWindow.ts';

/**
 * The libp2p host of a node (docs/sync-protocol.md §1): TCP, Noise, Yamux, identify, ping, gossipsub and a
 * Kademlia DHT under a network-specific protocol id, with connection limits and a gater that refuses
 * banned peers. It knows nothing of blocks; the protocols are registered on it by p2pNode.ts.
 */
export type HostServices = {
  identify: Identify;
  ping: Ping;
  pubsub: GossipSub;
  dht: KadDHT;
};

/**
 * Options for nodes behind NAT and for the nodes that help them (docs/sync-protocol.md §1.1). All off by
 * default: on a LAN or a test network they add traffic and nothing else; UPnP in particular talks to the
 * gateway of the machine's network.
 */
export interface NatOptions {
  /** Addresses to announce to peers instead of the listening ones (a public IP, a port forwarded by hand). */
  readonly announce?: readonly string[];
  /** Relay connections for peers that cannot be dialled (circuit relay v2 "hop"), without data or time limit. */
  readonly relayServer?: boolean;
  /** Be reachable through relays: reserve a slot on connected relays, and upgrade relayed connections to
   * direct ones by hole punching (DCUtR) where the NATs allow it. */
  readonly relayClient?: boolean;
  /** Ask peers to dial back our addresses, so we learn which are reachable from outside (AutoNAT). */
  readonly autoNat?: boolean;
  /** Ask the gateway to forward our TCP port (UPnP IGD / NAT-PMP). */
  readonly upnp?: boolean;
}

export type Host = Libp2p<HostServices>;

export interface HostOptions {
  readonly privateKey: PrivateKey;
  /** Multiaddrs to listen on; e.g. `/ip4/127.0.0.1/tcp/0`. */
  readonly listen: readonly string[];
  /** Seed multiaddrs with `/p2p/<peer id>`. */
  readonly bootstrap: readonly string[];
  readonly maxConnections: number;
  /** Short network tag (from the genesis id) so DHTs of different networks never mix. */
  readonly networkTag: string;
  /** The connection gater asks this before dialling or accepting a peer. */
  readonly isDenied: (peer: string) => boolean;
  /** Largest gossip message accepted (bytes of data). */
  readonly maxGossipBytes: number;
  readonly nat?: NatOptions;
}

function isLoopbackOnly(listen: readonly string[]): boolean {
  return listen.every((a) => a.startsWith('/ip4/127.') || a.startsWith('/ip6/::1/'));
}

export async function createHost(opts: HostOptions): Promise<Host> {
  const withPeerId = opts.bootstrap.filter((a) => a.includes('/p2p/'));
  const nat = opts.nat ?? {};
  // Optional services; typed loosely here because the host's type names only the services every node has.
  const natServices: Record<string, (components: never) => unknown> = {};
  if (nat.relayServer === true) {
    // A Blyan relay carries syncs and expert calls, so its relayed connections get no data or time limit
    // (libp2p's default of 128 KiB / 2 min suits only signalling); the operator opts in knowingly.
    natServices['relay'] = circuitRelayServer({ reservations: { maxReservations: 64, applyDefaultLimit: false } }) as never;
  }
  if (nat.relayClient === true) natServices['dcutr'] = dcutr() as never;
  if (nat.autoNat === true) natServices['autoNAT'] = autoNAT({ protocolPrefix: `/blyan/${opts.networkTag}` }) as never;
  if (nat.upnp === true) natServices['upnp'] = uPnPNAT() as never;
  return createLibp2p({
    // Started by the caller once the protocol handlers are registered, so no stream finds none.
    start: false,
    privateKey: opts.privateKey,
    addresses: {
      // `/p2p-circuit` asks the relay transport for reservations on relays we connect to.
      listen: [...opts.listen, ...(nat.relayClient === true ? ['/p2p-circuit'] : [])],
      ...(nat.announce !== undefined && nat.announce.length > 0 ? { announce: [...nat.announce] } : {}),
    },
    // The relay transport is always there: dialling a peer at a relayed address needs it.
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [fastNoise()],
    streamMuxers: [
      // Streams start at yamux's standard 256 KiB window (a larger initial window is not announced to the
      // other side, so a peer with the default would reset our streams) and grow up to 16 MiB while data
      // keeps flowing, which keeps a 4 MiB tile moving without a window-update round trip per 256 KiB.
      // Window updates at half the window, not after every frame (yamuxWindow.ts).
      yamuxHalfWindow({ maxInboundStreams: 256, streamOptions: { maxStreamWindowSize: 16 * 1024 * 1024 } }),
    ],
    connectionManager: {
      maxConnections: opts.maxConnections,
      maxIncomingPendingConnections: 16,
      // Inbound connections per second from one IP address. libp2p's default of 5 is tight when several
      // nodes share an address (a LAN behind NAT, a test network on loopback).
      inboundConnectionThreshold: 20,
      maxParallelDials: 32,
      dialTimeout: 10_000,
    },
    connectionGater: {
      denyDialPeer: (peer) => opts.isDenied(peer.toString()),
      denyInboundEncryptedConnection: (peer) => opts.isDenied(peer.toString()),
      denyOutboundEncryptedConnection: (peer) => opts.isDenied(peer.toString()),
      // Loopback and private addresses are the normal case for tests and LANs; keep them dialable.
      denyDialMultiaddr: () => false,
    },
    // The bootstrap module needs addresses that name their peer; p2pNode dials every seed itself anyway.
    peerDiscovery: withPeerId.length > 0 ? [bootstrap({ list: withPeerId, timeout: 100 })] : [],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        fallbackToFloodsub: false,
        maxInboundDataLength: opts.maxGossipBytes,
        // Content-addressed ids: the same block published by two nodes is one message, seen once.
        msgIdFn: (msg) => sha256(new TextEncoder().encode(msg.topic), msg.data),
      }),
      dht: kadDHT({
        protocol: `/blyan/${opts.networkTag}/kad/1.0.0`,
        clientMode: false,
        // The default mapper drops private addresses, which on loopback leaves a DHT that knows no one.
        peerInfoMapper: isLoopbackOnly(opts.listen) ? passthroughMapper : removePrivateAddressesMapper,
      }),
      ...(natServices as Record<string, never>),
    },
  });
}
