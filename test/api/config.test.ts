import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isBlyanError } from '../../src/errors.ts';
import { loadNodeConfig } from '../../src/node/config.ts';
import { StopText } from '../../src/node/stopText.ts';
import { tempDir } from '../helpers/fixtures.ts';

test('node config: flags beat env, env beats the file, the file beats defaults; bad values are BAD_ARGUMENT', () => {
  const t = tempDir();
  try {
    assert.deepEqual(loadNodeConfig({ data: t.dir }, {}), { dataDir: t.dir, host: '127.0.0.1', port: 7777, role: 'full', bodyLimit: 1048576, cacheMb: 2048, maxQueuedChats: 16, rateLimitPerMinute: 1200, chatRateLimitPerMinute: 120, anonymousDailyQuota: 20, logLevel: 'info', p2p: true, p2pPort: 0, bootstrap: [], announce: [], relayServer: false, relay: false, autonat: false, upnp: false, bulkPort: 0 });
    writeFileSync(join(t.dir, 'node.json'), JSON.stringify({ port: 8000, host: '0.0.0.0', cacheMb: 64 }));
    const fromFile = loadNodeConfig({ data: t.dir }, {});
    assert.deepEqual([fromFile.port, fromFile.host, fromFile.cacheMb], [8000, '0.0.0.0', 64]);
    const fromEnv = loadNodeConfig({ data: t.dir }, { BLYAN_PORT: '8001' });
    assert.deepEqual([fromEnv.port, fromEnv.host], [8001, '0.0.0.0']);
    assert.equal(loadNodeConfig({ data: t.dir, port: '8002' }, { BLYAN_PORT: '8001' }).port, 8002);
    const limits = loadNodeConfig({ data: t.dir }, { BLYAN_RATE_LIMIT: '0', BLYAN_CHAT_RATE_LIMIT: '7', BLYAN_ANON_DAILY_QUOTA: '0', BLYAN_LOG_LEVEL: 'silent' });
    assert.deepEqual([limits.rateLimitPerMinute, limits.chatRateLimitPerMinute, limits.anonymousDailyQuota, limits.logLevel], [0, 7, 0, 'silent']);
    assert.throws(() => loadNodeConfig({ data: t.dir }, { BLYAN_LOG_LEVEL: 'loud' }), (e) => isBlyanError(e, 'BAD_ARGUMENT'));
    assert.throws(() => loadNodeConfig({ data: t.dir }, { BLYAN_ANON_DAILY_QUOTA: '-1' }), (e) => isBlyanError(e, 'BAD_ARGUMENT'));
    assert.deepEqual(loadNodeConfig({ data: t.dir, bootstrap: '/ip4/127.0.0.1/tcp/1/p2p/a, /ip4/127.0.0.1/tcp/2/p2p/b', p2p: false }, {}).bootstrap, ['/ip4/127.0.0.1/tcp/1/p2p/a', '/ip4/127.0.0.1/tcp/2/p2p/b']);
    assert.equal(loadNodeConfig({ data: t.dir }, { BLYAN_P2P: 'off' }).p2p, false);
    for (const bad of [{ port: '70000' }, { port: 'x' }, { role: 'boss' }, { p2pPort: '-1' }]) {
      assert.throws(() => loadNodeConfig({ data: t.dir, ...bad }, {}), (e) => isBlyanError(e, 'BAD_ARGUMENT'));
    }
    writeFileSync(join(t.dir, 'node.json'), JSON.stringify({ port: 1, typo: true }));
    assert.throws(() => loadNodeConfig({ data: t.dir }, {}), (e) => isBlyanError(e, 'BAD_ARGUMENT'));
  } finally {
    t.cleanup();
  }
});

test('node config: a worker\'s experts and the NAT options from flags, env and file; misuse is BAD_ARGUMENT', () => {
  const t = tempDir();
  try {
    const w = loadNodeConfig({ data: t.dir, role: 'worker', experts: 'layer0.expert1, layer3.expert0' }, {});
    assert.deepEqual(w.experts, ['layer0.expert1', 'layer3.expert0']);
    assert.deepEqual(loadNodeConfig({ data: t.dir }, { BLYAN_ROLE: 'worker', BLYAN_EXPERTS: 'layer2.expert2' }).experts, ['layer2.expert2']);
    assert.throws(() => loadNodeConfig({ data: t.dir, experts: 'layer0.expert1' }, {}), (e) => isBlyanError(e, 'BAD_ARGUMENT') && /--role worker/.test(e.message));
    assert.throws(() => loadNodeConfig({ data: t.dir, role: 'worker', experts: 'attention0' }, {}), (e) => isBlyanError(e, 'BAD_ARGUMENT') && /layer\{L\}\.expert\{E\}/.test(e.message));
    const nat = loadNodeConfig({ data: t.dir, relayServer: true, announce: '/ip4/203.0.113.7/tcp/4001' }, { BLYAN_RELAY: 'on', BLYAN_AUTONAT: '1', BLYAN_UPNP: 'off' });
    assert.deepEqual([nat.relayServer, nat.relay, nat.autonat, nat.upnp, nat.announce], [true, true, true, false, ['/ip4/203.0.113.7/tcp/4001']]);
    writeFileSync(join(t.dir, 'node.json'), JSON.stringify({ upnp: true, announce: ['/dns4/node.example/tcp/4001'] }));
    const file = loadNodeConfig({ data: t.dir }, {});
    assert.deepEqual([file.upnp, file.announce], [true, ['/dns4/node.example/tcp/4001']]);
    assert.throws(() => loadNodeConfig({ data: t.dir }, { BLYAN_RELAY: 'maybe' }), (e) => isBlyanError(e, 'BAD_ARGUMENT'));
    // The bulk channel's port: a number, 0 for any, "off" for none; flags beat env.
    assert.equal(loadNodeConfig({ data: t.dir }, { BLYAN_BULK_PORT: 'off' }).bulkPort, -1);
    assert.equal(loadNodeConfig({ data: t.dir, bulkPort: '4100' }, { BLYAN_BULK_PORT: 'off' }).bulkPort, 4100);
    assert.throws(() => loadNodeConfig({ data: t.dir, bulkPort: '70000' }, {}), (e) => isBlyanError(e, 'BAD_ARGUMENT') && /bulkPort/.test(e.message));
  } finally {
    t.cleanup();
  }
});

test('stop strings: never emitted, text held back only while it may start one', () => {
  const s = new StopText(['END']);
  assert.equal(s.feed('ab'), 'ab');
  assert.equal(s.feed('abE'), '');
  assert.equal(s.feed('abEx'), 'Ex');
  assert.equal(s.feed('abExEN'), '');
  assert.equal(s.feed('abExENDyy'), '');
  assert.ok(s.stopped);
  assert.equal(s.result, 'abEx');
  const open = new StopText(['\n\n']);
  assert.equal(open.feed('hi\n'), 'hi');
  assert.equal(open.flush(), '\n');
  assert.equal(open.result, 'hi\n');
});
