import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { type Preset, presetByName } from '../chain/presets.ts';
import { BlockStore } from '../chain/store.ts';
import { BlyanError } from '../errors.ts';

/** `<data>/blyan.json` names the network a data dir belongs to, so commands need no --preset. */
const DataDirConfig = z.object({
  preset: z.enum(['tiny', 'devnet']),
  genesis: z.string().regex(/^[0-9a-f]{64}$/),
});
export type DataDirConfig = z.infer<typeof DataDirConfig>;

function configPath(dataDir: string): string {
  return join(dataDir, 'blyan.json');
}

export function readDataDirConfig(dataDir: string): DataDirConfig | undefined {
  const path = configPath(dataDir);
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new BlyanError('STORE_CORRUPT', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = DataDirConfig.safeParse(raw);
  if (!parsed.success) throw new BlyanError('STORE_CORRUPT', `${path} is damaged: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

export function openStore(dataDir: string): BlockStore {
  const config = readDataDirConfig(dataDir);
  if (config === undefined) {
    throw new BlyanError('STORE_NOT_INITIALISED', `no Blyan chain in ${dataDir}: run \`blyan init --data ${dataDir}\` first`);
  }
  const preset = presetByName(config.preset);
  if (config.genesis !== preset.genesisId) {
    throw new BlyanError(
      'STORE_GENESIS_MISMATCH',
      `${dataDir} holds the network with genesis ${config.genesis}; this version of blyan knows ${preset.network} as ${preset.genesisId}`,
    );
  }
  return BlockStore.open(dataDir, preset);
}

/** Creates (or reopens) the data dir for a preset; refuses a dir that holds another network. */
export function initStore(dataDir: string, preset: Preset): { store: BlockStore; created: boolean } {
  const existing = readDataDirConfig(dataDir);
  if (existing !== undefined && existing.genesis !== preset.genesisId) {
    throw new BlyanError(
      'STORE_GENESIS_MISMATCH',
      `${dataDir} already holds the ${existing.preset} network (genesis ${existing.genesis.slice(0, 16)}…); use another --data dir for ${preset.name}`,
    );
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const result = BlockStore.init(dataDir, preset);
  if (existing === undefined) {
    writeFileSync(configPath(dataDir), `${JSON.stringify({ preset: preset.name, genesis: preset.genesisId }, null, 2)}\n`);
  }
  return result;
}
