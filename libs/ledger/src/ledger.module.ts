import { Module } from '@nestjs/common';
import { Config, CONFIG, journalSigningKey } from '@app/config';
import { Database, JournalDigests, LedgerQueries, LedgerRepository } from '@app/persistence';

/**
 * The ledger's storage: postings and balances (LedgerRepository, the writes every feature
 * records through), its reads (LedgerQueries: balances, statements, journal) and the signed
 * journal digests. The classes live in libs/persistence beside the database code; the rest of
 * libs/ledger is plain domain (Money, the chart of accounts, postings). Like every `*.module.ts`,
 * this file is reached through its own alias (`@app/ledger/module`), never the lib's index:
 * Nest 12 is ESM-only and Jest loads the indexes.
 */
@Module({
  providers: [
    { provide: LedgerRepository, inject: [Database], useFactory: (db: Database) => new LedgerRepository(db) },
    { provide: LedgerQueries, inject: [Database], useFactory: (db: Database) => new LedgerQueries(db) },
    {
      provide: JournalDigests,
      inject: [Database, LedgerQueries, CONFIG],
      useFactory: (db: Database, queries: LedgerQueries, config: Config) =>
        new JournalDigests(db, queries, config.JOURNAL_SIGNING_KEY ? journalSigningKey(config.JOURNAL_SIGNING_KEY) : undefined),
    },
  ],
  exports: [LedgerRepository, LedgerQueries, JournalDigests],
})
export class LedgerModule {}
