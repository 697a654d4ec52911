// Child process for crash.test.ts: appends blocks forever and reports each committed id on stdout.
// The parent SIGKILLs it at a random moment.
import * as dagCbor from '@ipld/dag-cbor';
import { createBlock } from '../../src/chain/block.ts';
import { toHex } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { addModel, deterministicBytes, expertBlock, TEST_KEY } from '../helpers/fixtures.ts';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: crashChild DIR');
const { store } = BlockStore.init(dir, TINY);
let model = store.headOf('A');
if (model === undefined || model.header.type !== 'model') {
  addModel(store);
  model = store.headOf('A');
}
const modelId = model!.id;
let n = store.height('B') + store.height('C');
for (;;) {
  n++;
  const payload = deterministicBytes(`crash-${n}`, 1024 + ((n * 7919) % 65536));
  if (n % 3 === 0) {
    const head = store.headOf('C')!;
    const tx = dagCbor.encode({ n });
    const block = createBlock(
      { chain: 'C', index: head.header.index + 1, prev: head.id, deps: [], type: 'txbatch', time: head.header.time + 1 },
      tx,
      TEST_KEY,
      TINY,
    );
    store.append(block, tx);
    process.stdout.write(`committed ${toHex(block.id)}\n`);
  } else if (n % 3 === 1) {
    // a batch of two blocks in one transaction: both or neither
    const a = expertBlock(modelId, n % 4, n, payload);
    const pb = deterministicBytes(`crash-b-${n}`, 2048);
    const b = expertBlock(modelId, n % 4, n, pb, { base: a, type: 'delta' });
    store.appendBatch([{ block: a, payload }, { block: b, payload: pb }]);
    process.stdout.write(`committed ${toHex(a.id)}\ncommitted ${toHex(b.id)}\n`);
  } else {
    const block = expertBlock(modelId, n % 4, n, payload);
    store.append(block, payload);
    process.stdout.write(`committed ${toHex(block.id)}\n`);
  }
}
