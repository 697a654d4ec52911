/**
 * Hugging Face safetensors: reading files and checkpoints without loading them whole, and writing files
 * byte-identical to the reference library's. What is accepted and checked: docs/safetensors.md.
 */
export { type Checkpoint, type CheckpointTensorInfo, INDEX_FILE, openCheckpoint, SINGLE_FILE } from './checkpoint.ts';
export { MAX_SAFETENSORS_HEADER, type MetadataPosition, type SafetensorsTensorInfo } from './safetensorsHeader.ts';
export { openSafetensors, type SafetensorsFile } from './safetensorsRead.ts';
export { type SafetensorsInput, type WriteSafetensorsOptions, writeSafetensors } from './safetensorsWrite.ts';
