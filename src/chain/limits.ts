/**
 * Protocol limits that bound what a decoder accepts (docs/block-rules.md, "Limits"). The header size is
 * checked before any parsing; the others while fields are parsed, each in constant work per field.
 * They are the same on every network; payload size limits live in the presets.
 */
export const MAX_HEADER_BYTES = 4096;
export const MAX_DEPS = 64;
export const MAX_NAME_LENGTH = 96;
export const MAX_LAYER = 65_535;
export const NONCE_BYTES = 8;
/** Payloads are verified in tiles of this size (tileRoot). */
export const TILE_BYTES = 4 * 1024 * 1024;
/** Latest representable time (ms): JavaScript Dates end at 8.64e15. */
export const MAX_TIME_MS = 8_640_000_000_000_000;
