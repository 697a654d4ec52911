import { Worker } from 'node:worker_threads';

/**
 * A worker thread running a TypeScript module. There is no build step, so the worker must load tsx's
 * loader itself: on Node 20 a worker given `execArgv: ['--import', 'tsx']` still resolves its `.ts` entry
 * before the hooks apply (ERR_UNKNOWN_FILE_EXTENSION), and a node started through bin/blyan.js has no
 * `--import` to inherit at all. So the worker starts from a tiny script that registers tsx, then imports
 * the entry: the same in tests (`node --import tsx`) and in production (`tsx/esm/api` register()).
 */
export function tsWorker(entry: URL, workerData: unknown): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
