import { hostname } from 'node:os';
import { Module, OnApplicationShutdown } from '@nestjs/common';
import { Logger, Semaphore } from '@app/common';
import { Queues } from '@app/common/module';
import { Config, CONFIG, LOGGER } from '@app/config';
import { Money } from '@app/ledger';
import { Database, LedgerRepository, ObservationsRepository } from '@app/persistence';
import { LedgerModule } from '@app/persistence/module';
import { SmsPartnerClient, SubaccountKeyAwareCredits } from '@app/provider';
import { ProviderModule } from '@app/provider/module';
import { SubaccountsRepository } from '@app/subaccounts';
import { SubaccountsStoreModule } from '@app/subaccounts/store';
import { EvidenceQueries } from './persistence/evidence.queries';
import { InDoubtBarrier, NO_BARRIER } from './domain/in-doubt-barrier';
import { TransferSweepsRepository } from './persistence/transfer-sweeps.repository';
import { TransfersRepository } from './persistence/transfers.repository';
import { BullTransferQueue } from './transfer-queue';
import { ExecuteTransferUseCase } from './use-cases/execute-transfer/execute-transfer.use-case';
import { PostedSettlements } from './use-cases/execute-transfer/posted-settlements';
import { ClaimGroups } from './use-cases/execute-transfer/claim-group';
import { RedisCallRate } from './provider-call-rate';
import { ExecuteTransferJobUseCase } from './use-cases/execute-transfer/execute-transfer-job.use-case';
import { RecordTransferBatchUseCase } from './use-cases/record-transfer-batch/record-transfer-batch.use-case';
import { RecordTransferUseCase } from './use-cases/record-transfer/record-transfer.use-case';
import { ResolveTransferUseCase } from './use-cases/resolve-transfer/resolve-transfer.use-case';
import { SettleInDoubtUseCase } from './use-cases/settle-in-doubt/settle-in-doubt.use-case';
import { SweepTransfersUseCase } from './use-cases/sweep-transfers/sweep-transfers.use-case';

/**
 * IN_DOUBT_BARRIER: which later transfers of a sub-account wait (at most
 * IN_DOUBT_BARRIER_MAX_MS) while one is in doubt and the worker is settling it
 * (IN_DOUBT_AUTO_SETTLE); without settlement there is nothing to wait for.
 */
export function inDoubtBarrier(config: Config): InDoubtBarrier {
  if (config.IN_DOUBT_BARRIER === 'off' || !config.IN_DOUBT_AUTO_SETTLE) return NO_BARRIER;
  return { ms: config.IN_DOUBT_BARRIER_MAX_MS, within: config.IN_DOUBT_BARRIER === 'close' ? Money.parse(config.IN_DOUBT_SPEND_FLOOR).toFixed() : null };
}

/** The spending-history bounds of the evidence rules (docs/in-doubt.md). */
export function spendBounds(config: Config) {
  return { floor: Money.parse(config.IN_DOUBT_SPEND_FLOOR), factor: config.IN_DOUBT_SPEND_FACTOR, minWindows: config.IN_DOUBT_MIN_HISTORY_WINDOWS };
}

const WORKER_ID = `${hostname()}:${process.pid}`;

/**
 * Transfers: recorded (RecordTransferUseCase, the batch), executed against the provider by the
 * worker (the execute-transfer job: ExecuteTransferJobUseCase → ExecuteTransferUseCase), swept, resolved by a person or
 * settled from evidence (SettleInDoubtUseCase). The factories below are the one place these
 * constructors are called in the apps. The producer queue is closed with the application.
 */
@Module({
  imports: [LedgerModule, ProviderModule, SubaccountsStoreModule],
  providers: [
    { provide: TransfersRepository, inject: [Database], useFactory: (db: Database) => new TransfersRepository(db) },
    { provide: BullTransferQueue, inject: [Queues], useFactory: (q: Queues) => new BullTransferQueue(q.connection, q.prefix) },
    { provide: EvidenceQueries, inject: [Database, CONFIG], useFactory: (db: Database, c: Config) => new EvidenceQueries(db, c.RECONCILE_IN_DOUBT_GRACE_MS) },
    {
      provide: RecordTransferUseCase,
      inject: [Database, LedgerRepository, TransfersRepository, SubaccountsRepository, BullTransferQueue, CONFIG, LOGGER],
      useFactory: (db: Database, ledger: LedgerRepository, transfers: TransfersRepository, subaccounts: SubaccountsRepository, queue: BullTransferQueue, c: Config, logger: Logger) =>
        new RecordTransferUseCase(db, ledger, transfers, subaccounts, queue, { expirySeconds: c.TRANSFER_EXPIRY_SECONDS, logger }),
    },
    { provide: RecordTransferBatchUseCase, inject: [RecordTransferUseCase], useFactory: (record: RecordTransferUseCase) => new RecordTransferBatchUseCase(record) },
    {
      provide: ExecuteTransferUseCase,
      inject: [Database, LedgerRepository, TransfersRepository, ObservationsRepository, SubaccountKeyAwareCredits, SettleInDoubtUseCase, Queues, CONFIG, LOGGER],
      useFactory: (
        db: Database, ledger: LedgerRepository, transfers: TransfersRepository, observations: ObservationsRepository, credits: SubaccountKeyAwareCredits,
        settle: SettleInDoubtUseCase, q: Queues, c: Config, logger: Logger,
      ) =>
        new ExecuteTransferUseCase(db, ledger, transfers, observations, credits, {
          providerAccount: c.PROVIDER_ACCOUNT,
          callSlots: new Semaphore(c.WORKER_CONCURRENCY),
          claimSlots: new Semaphore(c.WORKER_CONCURRENCY),
          settlements: new PostedSettlements(db, ledger, transfers, observations, WORKER_ID, logger),
          claims: new ClaimGroups(db, { providerAccount: c.PROVIDER_ACCOUNT, workerId: WORKER_ID, leaseMs: c.EXECUTION_LEASE_MS, inDoubtBarrier: inDoubtBarrier(c), logger }),
          // Counted in calls and shared by every worker of the provider account; jobs that make no call give their permit back.
          callRate: new RedisCallRate(q.connection, `${q.prefix}:provider-calls:${c.PROVIDER_ACCOUNT}`, c.PROVIDER_RATE_LIMIT_PER_SECOND),
          leaseMs: c.EXECUTION_LEASE_MS,
          workerId: WORKER_ID,
          maxAttempts: c.PROVIDER_MAX_ATTEMPTS,
          baseDelayMs: c.PROVIDER_RETRY_BASE_MS,
          logger,
          inDoubtBarrier: inDoubtBarrier(c),
          // IN_DOUBT_FRESH_READING_MS: a fresh reading of the sub-account right before a call when its last one is old (docs/in-doubt.md).
          beforeCall: c.IN_DOUBT_AUTO_SETTLE ? (id) => settle.beforeCall(id) : undefined,
        }),
    },
    {
      provide: ExecuteTransferJobUseCase,
      inject: [ExecuteTransferUseCase, BullTransferQueue],
      useFactory: (execute: ExecuteTransferUseCase, queue: BullTransferQueue) => new ExecuteTransferJobUseCase(execute, queue),
    },
    {
      provide: ResolveTransferUseCase,
      inject: [Database, LedgerRepository, TransfersRepository],
      useFactory: (db: Database, ledger: LedgerRepository, transfers: TransfersRepository) => new ResolveTransferUseCase(db, ledger, transfers),
    },
    {
      provide: SettleInDoubtUseCase,
      inject: [Database, SmsPartnerClient, ResolveTransferUseCase, EvidenceQueries, CONFIG, LOGGER],
      useFactory: (db: Database, provider: SmsPartnerClient, resolve: ResolveTransferUseCase, evidence: EvidenceQueries, c: Config, logger: Logger) =>
        new SettleInDoubtUseCase(db, provider, resolve, evidence, {
          providerAccount: c.PROVIDER_ACCOUNT, graceMs: c.RECONCILE_IN_DOUBT_GRACE_MS, probeDelayMs: c.IN_DOUBT_PROBE_DELAY_MS, spend: spendBounds(c), logger,
          freshReadingMs: c.IN_DOUBT_FRESH_READING_MS, rereadMs: c.IN_DOUBT_REREAD_MS, rereadForMs: c.IN_DOUBT_REREAD_FOR_MS,
        }),
    },
    {
      provide: SweepTransfersUseCase,
      inject: [Database, LedgerRepository, TransfersRepository, BullTransferQueue, CONFIG, LOGGER],
      useFactory: (db: Database, ledger: LedgerRepository, transfers: TransfersRepository, queue: BullTransferQueue, c: Config, logger: Logger) =>
        new SweepTransfersUseCase(c.PROVIDER_ACCOUNT, db, ledger, new TransferSweepsRepository(db), queue, logger, inDoubtBarrier(c)),
    },
  ],
  exports: [
    TransfersRepository, BullTransferQueue, EvidenceQueries, RecordTransferUseCase, RecordTransferBatchUseCase, ExecuteTransferUseCase,
    ExecuteTransferJobUseCase, ResolveTransferUseCase, SettleInDoubtUseCase, SweepTransfersUseCase,
  ],
})
export class TransfersModule implements OnApplicationShutdown {
  constructor(private readonly queue: BullTransferQueue) {}

  /** Before the shared connection closes (QueueModule, global, closes last). */
  async onApplicationShutdown(): Promise<void> {
    await this.queue.close().catch(() => undefined);
  }
}
