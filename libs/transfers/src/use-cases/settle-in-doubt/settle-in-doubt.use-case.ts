import { DomainError, Logger } from '@app/common';
import { Money } from '@app/ledger';
import { Database } from '@app/persistence';
import { settleCascade } from '../../domain/evidence-cascade';
import { Verdict } from '../../domain/evidence';
import { SPENDING_WINDOW_SECONDS, SpendBoundPolicy } from '../../domain/spending-history';
import { EvidenceQueries, evidenceJson, InDoubtRow } from '../../persistence/evidence.queries';
import { ResolveTransferUseCase } from '../resolve-transfer/resolve-transfer.use-case';
import { BalanceProbe, BalanceProbes } from './balance-probes';

export interface SettleInDoubtOptions {
  providerAccount: string;
  /** RECONCILE_IN_DOUBT_GRACE_MS: a late application of an in-doubt call lands before in_doubt_at + grace. */
  graceMs: number;
  /** IN_DOUBT_PROBE_DELAY_MS: the first probe this long after a call goes in doubt; the second this long after the grace. */
  probeDelayMs: number;
  /** IN_DOUBT_SPEND_FACTOR, IN_DOUBT_SPEND_FLOOR, IN_DOUBT_MIN_HISTORY_WINDOWS. */
  spend: Omit<SpendBoundPolicy, 'minWindowSeconds'> & { minWindowSeconds?: number };
  /** IN_DOUBT_FRESH_READING_MS: before a call, read its sub-account when its last reading is older (0: never). */
  freshReadingMs?: number;
  /** IN_DOUBT_REREAD_MS: after the grace, read an undecided transfer's sub-account again this often (0: never)… */
  rereadMs?: number;
  /** IN_DOUBT_REREAD_FOR_MS: … for at most this long after its grace. */
  rereadForMs?: number;
  /** Who resolves: `system:evidence` for the worker, `system:reconciliation` for a run. */
  actor?: string;
  logger?: Logger;
  maxListPages?: number;
}

export interface SettleResult { probed: number; evaluated: number; settled: number; undecided: number }

export const EVIDENCE_ACTOR = 'system:evidence';

/** Consecutive exact windows shorter than this merge into one (spending history, docs/in-doubt.md). */
const MERGE_WINDOWS_UNTIL_S = 5;
/** An undecided sub-account is evaluated again at least this often (besides every new reading or change). */
const REEVALUATE_MS = 30_000;

/**
 * Settles in-doubt transfers as soon as the evidence decides (docs/in-doubt.md): probes the
 * sub-account's balance soon after the call went in doubt, once the grace has passed and then
 * every IN_DOUBT_REREAD_MS while undecided; evaluates the readings with the cascade
 * (domain/evidence-cascade.ts) whenever a new reading arrives or a neighbouring transfer
 * changed, and posts or voids the decided ones through ResolveTransferUseCase, journaled
 * with the evidence. Undecided: the evidence is stored for the operator.
 */
export class SettleInDoubtUseCase {
  private readonly policy: SpendBoundPolicy;
  private readonly probes: BalanceProbes;

  constructor(
    private readonly db: Database,
    provider: BalanceProbe,
    private readonly resolve: ResolveTransferUseCase,
    private readonly queries: EvidenceQueries,
    private readonly opts: SettleInDoubtOptions,
  ) {
    this.policy = { minWindowSeconds: SPENDING_WINDOW_SECONDS, ...opts.spend };
    this.probes = new BalanceProbes(provider, queries, { providerAccount: opts.providerAccount, logger: opts.logger, maxListPages: opts.maxListPages });
  }

  /** One tick of the worker: probes that are due, then every sub-account with something new. */
  async execute(): Promise<SettleResult> {
    const rows = await this.queries.inDoubt(this.opts.providerAccount);
    const result: SettleResult = { probed: 0, evaluated: 0, settled: 0, undecided: 0 };
    if (!rows.length) return result;
    const due = [...groupByToken(rows)].filter(([, list]) => this.probeDue(list)).map(([token]) => token);
    if (due.length) result.probed = await this.probes.probe(due);
    const fresh = due.length ? await this.queries.inDoubt(this.opts.providerAccount) : rows;
    for (const [token, list] of groupByToken(fresh)) {
      if (!this.stale(list)) continue;
      const r = await this.evaluate(token);
      result.evaluated++;
      result.settled += r.settled;
      result.undecided += r.undecided;
    }
    return result;
  }

  /** The worker's hook right before a transfer's call (IN_DOUBT_FRESH_READING_MS): a fresh reading of its sub-account if needed. */
  async beforeCall(transferId: string): Promise<void> {
    if (this.opts.freshReadingMs) await this.probes.beforeCall(transferId, this.opts.freshReadingMs);
  }

  /**
   * Evaluates one sub-account's in-doubt transfers and resolves the decided ones. Also used
   * by a reconciliation run right after it stored its list reading.
   */
  async evaluate(token: string, actor = this.opts.actor ?? EVIDENCE_ACTOR): Promise<{ settled: number; undecided: number; verdicts: Verdict[]; applied: Array<{ id: string; effect: Money }> }> {
    const target = await this.queries.target(this.opts.providerAccount, token);
    const out = { settled: 0, undecided: 0, verdicts: [] as Verdict[], applied: [] as Array<{ id: string; effect: Money }> };
    if (!target) return out;
    const open = await this.queries.openInDoubt(this.opts.providerAccount, token);
    if (!open.length) return out;
    const since = new Date(Math.min(...open.map((o) => o.since.getTime())));
    const readings = await this.queries.evidenceReadings(target.accountId, since);
    const movements = await this.queries.movements(this.opts.providerAccount, token, readings.length ? new Date(readings[0].from) : since);
    const verdicts = settleCascade({
      readings, movements, isBuyer: target.isBuyer, policy: this.policy, mergeUntilSeconds: MERGE_WINDOWS_UNTIL_S, graceMs: this.opts.graceMs,
    });
    const openIds = new Set(open.map((o) => o.id));
    const lastObs = readings.length ? readings.map((r) => BigInt(r.id)).reduce((a, b) => (b > a ? b : a)).toString() : null;
    const now = await this.queries.clock();
    for (const v of verdicts.filter((x) => openIds.has(x.transferId))) {
      out.verdicts.push(v);
      const json = evidenceJson(v, now);
      if (v.status === 'decided' && v.outcome) {
        try {
          await this.resolve.execute({
            providerAccount: this.opts.providerAccount, transferId: v.transferId, outcome: v.outcome, actor,
            reason: `evidence: ${v.summary}`, evidence: { ...json },
          }, (tx) => this.queries.storeEvidence(tx, this.opts.providerAccount, v.transferId, json, lastObs));
          out.settled++;
          if (v.outcome === 'applied') out.applied.push({ id: v.transferId, effect: movements.find((m) => m.id === v.transferId)!.effect });
          this.opts.logger?.info({ transferId: v.transferId, outcome: v.outcome, actor }, 'in-doubt transfer settled by evidence');
        } catch (err) {
          // Resolved meanwhile (an operator, a late answer, another worker): nothing to do.
          if (!(err instanceof DomainError && err.code === 'invalid_state')) throw err;
        }
      } else {
        await this.queries.storeEvidence(this.db, this.opts.providerAccount, v.transferId, json, lastObs);
        out.undecided++;
      }
    }
    return out;
  }

  /** Evaluated again on a new reading, when a transfer of the sub-account changed since (a neighbour settled), or a while ago. */
  private stale(list: InDoubtRow[]): boolean {
    const now = list[0].db_now.getTime();
    return list.some((r) => r.evaluated_obs === null || r.evaluated_obs !== r.last_obs || !r.evaluated_at
      || (r.changed_at !== null && r.changed_at > r.evaluated_at) || now - r.evaluated_at.getTime() > REEVALUATE_MS);
  }

  /**
   * A probe soon after the call went in doubt, one once the grace has passed (unless a reading
   * already covers it), then one every IN_DOUBT_REREAD_MS while still undecided after the grace
   * (each gives a short window: history for the bound, and a tighter bracket).
   */
  private probeDue(list: InDoubtRow[]): boolean {
    const now = list[0].db_now.getTime();
    const lastRead = list[0].last_read?.getTime() ?? 0;
    const first = Math.min(...list.map((r) => r.in_doubt_at.getTime()));
    const deadline = Math.max(...list.map((r) => r.in_doubt_at.getTime())) + this.opts.graceMs;
    if (now >= deadline && lastRead < deadline) return true;
    if (now >= first + this.opts.probeDelayMs && lastRead < first && now < deadline) return true;
    const rereadMs = this.opts.rereadMs ?? 0;
    const firstDeadline = first + this.opts.graceMs;
    return rereadMs > 0 && now >= firstDeadline && now < deadline + (this.opts.rereadForMs ?? 0) && now - lastRead >= rereadMs;
  }
}

function groupByToken(rows: InDoubtRow[]): Map<string, InDoubtRow[]> {
  const byToken = new Map<string, InDoubtRow[]>();
  for (const r of rows) byToken.set(r.token, [...(byToken.get(r.token) ?? []), r]);
  return byToken;
}
