#!/usr/bin/env node
/**
 * Builds the web UI (web/src → web/dist) with esbuild: one minified ES module and one stylesheet, each
 * named by a hash of its content so the node can serve them as immutable; index.html names them and is
 * served uncached. Everything is bundled: the page loads nothing from another origin.
 *
 *   npm run build:web            (runs on npm ci / npm install through the prepare script)
 *   node scripts/build-web.mjs --quiet
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WEB = join(ROOT, 'web');

/** Builds into `outDir` (default web/dist), replacing it whole. Returns the asset names and sizes. */
export async function buildWeb({ outDir = join(WEB, 'dist'), quiet = false } = {}) {
  const result = await esbuild.build({
    entryPoints: { app: join(WEB, 'src/main.ts'), style: join(WEB, 'src/style.css') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
    platform: 'browser',
    sourcemap: false,
    legalComments: 'none',
    write: false,
    outdir: 'out',
    metafile: false,
    logLevel: quiet ? 'error' : 'warning',
  });
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'assets'), { recursive: true });
  const names = {};
  const sizes = {};
  for (const f of result.outputFiles) {
    const base = f.path.split(/[\\/]/).pop();
    const dot = base.lastIndexOf('.');
    const hash = createHash('sha256').update(f.contents).digest('hex').slice(0, 12);
    const name = `${base.slice(0, dot)}-${hash}${base.slice(dot)}`;
    writeFileSync(join(tmp, 'assets', name), f.contents);
    names[base] = name;
    sizes[name] = f.contents.byteLength;
  }
  if (names['app.js'] === undefined || names['style.css'] === undefined) throw new Error('esbuild did not produce app.js and style.css');
  const html = readFileSync(join(WEB, 'index.html'), 'utf8')
    .replace('%APP_JS%', `/assets/${names['app.js']}`)
    .replace('%STYLE_CSS%', `/assets/${names['style.css']}`);
  if (/%[A-Z_]+%/.test(html)) throw new Error('web/index.html has an unreplaced %PLACEHOLDER%');
  writeFileSync(join(tmp, 'index.html'), html);
  writeFileSync(join(tmp, 'assets', 'favicon.svg'), readFileSync(join(WEB, 'favicon.svg')));
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmp, outDir);
  if (!quiet) {
    for (const [name, size] of Object.entries(sizes)) console.log(`web/dist/assets/${name}  ${(size / 1024).toFixed(1)} KiB`);
  }
  return { outDir, assets: names, sizes };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildWeb({ quiet: process.argv.includes('--quiet') }).catch((err) => {
    console.error(`build:web failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
