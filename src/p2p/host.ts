import './polyfill.ts';
import { bootstrap } from '@libp2p/bootstrap';
import { type GossipSub, gossipsub } from '@libp2p/gossipsub';
import { type Identify, identify } from '@libp2p/identify';
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import { type KadDHT, kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht';
import { type Ping, ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { createLibp2p } from 'libp2p';
import { sha256 } from '../chain/hash.ts';
import { fastNoise } from './noiseFast.ts';

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
}

function isLoopbackOnly(listen: readonly string[]): boolean {
  return listen.every((a) => a.startsWith('/ip4/127.') || a.startsWith('/ip6/::1/'));
}

export async function createHost(opts: HostOptions): Promise<Host> {
  const withPeerId = opts.bootstrap.filter((a) => a.includes('/p2p/'));
  return createLibp2p({
    // Started by the caller once the protocol handlers are registered, so no stream finds none.
    start: false,
    privateKey: opts.privateKey,
    addresses: { listen: [...opts.listen] },
    transports: [tcp()],
    connectionEncrypters: [fastNoise()],
    streamMuxers: [
      // Streams start at yamux's standard 256 KiB window (a larger initial window is not announced to the
      // other side, so a peer with the default would reset our streams) and grow up to 16 MiB while data
      // keeps flowing, which keeps a 4 MiB tile moving without a window-update round trip per 256 KiB.
      yamux({ maxInboundStreams: 256, streamOptions: { maxStreamWindowSize: 16 * 1024 * 1024 } }),
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
    },
  });
}
