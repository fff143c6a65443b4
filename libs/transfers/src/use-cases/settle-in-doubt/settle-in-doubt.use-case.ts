import { DomainError, Logger } from '@app/common';
import { Money } from '@app/ledger';
import { Database, Tx } from '@app/persistence';
import { ProviderOutcome, SubaccountListBody } from '@app/provider';
import { evaluateInDoubt, learnSpendBound, SpendBoundPolicy, Verdict } from '../../domain/evidence';
import { EvidenceQueries, evidenceJson } from '../../persistence/evidence.queries';
import { ResolveTransferUseCase } from '../resolve-transfer/resolve-transfer.use-case';

/** The provider read a probe needs (SmsPartnerClient implements it). */
export interface BalanceProbe {
  listSubaccounts(page: number): Promise<ProviderOutcome<SubaccountListBody>>;
}

export interface SettleInDoubtOptions {
  providerAccount: string;
  /** RECONCILE_IN_DOUBT_GRACE_MS: a late application of an in-doubt call lands before in_doubt_at + grace. */
  graceMs: number;
  /** IN_DOUBT_PROBE_DELAY_MS: the first probe this long after a call goes in doubt; the second this long after the grace. */
  probeDelayMs: number;
  /** IN_DOUBT_SPEND_FACTOR, IN_DOUBT_SPEND_FLOOR, IN_DOUBT_MIN_HISTORY_WINDOWS. */
  spend: Omit<SpendBoundPolicy, 'minWindowSeconds'> & { minWindowSeconds?: number };
  /** Who resolves: `system:evidence` for the worker, `system:reconciliation` for a run. */
  actor?: string;
  logger?: Logger;
  maxListPages?: number;
}

export interface SettleResult { probed: number; evaluated: number; settled: number; undecided: number }

export const EVIDENCE_ACTOR = 'system:evidence';

interface InDoubtRow { id: string; token: string; account_id: string; in_doubt_at: Date; db_now: Date; last_read: Date | null; last_obs: string | null; evaluated_obs: string | null; evaluated_at: Date | null }

/**
 * Settles in-doubt transfers as soon as the evidence decides (docs/in-doubt.md): probes the
 * sub-account's balance soon after the call went in doubt and once the grace has passed,
 * evaluates the readings that bracket the call (domain/evidence.ts) and posts or voids it
 * through ResolveTransferUseCase, journaled with the evidence. Undecided: the evidence is
 * stored for the operator and evaluated again whenever a new reading arrives.
 */
export class SettleInDoubtUseCase {
  private readonly pageOf = new Map<string, number>();
  private readonly policy: SpendBoundPolicy;

  constructor(
    private readonly db: Database,
    private readonly provider: BalanceProbe,
    private readonly resolve: ResolveTransferUseCase,
    private readonly queries: EvidenceQueries,
    private readonly opts: SettleInDoubtOptions,
  ) {
    this.policy = { minWindowSeconds: 5, ...opts.spend };
  }

  /** One tick of the worker: probes that are due, then every sub-account with new readings. */
  async execute(): Promise<SettleResult> {
    const rows = await this.inDoubt();
    const result: SettleResult = { probed: 0, evaluated: 0, settled: 0, undecided: 0 };
    if (!rows.length) return result;
    const byToken = new Map<string, InDoubtRow[]>();
    for (const r of rows) byToken.set(r.token, [...(byToken.get(r.token) ?? []), r]);
    const due: string[] = [];
    for (const [token, list] of byToken) if (this.probeDue(list)) due.push(token);
    if (due.length) result.probed = await this.probe(due);
    const fresh = due.length ? await this.inDoubt() : rows;
    const freshBy = new Map<string, InDoubtRow[]>();
    for (const r of fresh) freshBy.set(r.token, [...(freshBy.get(r.token) ?? []), r]);
    for (const [token, list] of freshBy) {
      // Evaluated again only when something new was read (or never evaluated, or a while ago: other transfers may have settled).
      const stale = list.some((r) => r.evaluated_obs === null || r.evaluated_obs !== r.last_obs || !r.evaluated_at || list[0].db_now.getTime() - r.evaluated_at.getTime() > 30_000);
      if (!stale) continue;
      const r = await this.evaluate(token);
      result.evaluated++;
      result.settled += r.settled;
      result.undecided += r.undecided;
    }
    return result;
  }

  /**
   * Evaluates one sub-account's in-doubt transfers and resolves the decided ones. Also used
   * by a reconciliation run right after it stored its list reading.
   */
  async evaluate(token: string, actor = this.opts.actor ?? EVIDENCE_ACTOR): Promise<{ settled: number; undecided: number; verdicts: Verdict[]; applied: Array<{ id: string; effect: Money }> }> {
    const target = await this.queries.target(this.opts.providerAccount, token);
    const out = { settled: 0, undecided: 0, verdicts: [] as Verdict[], applied: [] as Array<{ id: string; effect: Money }> };
    if (!target) return out;
    const open = await this.db.query<{ id: string; call_started_at: Date | null; created_at: Date }>(
      `SELECT id, call_started_at, created_at FROM transfers WHERE provider_account_id = $1 AND subaccount_token = $2 AND status = 'in_doubt' ORDER BY seq`,
      [this.opts.providerAccount, token],
    );
    if (!open.length) return out;
    const since = new Date(Math.min(...open.map((o) => (o.call_started_at ?? o.created_at).getTime())));
    const readings = await this.queries.readings(target.accountId, since);
    const movements = await this.queries.movements(this.opts.providerAccount, token, readings.length ? new Date(readings[0].from) : since);
    const bound = target.isBuyer ? null : learnSpendBound(await this.queries.usageWindows(this.opts.providerAccount, token, target.accountId, 30, undefined, this.policy.minWindowSeconds), this.policy);
    const verdicts = evaluateInDoubt({ readings, movements, isBuyer: target.isBuyer, bound, graceMs: this.opts.graceMs });
    const openIds = new Set(open.map((o) => o.id));
    const lastObs = readings.length ? readings.map((r) => BigInt(r.id)).reduce((a, b) => (b > a ? b : a)).toString() : null;
    const [{ now }] = await this.db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    for (const v of verdicts.filter((x) => openIds.has(x.transferId))) {
      out.verdicts.push(v);
      const json = evidenceJson(v, now);
      if (v.status === 'decided' && v.outcome) {
        try {
          await this.resolve.execute({
            providerAccount: this.opts.providerAccount, transferId: v.transferId, outcome: v.outcome, actor,
            reason: `evidence: ${v.summary}`, evidence: { ...json },
          }, (tx) => this.store(tx, v.transferId, json, lastObs));
          out.settled++;
          if (v.outcome === 'applied') out.applied.push({ id: v.transferId, effect: movements.find((m) => m.id === v.transferId)!.effect });
          this.opts.logger?.info({ transferId: v.transferId, outcome: v.outcome, actor }, 'in-doubt transfer settled by evidence');
        } catch (err) {
          // Resolved meanwhile (an operator, a late answer, another worker): nothing to do.
          if (!(err instanceof DomainError && err.code === 'invalid_state')) throw err;
        }
      } else {
        await this.store(this.db, v.transferId, json, lastObs);
        out.undecided++;
      }
    }
    return out;
  }

  private async store(tx: Tx | Database, transferId: string, json: ReturnType<typeof evidenceJson>, lastObs: string | null): Promise<void> {
    await tx.query(
      `INSERT INTO transfer_evidence (transfer_id, provider_account_id, status, outcome, evidence, last_observation_id)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (transfer_id) DO UPDATE SET status = EXCLUDED.status, outcome = EXCLUDED.outcome, evidence = EXCLUDED.evidence,
              last_observation_id = EXCLUDED.last_observation_id, evaluated_at = clock_timestamp()
        WHERE transfer_evidence.status = 'undecided'`,
      [transferId, this.opts.providerAccount, json.status, json.outcome, JSON.stringify(json), lastObs],
    );
  }

  private async inDoubt(): Promise<InDoubtRow[]> {
    return this.db.query<InDoubtRow>(
      `SELECT t.id, t.subaccount_token AS token, s.account_id, coalesce(t.in_doubt_at, t.updated_at) AS in_doubt_at, clock_timestamp() AS db_now,
              r.last_read, r.last_obs, e.last_observation_id AS evaluated_obs, e.evaluated_at
         FROM transfers t
         JOIN subaccounts s ON s.provider_account_id = t.provider_account_id AND s.token = t.subaccount_token
         LEFT JOIN transfer_evidence e ON e.transfer_id = t.id
         LEFT JOIN LATERAL (SELECT max(coalesce(o.read_started_at, o.observed_at)) AS last_read, max(o.id)::text AS last_obs
                              FROM observations o WHERE o.account_id = s.account_id) r ON true
        WHERE t.provider_account_id = $1 AND t.status = 'in_doubt' ORDER BY t.seq LIMIT 1000`,
      [this.opts.providerAccount],
    );
  }

  /** A probe soon after the call went in doubt, and one once the grace has passed, unless a reading already covers it. */
  private probeDue(list: InDoubtRow[]): boolean {
    const now = list[0].db_now.getTime();
    const lastRead = list[0].last_read?.getTime() ?? 0;
    const first = Math.min(...list.map((r) => r.in_doubt_at.getTime()));
    const deadline = Math.max(...list.map((r) => r.in_doubt_at.getTime())) + this.opts.graceMs;
    if (now >= deadline && lastRead < deadline) return true;
    return now >= first + this.opts.probeDelayMs && lastRead < first && now < deadline;
  }

  /**
   * Reads the sub-accounts' balances from the provider's list (paged; the page each token was
   * last seen on is tried first) and stores each as a `probe` observation with the interval
   * it was taken in and the ledger's posted balance at that point.
   */
  private async probe(tokens: string[]): Promise<number> {
    const wanted = new Set(tokens);
    const pages = [...new Set(tokens.map((t) => this.pageOf.get(t)).filter((p): p is number => p !== undefined))];
    let stored = 0;
    const visit = async (page: number): Promise<boolean> => {
      const [{ started }] = await this.db.query<{ started: Date }>('SELECT clock_timestamp() AS started');
      const o = await this.provider.listSubaccounts(page);
      if (o.kind !== 'ok') {
        this.opts.logger?.warn({ page, outcome: o.kind }, 'in-doubt probe: the provider list could not be read; will try again');
        return false;
      }
      const found = o.body.items.filter((i) => wanted.has(i.token));
      for (const i of o.body.items) this.pageOf.set(i.token, page);
      if (found.length) {
        await this.db.query(
          `INSERT INTO observations (provider_account_id, account_id, source, balance, expected, settled, read_started_at)
           SELECT $1, s.account_id, 'probe', v.balance, b.debits_posted - b.credits_posted,
                  NOT EXISTS (SELECT 1 FROM transfers e WHERE e.provider_account_id = $1 AND e.subaccount_token = v.token AND e.status = 'executing'), $4
             FROM unnest($2::text[], $3::numeric[]) AS v(token, balance)
             JOIN subaccounts s ON s.provider_account_id = $1 AND s.token = v.token
             JOIN balances b ON b.account_id = s.account_id`,
          [this.opts.providerAccount, found.map((i) => i.token), found.map((i) => i.balance.toFixed()), started],
        );
        for (const i of found) wanted.delete(i.token);
        stored += found.length;
      }
      return o.body.items.length > 0 && page * Math.max(1, o.body.perPage) < o.body.total;
    };
    for (const p of pages) if (wanted.size) await visit(p);
    const maxPages = this.opts.maxListPages ?? 10_000;
    for (let page = 1; wanted.size && page <= maxPages; page++) {
      if (pages.includes(page)) continue;
      if (!(await visit(page))) break;
    }
    return stored;
  }
}
