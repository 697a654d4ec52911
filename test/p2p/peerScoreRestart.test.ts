import '../../src/p2p/polyfill.ts';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { isBlyanError } from '../../src/errors.ts';
import { createHost, type Host } from '../../src/p2p/host.ts';
import { peerScorePath } from '../../src/p2p/peerScoreFile.ts';
import { localStatus, requestStatus } from '../../src/p2p/protocols/status.ts';
import { blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';
import { NodeProcess } from './fixture.ts';

/** A bare host on loopback with a given identity (the same peer id across the "restart"), refusing nobody itself. */
async function hostWith(privateKey: PrivateKey): Promise<Host> {
  const h = await createHost({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], maxConnections: 8, networkTag: 'test', isDenied: () => false, maxGossipBytes: 1 << 20 });
  await h.start();
  return h;
}

type Scores = { peer: string; banned: boolean; score: number }[];

test('a peer banned for being on another network is still refused after the node restarts; a damaged score file is ignored', { timeout: 180_000 }, async () => {
  const work = tempDir('blyan-p2p-bans-');
  const data = join(work.dir, 'seed');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  const store = BlockStore.open(data, TINY);
  const real = localStatus(store);
  const fake = { ...real, genesis: new Uint8Array(32).fill(7) };
  store.closeSync();
  const strangerKey = await generateKeyPair('Ed25519');
  let seed = new NodeProcess({ data });
  let stranger: Host | undefined;
  let honest: Host | undefined;
  try {
    const first = await seed.ready();
    stranger = await hostWith(strangerKey);
    const strangerId = stranger.peerId.toString();
    await stranger.dial(multiaddr(first.addrs[0] as string));
    await assert.rejects(requestStatus(stranger, peerIdFromString(first.peerId), fake, 5000), (e: unknown) => isBlyanError(e, 'P2P_WRONG_GENESIS'));
    await seed.waitFor((e) => e.event === 'p2p' && e.type === 'ban' && e.peer === strangerId, 30_000, 'the seed bans the stranger');
    await stranger.stop();
    await seed.stop();

    seed = new NodeProcess({ data });
    const second = await seed.ready();
    assert.equal(second.peerId, first.peerId, 'the same node');
    const scores = ((await seed.call({ cmd: 'status' })).status as { scores: Scores }).scores;
    assert.ok(scores.some((s) => s.peer === strangerId && s.banned), `banned after the restart: ${JSON.stringify(scores)}`);

    // The connection gater refuses the stranger (same identity) from the first connection on…
    stranger = await hostWith(strangerKey);
    const seedPeer = peerIdFromString(second.peerId);
    // (its own dial may complete before the seed's verdict arrives, but nothing it asks is answered; without the
    // saved ban this exchange succeeds: it is this network's status).
    const asked = (stranger as Host)
      .dial(multiaddr(second.addrs[0] as string))
      .then(() => requestStatus(stranger as Host, seedPeer, real, 5000));
    await assert.rejects(asked, 'the stranger got through');
    await until('the stranger disconnected', () => (stranger as Host).getConnections(seedPeer).length, (n) => n === 0);
    // …while a newcomer is let in and answered.
    honest = await hostWith(await generateKeyPair('Ed25519'));
    await honest.dial(multiaddr(second.addrs[0] as string));
    const answer = await requestStatus(honest, seedPeer, real, 5000);
    assert.deepEqual(answer.genesis, real.genesis);

    // A damaged score file: the node starts anyway, says so, and forgets the ban.
    await seed.stop();
    writeFileSync(peerScorePath(data), '{"v":1,"peers":[{"peer":');
    seed = new NodeProcess({ data });
    const third = await seed.ready();
    const warning = await seed.waitFor((e) => e.event === 'p2p' && e.type === 'peer-scores-warning', 30_000, 'a warning');
    assert.match(String(warning.message), /peer-scores\.json is not JSON/);
    assert.match(seed.stderr, /BLYAN_PEER_SCORES/, 'a process warning for the operator');
    await stranger.stop();
    stranger = await hostWith(strangerKey);
    await stranger.dial(multiaddr(third.addrs[0] as string));
    assert.deepEqual((await requestStatus(stranger, seedPeer, real, 5000)).genesis, real.genesis, 'the ban is gone with the file');
  } finally {
    await stranger?.stop();
    await honest?.stop();
    await seed.stop();
    work.cleanup();
  }
});
