import { z } from 'zod';
import { fromHex, type Hash } from '../../chain/hash.ts';
import type { ChainLetter } from '../../chain/types.ts';
import { parse } from '../validate.ts';

const HashParam = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'must be a 32-byte hash in hex');
const ChainParam = z.enum(['A', 'B', 'C', 'D']);

export function hashParam(value: unknown, where: string): Hash {
  return fromHex(parse(HashParam, value, where).replace(/^0x/, '').toLowerCase(), 32);
}

export function chainParam(value: unknown, where: string): ChainLetter {
  return parse(ChainParam, value, where);
}
