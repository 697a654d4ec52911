import type { FastifyInstance } from 'fastify';
import { toHex } from '../../chain/hash.ts';
import type { BlockStore } from '../../chain/store.ts';
import type { Block } from '../../chain/types.ts';
import { BlyanError } from '../../errors.ts';
import { blockJson } from '../blockJson.ts';
import type { ApiDeps } from '../deps.ts';
import { hashParam } from './params.ts';

function findBlock(store: BlockStore, hash: unknown): Block {
  const id = hashParam(hash, 'hash');
  const block = store.getBlock(id);
  if (block === undefined) throw new BlyanError('NOT_FOUND', `no block ${toHex(id)}`);
  return block;
}

export function blockRoutes(app: FastifyInstance, { store }: ApiDeps): void {
  app.get('/blocks/:hash', async (req) => {
    const block = findBlock(store, (req.params as { hash?: unknown }).hash);
    return blockJson(block, store.positionOf(block.id));
  });

  /** The canonical header bytes (DAG-CBOR): SHA-256 of them is the block hash (docs/block-encoding.md). */
  app.get('/blocks/:hash/header', async (req, reply) => {
    const block = findBlock(store, (req.params as { hash?: unknown }).hash);
    const b = block.headerBytes;
    return reply
      .type('application/octet-stream')
      .header('x-block-hash', toHex(block.id))
      .send(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  });

  app.get('/blocks/:hash/payload', async (req, reply) => {
    const block = findBlock(store, (req.params as { hash?: unknown }).hash);
    const payload = block.header.payloadSize === 0 ? new Uint8Array(0) : store.getPayload(block.header.payloadHash);
    if (payload === undefined) throw new BlyanError('NOT_FOUND', `the payload of block ${toHex(block.id)} is not stored on this node`);
    return reply
      .type('application/octet-stream')
      .header('x-payload-hash', toHex(block.header.payloadHash))
      .send(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
  });
}
