/**
 * TensorBlock: the payload format of a chain-B block holding tensors (an expert's weights, a router, base
 * weights). The format and its rules are in docs/tensorblock.md; the layout constants in
 * tensorBlockFormat.ts, the two directions in tensorBlockEncode.ts and tensorBlockDecode.ts.
 */
export { decodeTensorBlock, type TensorBlock } from './tensorBlockDecode.ts';
export { encodeTensorBlock, type TensorInput } from './tensorBlockEncode.ts';
export { ALIGN, MAGIC, MAX_HEADER_BYTES, MAX_NAME_LENGTH, MAX_RANK, MAX_TENSORS, VERSION } from './tensorBlockFormat.ts';
