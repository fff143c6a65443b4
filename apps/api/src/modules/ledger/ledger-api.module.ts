import { Module } from '@nestjs/common';
import { LedgerModule } from '@app/persistence/module';
import { LedgerController } from './ledger.controller';

/** /v1/accounts, /v1/journal, /v1/audit: balances, statements, the journal and its digests. */
@Module({ imports: [LedgerModule], controllers: [LedgerController] })
export class LedgerApiModule {}
