// The ledger compliance suite on the embedded LMDB store.
import { runLedgerCompliance } from './compliance.ts';
import { lmdbEnv } from './helpers.ts';

runLedgerCompliance('LMDB', lmdbEnv);
