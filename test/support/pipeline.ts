import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { ExecuteTransferJob, QUEUES, redisConnection } from '@app/common';
import { Money } from '@app/ledger';
import { Database, LedgerQueries, LedgerRepository, ObservationsRepository } from '@app/persistence';
import { SmsPartnerClient } from '@app/provider';
import { createSandboxServer, SandboxServer } from '@app/sandbox';
import { ImportSubaccountsUseCase, SubaccountsRepository } from '@app/subaccounts';
import {
  BullTransferQueue, ClaimGroups, ExecuteTransferJobUseCase, ExecuteTransferUseCase, RecordTransferUseCase, ResolveTransferUseCase,
  SweepTransfersUseCase, TransferSweepsRepository, TransfersRepository,
} from '@app/transfers';
import { testDatabase, uniqueProviderAccount } from './db';

export interface PipelineOptions { subaccounts?: number; mainBalance?: string; timeoutMs?: number; maxAttempts?: number; expirySeconds?: number; leaseMs?: number }

/**
 * The whole pipeline wired from the libraries, against real Postgres, real Redis (BullMQ)
 * and the provider sandbox over HTTP. The worker apps wire the same use cases with Nest.
 */
export async function pipelineFixture(opts: PipelineOptions = {}) {
  const db: Database = testDatabase(20);
  const apiKey = `key-${randomBytes(6).toString('hex')}`;
  const sandbox: SandboxServer = await createSandboxServer({
    port: 0,
    seed: { seed: apiKey, accounts: [{ apiKey, balance: opts.mainBalance ?? '1000.000', subaccounts: opts.subaccounts ?? 3 }] },
  });
  const client = new SmsPartnerClient({ baseUrl: sandbox.providerBaseUrl, apiKey, timeoutMs: opts.timeoutMs ?? 2_000 });
  const providerAccount = uniqueProviderAccount('p');
  const ledger = new LedgerRepository(db);
  const queries = new LedgerQueries(db);
  const transfers = new TransfersRepository(db);
  const observations = new ObservationsRepository();
  const subaccounts = new SubaccountsRepository(db);
  const prefix = `test-${randomBytes(4).toString('hex')}`;
  const producerConnection = redisConnection(process.env.REDIS_URL!, false);
  const queue = new BullTransferQueue(producerConnection, prefix);
  const record = new RecordTransferUseCase(db, ledger, transfers, subaccounts, queue, { expirySeconds: opts.expirySeconds ?? 3600 });
  const providerCalls: string[] = [];
  const execute = new ExecuteTransferUseCase(db, ledger, transfers, observations, client, {
    providerAccount,
    leaseMs: opts.leaseMs ?? 10_000, workerId: 'test-worker', maxAttempts: opts.maxAttempts ?? 3, baseDelayMs: 50, maxDelayMs: 200,
    onProviderCall: (d, o) => providerCalls.push(`${d}:${o.kind}`),
    // As the worker wires it: claims that start together share a transaction.
    claims: new ClaimGroups(db, { providerAccount, workerId: 'test-worker', leaseMs: opts.leaseMs ?? 10_000 }),
  });
  const resolve = new ResolveTransferUseCase(db, ledger, transfers);
  const sweep = new SweepTransfersUseCase(providerAccount, db, ledger, new TransferSweepsRepository(db), queue);
  const imported = await new ImportSubaccountsUseCase(db, ledger, subaccounts, transfers, observations, client).execute(providerAccount, 'system:test');
  const tokens = sandbox.state.subaccountsOf(apiKey).map((s) => s.token);
  let worker: Worker<ExecuteTransferJob> | undefined;
  const executeJob = new ExecuteTransferJobUseCase(execute, queue);
  const workerConnection = redisConnection(process.env.REDIS_URL!, true);

  return {
    db, sandbox, client, apiKey, providerAccount, ledger, queries, transfers, observations, subaccounts, queue, record, execute, resolve, sweep, imported, tokens, providerCalls, prefix,
    /** A real BullMQ worker running the execute use case, like apps/worker does. */
    startWorker(concurrency = 8) {
      worker = new Worker<ExecuteTransferJob>(
        QUEUES.transfers,
        async (job) => { await executeJob.execute(job.data); },
        { connection: workerConnection, prefix, concurrency },
      );
      return worker;
    },
    async waitFor(predicate: () => Promise<boolean>, timeoutMs = 30_000, what = 'condition') {
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        if (await predicate()) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`timed out waiting for ${what}`);
    },
    async statusCounts(): Promise<Record<string, number>> {
      const rows = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM transfers WHERE provider_account_id = $1 GROUP BY status', [providerAccount]);
      return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    },
    sandboxBalance(token?: string): Money {
      return token ? sandbox.state.getSub(token)!.balance : sandbox.state.getMain(apiKey)!.balance;
    },
    async close() {
      await worker?.close();
      workerConnection.disconnect();
      await queue.queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      producerConnection.disconnect();
      await sandbox.close();
      await db.close();
    },
  };
}

export type Pipeline = Awaited<ReturnType<typeof pipelineFixture>>;
