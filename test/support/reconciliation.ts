import { Money, TransferDirection } from '@app/ledger';
import {
  ReconciliationQueries, ResolveDriftUseCase, RunReconciliationOptions, RunReconciliationUseCase,
} from '@app/reconciliation';
import { SubaccountReads } from '@app/subaccounts';
import { Transfer } from '@app/transfers';
import { pipelineFixture, PipelineOptions } from './pipeline';

export const OPERATOR = 'token:finance#1/operator';

/**
 * The transfer pipeline fixture (real Postgres, the sandbox over HTTP, BullMQ) plus the
 * reconciliation use cases, with every sub-account funded through real transfers so that the
 * ledger and the provider start equal.
 */
export async function reconciliationFixture(opts: PipelineOptions & { fundEach?: string; run?: RunReconciliationOptions } = {}) {
  const p = await pipelineFixture({ subaccounts: opts.subaccounts ?? 4, mainBalance: opts.mainBalance ?? '1000.000' });
  const queries = new ReconciliationQueries(p.db);
  const resolveDrift = new ResolveDriftUseCase(p.db, p.ledger);
  const useCase = (provider: SubaccountReads = p.client, extra: RunReconciliationOptions = {}) =>
    new RunReconciliationUseCase(p.db, p.ledger, provider, p.resolve, { inDoubtGraceMs: 0, ...opts.run, ...extra });
  const reconcile = useCase();

  /** The sandbox's control API, over HTTP like everything else. */
  async function control<T = unknown>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${p.sandbox.url}/__sandbox${path}`, {
      method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`sandbox ${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  async function transfer(token: string, direction: TransferDirection, amount: string): Promise<Transfer> {
    const { transfer: t } = await p.record.execute({ providerAccount: p.providerAccount, subaccount: token, direction, amount: Money.parse(amount), actor: OPERATOR });
    await p.execute.execute(t.id);
    return (await p.transfers.get(p.providerAccount, t.id))!;
  }

  const fundEach = opts.fundEach ?? '20.000';
  for (const t of p.tokens) {
    const done = await transfer(t, 'add', fundEach);
    if (done.status !== 'posted') throw new Error(`funding ${t}: ${done.status}`);
  }

  return {
    ...p, queries, resolveDrift, reconcile, useCase, control, transfer,
    run: (uc: RunReconciliationUseCase = reconcile) => uc.execute({ providerAccount: p.providerAccount, trigger: 'manual', actor: OPERATOR }),
    usage: (target: { token: string } | 'main', amount: string) => control('POST', '/usage', target === 'main' ? { apiKey: p.apiKey, amount } : { ...target, amount }),
    purchase: (amount: string) => control('POST', '/purchase', { apiKey: p.apiKey, amount }),
    fault: (rule: Record<string, unknown>) => control('POST', '/faults', rule),
    clearFaults: () => control('DELETE', '/faults'),
    sandboxLog: () => control<Array<{ route: string; token: string; amount: string; faultApplied?: string }>>('GET', '/log'),
    /** A transfer left in doubt by a sandbox fault on its call. */
    async inDoubt(token: string, direction: TransferDirection, amount: string, fault: 'apply_then_drop' | 'drop_before_apply' | 'http_503'): Promise<Transfer> {
      await control('POST', '/faults', { route: direction, fault, count: 1 });
      const t = await transfer(token, direction, amount);
      if (t.status !== 'in_doubt') throw new Error(`expected in_doubt, got ${t.status}`);
      return t;
    },
    async openFindings() {
      return (await queries.listFindings(p.providerAccount, { status: 'open', limit: 500 })).data;
    },
    async posted(code: string): Promise<string> {
      return (await p.queries.balance(p.providerAccount, code)).posted.toFixed();
    },
  };
}

export type ReconciliationFixture = Awaited<ReturnType<typeof reconciliationFixture>>;
