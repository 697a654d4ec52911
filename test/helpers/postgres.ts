import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL server for tests and benches: a fresh cluster in a temp dir, listening only on
 * 127.0.0.1 (a free port) and on a unix socket inside the temp dir, stopped and removed by stop().
 *
 * The server binaries come from Debian's `postgresql` package (.ci/run installs it). When they are missing
 * this throws: a ledger test that needs PostgreSQL must fail loudly, never skip. PostgreSQL refuses to run
 * as root, and tests run as root here and in CI, so initdb and pg_ctl run as the `postgres` user that the
 * Debian package creates, via runuser, over a data dir owned by that user.
 */
export interface PgServer {
  readonly port: number;
  /** A connection URL for a database of this server. */
  url(database: string): string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

const PG_LIB = '/usr/lib/postgresql';

function findBinDir(): string {
  const fromEnv = process.env.BLYAN_PG_BIN;
  if (fromEnv !== undefined && existsSync(join(fromEnv, 'pg_ctl'))) return fromEnv;
  const versions = existsSync(PG_LIB) ? readdirSync(PG_LIB).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const dir = join(PG_LIB, v, 'bin');
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error(
    `PostgreSQL server binaries (initdb, pg_ctl) not found under ${PG_LIB}/<version>/bin or $BLYAN_PG_BIN: ` +
      'install Debian\'s "postgresql" package (apt-get install postgresql; .ci/run does this) to run the PostgreSQL ledger tests',
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  /** fsync and synchronous commit (default false: tests do not survive a power cut, and they run 3× faster). */
  readonly durable?: boolean;
}

export async function startPostgres(opts: StartOptions = {}): Promise<PgServer> {
  const bin = findBinDir();
  const asRoot = userInfo().uid === 0;
  // As root: run as the Debian package's `postgres` user; otherwise as ourselves.
  const run = (cmd: string, args: string[]) => {
    const full = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] as const : [join(bin, cmd), args] as const;
    const r = spawnSync(full[0], full[1], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stderr}${r.stdout}`);
  };
  const root = mkdtempSync(join(tmpdir(), 'blyan-pg-'));
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) throw new Error('running as root but there is no "postgres" user (Debian\'s postgresql package creates it)');
    chownSync(root, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  }
  const data = join(root, 'data');
  const log = join(root, 'server.log');
  let started = false;
  const stop = () => {
    if (started) {
      started = false;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
    }
    rmSync(root, { recursive: true, force: true });
  };
  // A test that dies before its after() hook must not leave a server behind.
  process.once('exit', stop);
  try {
    run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const durable = opts.durable === true ? 'on' : 'off';
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      const settings = `-c listen_addresses=127.0.0.1 -p ${port} -k ${root} -c fsync=${durable} -c synchronous_commit=${durable} -c full_page_writes=${durable} -c max_connections=200`;
      try {
        run('pg_ctl', ['-D', data, '-l', log, '-o', settings, '-w', '-t', '60', 'start']);
        started = true;
        break;
      } catch (err) {
        // Another process may have taken the port between freePort() and the server's bind: try another.
        if (attempt >= 3) throw new Error(`${(err as Error).message}\n${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
      }
    }
    const url = (database: string) => `postgresql://postgres@127.0.0.1:${port}/${database}`;
    return {
      port,
      url,
      async createDatabase(name: string) {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
        const c = new pg.Client({ connectionString: url('postgres') });
        await c.connect();
        try {
          await c.query(`CREATE DATABASE ${name}`);
        } finally {
          await c.end();
        }
        return url(name);
      },
      stop: () => {
        process.removeListener('exit', stop);
        stop();
      },
    };
  } catch (err) {
    stop();
    throw err;
  }
}
