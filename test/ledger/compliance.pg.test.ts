// The ledger compliance suite on PostgreSQL, against a real server this file starts (test/helpers/postgres.ts).
// Without the PostgreSQL binaries the before() hook throws and every test here fails: never a silent skip.
import { after, before } from 'node:test';
import { type PgServer, startPostgres } from '../helpers/postgres.ts';
import { runLedgerCompliance } from './compliance.ts';
import { pgEnv } from './pgEnv.ts';

let server: PgServer | undefined;
before(async () => {
  server = await startPostgres();
});
after(() => server?.stop());

runLedgerCompliance('PostgreSQL', pgEnv(() => {
  if (server === undefined) throw new Error('the PostgreSQL test server did not start');
  return server;
}));
