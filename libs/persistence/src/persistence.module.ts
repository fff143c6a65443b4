import { DynamicModule, Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { Config, CONFIG, journalSigningKey, PROCESS_ROLE, ProcessRole } from '@app/config';
import { Database } from './database';
import { JournalDigests } from './journal-digests.repository';
import { LedgerQueries } from './ledger.queries';
import { LedgerRepository } from './ledger.repository';
import { ObservationsRepository } from './observations.repository';

/**
 * The pool of this process: the API's 20 connections, or the worker's two per call slot plus
 * the periodic tasks' few. Not one per job in flight (WORKER_JOBS_PER_CALL_SLOT per slot): a
 * job waiting for its group (lookup, claim, settlement) holds no connection, each group takes
 * one, and no transaction asks the pool for a second connection, so a job that finds the pool
 * busy only waits its turn. At C = 32, one per job would be 132 connections, past a default
 * Postgres's 100.
 */
export function poolSize(config: Config, role: ProcessRole): number {
  return role === 'api' ? 20 : Math.max(10, 2 * config.WORKER_CONCURRENCY + 4);
}

/**
 * Postgres for the whole process: one `Database` (pool and Prisma client), sized and named by
 * the process role (ConfigModule.forRoot). Global: it is imported once, by the app's root
 * module, and closed when the application closes (its hook runs after the feature modules').
 */
@Global()
@Module({})
export class PersistenceModule implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly db: Database) {}

  static forRoot(): DynamicModule {
    return {
      module: PersistenceModule,
      providers: [{
        provide: Database,
        inject: [CONFIG, PROCESS_ROLE],
        useFactory: (config: Config, role: ProcessRole) => new Database(config.DATABASE_URL, { max: poolSize(config, role), applicationName: `credit-ledger-${role}` }),
      }],
      exports: [Database],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}

/**
 * The ledger's storage: postings and balances (LedgerRepository, the writes every feature
 * records through), its reads (LedgerQueries: balances, statements, journal) and the signed
 * journal digests. Here, beside the database code: libs/ledger stays plain domain (Money, the
 * chart of accounts, postings) with no framework.
 */
@Module({
  providers: [
    { provide: LedgerRepository, inject: [Database], useFactory: (db: Database) => new LedgerRepository(db) },
    { provide: LedgerQueries, inject: [Database], useFactory: (db: Database) => new LedgerQueries(db) },
    { provide: ObservationsRepository, useFactory: () => new ObservationsRepository() },
    {
      provide: JournalDigests,
      inject: [Database, LedgerQueries, CONFIG],
      useFactory: (db: Database, queries: LedgerQueries, config: Config) =>
        new JournalDigests(db, queries, config.JOURNAL_SIGNING_KEY ? journalSigningKey(config.JOURNAL_SIGNING_KEY) : undefined),
    },
  ],
  exports: [LedgerRepository, LedgerQueries, ObservationsRepository, JournalDigests],
})
export class LedgerModule {}
