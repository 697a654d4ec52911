import type { MoeShape } from '../../src/learning/config.ts';

/** A model small enough for finite differences and seconds-long training in tests. */
export const TINY: MoeShape = { vocab: 11, dModel: 16, layers: 2, heads: 2, headDim: 8, experts: 4, topK: 2, hidden: 12, context: 8, ropeTheta: 10000, eps: 1e-5, auxCoef: 0.5 };
