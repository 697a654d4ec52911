// Who produces chain C (docs/ledger.md §9.4): `ledgerProducer` from flag, env or node.json, validated like the
// other settings; auto = produce when starting a network (or on a PostgreSQL ledger), follow when joining one.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isBlyanError } from '../../src/errors.ts';
import { changeOf, encodeParamsChange } from '../../src/ledger/paramsBlock.ts';
import { ParamsSchedule } from '../../src/ledger/paramsSchedule.ts';
import type { Hex20 } from '../../src/ledger/systemAccounts.ts';
import { ledgerProducerOf, loadNodeConfig } from '../../src/node/config.ts';
import { ledgerRoleAt } from '../../src/node/ledgerRole.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { AUTHORITY, PARAMS, T0 } from '../ledger/helpers.ts';

const SEED = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWseed';
const PG = 'postgres://u@127.0.0.1:5432/ledger';

test('ledger producer: auto produces without bootstrap peers or with PostgreSQL, follows when joining; on/off override', () => {
  const t = tempDir();
  try {
    const role = (flags: Record<string, string | boolean>, env: Record<string, string> = {}) => ledgerProducerOf(loadNodeConfig({ data: t.dir, ...flags }, env));
    assert.equal(role({}), true, 'a node that starts a network produces');
    assert.equal(role({ bootstrap: SEED }), false, 'a node that joins follows');
    assert.equal(role({ p2p: false }), true, 'without the network a node produces its own chain C');
    assert.equal(role({ bootstrap: SEED, ledgerUrl: PG }), true, 'processes on one PostgreSQL ledger produce together');
    assert.equal(role({ bootstrap: SEED, ledgerProducer: 'on' }), true);
    assert.equal(role({ ledgerProducer: 'off' }), false, 'a second seed that follows');
    assert.equal(role({ ledgerProducer: 'auto', bootstrap: SEED }), false);
    assert.equal(role({}, { BLYAN_BOOTSTRAP: SEED, BLYAN_LEDGER_PRODUCER: 'on' }), true, 'from the environment');
    assert.equal(loadNodeConfig({ data: t.dir }, { BLYAN_LEDGER_TIMEOUT: '2.5' }).ledgerTimeoutSeconds, 2.5);
    assert.equal(loadNodeConfig({ data: t.dir }, {}).ledgerProducer, undefined, 'absent means auto');
    // Chain A naming the producer decides auto, where following is possible; on/off still override.
    const me = '0x00000000000000000000000000000000000000aa';
    const other = '0x00000000000000000000000000000000000000bb';
    const named = (flags: Record<string, string | boolean>, producer: string | null) => ledgerProducerOf(loadNodeConfig({ data: t.dir, ...flags }, {}), { named: producer, self: me.toUpperCase().replace('0X', '0x') });
    assert.equal(named({ bootstrap: SEED }, me), true, 'the named producer produces though it joined by a seed');
    assert.equal(named({}, other), false, 'a node that starts alone follows when chain A names another');
    assert.equal(named({}, null), true, 'none named: as before');
    assert.equal(named({ bootstrap: SEED }, null), false);
    assert.equal(named({ ledgerProducer: 'on' }, other), true, 'on overrides (and its ledger refuses batches: LEDGER_NOT_PRODUCER)');
    assert.equal(named({ ledgerProducer: 'off' }, me), false);
    assert.equal(named({ p2p: false }, other), true, 'without the network it cannot follow');
    assert.equal(named({ bootstrap: SEED, ledgerUrl: PG }, other), true, 'PostgreSQL processes produce together');
    writeFileSync(join(t.dir, 'node.json'), JSON.stringify({ ledgerProducer: false, bootstrap: [SEED], ledgerTimeoutSeconds: 30 }));
    assert.equal(role({}), false, 'from node.json (a boolean works too)');
    assert.equal(role({ ledgerProducer: 'on' }), true, 'a flag beats the file');
    writeFileSync(join(t.dir, 'node.json'), '{}');
    for (const [flags, env] of [
      [{ ledgerProducer: 'maybe' }, {}],
      [{ ledgerProducer: 'off', ledgerUrl: PG }, {}],
      [{ ledgerProducer: 'off', p2p: false }, {}],
      [{}, { BLYAN_LEDGER_TIMEOUT: '0' }],
      [{}, { BLYAN_LEDGER_TIMEOUT: 'soon' }],
    ] as [Record<string, string | boolean>, Record<string, string>][]) {
      assert.throws(() => loadNodeConfig({ data: t.dir, ...flags }, env), (e) => isBlyanError(e, 'BAD_ARGUMENT'), JSON.stringify([flags, env]));
    }
  } finally {
    t.cleanup();
  }
});

test('ledgerRoleAt: chain A hands production over at the time its params block sets; the new producer waits out the grace', () => {
  const me = '0x00000000000000000000000000000000000000aa' as Hex20;
  const other = '0x00000000000000000000000000000000000000bb' as Hex20;
  const t1 = T0 + 10_000;
  const t2 = T0 + 60_000;
  const t3 = T0 + 90_000;
  const block = (index: number, activeFrom: number, producer: Hex20 | null) => ({
    index,
    time: activeFrom - 1000,
    author: AUTHORITY.addr,
    id: `a${index}`,
    payload: encodeParamsChange({ ...changeOf(PARAMS, activeFrom), producer }),
  });
  // other from t1, me from t2 (a hand-over), me again from t3 (another change, no hand-over), nobody before t1.
  const s = new ParamsSchedule(PARAMS, [block(1, t1, other), block(2, t2, me), block(3, t3, me)], 0);
  const grace = 5_000;
  assert.equal(ledgerRoleAt(s, T0, me, grace, 'producer'), undefined, 'nobody named: the role chosen at start stays');
  assert.equal(ledgerRoleAt(s, T0, me, grace, 'follower'), undefined);
  assert.equal(ledgerRoleAt(s, t1, me, grace, 'producer'), 'follower', 'another named: follow at once');
  assert.equal(ledgerRoleAt(s, t2, other, grace, 'producer'), 'follower', 'the old producer follows from the hand-over on');
  assert.equal(ledgerRoleAt(s, t2, me, grace, 'follower'), 'follower', 'the new one waits for the old one’s last blocks');
  assert.equal(ledgerRoleAt(s, t2 + grace - 1, me, grace, 'follower'), 'follower');
  assert.equal(ledgerRoleAt(s, t2 + grace, me, grace, 'follower'), 'producer');
  assert.equal(ledgerRoleAt(s, t2, me, grace, 'producer'), 'producer', 'producing when named (it started the network): no wait, nobody else produced');
  assert.equal(ledgerRoleAt(s, t3, me, grace, 'follower'), 'producer', 'a later change that names it again is no hand-over');
  assert.equal(ledgerRoleAt(s, t3, other, grace, 'producer'), 'follower');
});
