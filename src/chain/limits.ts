/**
 * Protocol limits that bound what a decoder accepts before doing any work (docs/block-rules.md, "Limits").
 * They are the same on every network; payload size limits live in the presets.
 */
export const MAX_HEADER_BYTES = 4096;
export const MAX_DEPS = 64;
export const MAX_NAME_LENGTH = 96;
export const MAX_LAYER = 65_535;
export const NONCE_BYTES = 8;
/** Payloads are verified in tiles of this size (tileRoot). */
export const TILE_BYTES = 4 * 1024 * 1024;
