import { Money, TransferDirection } from '@app/ledger';
import { driftOf, ItemStatus, ObservationSource, Suggestion, suggestionFor, withinTolerance } from './reconciliation';

/**
 * The middle step of a run (docs/reconciliation.md): read the provider → **evaluate** → write.
 * Pure: what the provider showed, what the ledger held at that position, the transfers that
 * were executing or in doubt, what the evidence rules decided and the usage booked are given;
 * the verdict of every account comes back. No database, no provider, no clock.
 */

/** What the provider showed during the read window. */
export interface ProviderReading {
  /** `/me`'s balance. */
  main: Money;
  /** The sub-account list, by token. */
  subs: ReadonlyMap<string, Money>;
  /** Tokens of list entries the client had to skip (a null balance, an unknown type…). */
  unreadable: ReadonlySet<string>;
  /** Skipped entries that did not even carry a token. */
  unreadableWithoutToken: number;
}

/** A provider-backed ledger account (`main`: token null) and its posted balance at the snapshot. */
export interface LedgerBalance { accountId: string; code: string; token: string | null; posted: Money }

export interface InDoubtTransfer { id: string; token: string; direction: TransferDirection; amount: Money; recent: boolean }

/** What was moving during the read window. */
export interface PendingContext {
  /** Sub-accounts with a transfer executing at some moment of the window. */
  executing: ReadonlySet<string>;
  inDoubt: readonly InDoubtTransfer[];
}

/** One account compared this run, as stored in its observation. */
export interface ComparedAccount {
  accountId: string;
  code: string;
  token: string | null;
  source: Extract<ObservationSource, 'me' | 'list'>;
  observed: Money;
  expected: Money;
  drift: Money;
  /** No transfer of the account (for `main`: of the provider account) moved during the window. */
  settled: boolean;
  inDoubt: InDoubtTransfer[];
}

export type Comparison =
  | { kind: 'compared'; accounts: ComparedAccount[]; unknownSubaccounts: number }
  | { kind: 'unusable'; reason: string };

/**
 * Pairs each ledger account with its reading. The reading is unusable (the run fails) when
 * the list is empty while the ledger has sub-accounts, or omits ledger sub-accounts that the
 * skipped entries without a token cannot account for. Unreadable and absent-but-accounted-for
 * sub-accounts are not compared. `main` comes first when the ledger balances are in that order.
 */
export function compareReadings(reading: ProviderReading, ledger: readonly LedgerBalance[], context: PendingContext): Comparison {
  // Plain loops: this runs over every account of the provider account (100,000 and more).
  const known = new Set<string>();
  const absent: string[] = [];
  for (const a of ledger) {
    if (a.token === null) continue;
    known.add(a.token);
    if (!reading.subs.has(a.token) && !reading.unreadable.has(a.token)) absent.push(a.token);
  }
  if (known.size > 0 && reading.subs.size === 0) {
    return { kind: 'unusable', reason: `empty sub-account list while the ledger has ${known.size} sub-accounts` };
  }
  // Entries skipped without a token may be exactly those: unreadable, not missing.
  if (absent.length > reading.unreadableWithoutToken) {
    return { kind: 'unusable', reason: `partial sub-account list: ${absent.length} ledger sub-accounts missing (${absent.slice(0, 5).join(', ')}${absent.length > 5 ? ', …' : ''})` };
  }
  const notCompared = new Set([...reading.unreadable, ...absent]);
  const inDoubtOf = new Map<string, InDoubtTransfer[]>();
  for (const t of context.inDoubt) inDoubtOf.set(t.token, [...(inDoubtOf.get(t.token) ?? []), t]);
  const accounts: ComparedAccount[] = [];
  for (const a of ledger) {
    if (a.token !== null && notCompared.has(a.token)) continue;
    const observed = a.token === null ? reading.main : reading.subs.get(a.token)!;
    accounts.push({
      accountId: a.accountId, code: a.code, token: a.token, source: a.token === null ? 'me' : 'list', observed, expected: a.posted,
      drift: driftOf(observed, a.posted),
      // main moves with every transfer of the provider account.
      settled: a.token === null ? context.executing.size === 0 : !context.executing.has(a.token),
      inDoubt: a.token === null ? [...context.inDoubt] : inDoubtOf.get(a.token) ?? [],
    });
  }
  let unknownSubaccounts = 0;
  for (const t of reading.subs.keys()) if (!known.has(t)) unknownSubaccounts++;
  return { kind: 'compared', accounts, unknownSubaccounts };
}

/** What the evidence rules (libs/transfers, docs/in-doubt.md) made of one sub-account's in-doubt transfers this run. */
export interface InDoubtVerdicts {
  decided: Array<{ transferId: string; outcome: 'applied' | 'not_applied' }>;
  /** The decided-applied ones, with what they did to the sub-account's provider balance. */
  applied: Array<{ id: string; effect: Money }>;
  /** `waiting`: only waiting for a reading after the grace (no suggestion for a person). */
  undecided: Array<{ transferId: string; waiting: boolean; summary: string }>;
}

/** Usage booked (USAGE_AUTO_BOOK) between the previous reading and this run's, for one sub-account. */
export interface BookedUsage { amount: Money; bookings: number }

export interface RunEvidence {
  /** By token: the sub-accounts with in-doubt transfers, as the evidence rules judged them. */
  verdicts: ReadonlyMap<string, InDoubtVerdicts>;
  /** By token: usage booked up to this run's reading. */
  usage: ReadonlyMap<string, BookedUsage>;
}

/** Sub-accounts whose usage is booked before they are classified: settled, nothing left in doubt. */
export function usageCandidates(accounts: readonly ComparedAccount[], verdicts: RunEvidence['verdicts']): ComparedAccount[] {
  return accounts.filter((a) => a.token !== null && a.settled && (a.inDoubt.length === 0 || leftInDoubt(a, verdicts.get(a.token)).length === 0));
}

export type FindingAction =
  | { kind: 'open'; id: string; drift: Money; suggestion: Suggestion }
  | { kind: 'update'; id: string; drift: Money; suggestion: Suggestion; from: Money }
  | { kind: 'close'; id: string };

export interface AccountVerdict {
  account: ComparedAccount;
  status: ItemStatus;
  /** The part of the drift explained by this run's in-doubt resolutions and booked usage. */
  explained: Money;
  /** drift − explained: what is left to explain. Computed here and nowhere else. */
  residual: Money;
  notes: string[];
  /** The in-doubt transfers still in doubt after this run's resolutions. */
  stillInDoubt: InDoubtTransfer[];
  finding: FindingAction | null;
  /** The residual is to be booked as usage (RECONCILE_AUTO_BOOK_USAGE on a sub-account, USAGE_AUTO_BOOK on main). */
  autoBook: boolean;
}

export interface EvaluationInput {
  accounts: readonly ComparedAccount[];
  evidence: RunEvidence;
  /** The open drift finding of each account, by account id. */
  openFindings: ReadonlyMap<string, { id: string; drift: Money }>;
  tolerance: Money;
  policy: { autoBookUsage: boolean; bookMainUsage: boolean };
  /** Id of a finding this run opens. */
  newFindingId: () => string;
}

export interface Evaluation {
  accounts: AccountVerdict[];
  counts: Record<ItemStatus, number>;
}

const EXECUTING_SUB = 'a transfer of this sub-account was executing during the read window; checked again next run';
const EXECUTING_MAIN = 'a transfer of this provider account was executing during the read window; checked again next run';

/**
 * Every compared account's status (matched / drift / unsettled / resolved_in_doubt), the part
 * of its drift explained, the residual, its explanation and what happens to its finding.
 * Sub-accounts are judged first: the in-doubt transfers they resolved as applied explain
 * `main`'s drift too (the opposite effect).
 */
export function evaluateRun(input: EvaluationInput): Evaluation {
  const { evidence, tolerance } = input;
  const decided = new Set<string>();
  let explainedOnMain = Money.ZERO;
  for (const v of evidence.verdicts.values()) {
    for (const d of v.decided) decided.add(d.transferId);
    for (const t of v.applied) explainedOnMain = explainedOnMain.minus(t.effect);
  }
  const verdicts: AccountVerdict[] = input.accounts.map((a) => (a.token === null
    ? judgeMain(a, explainedOnMain, decided, tolerance)
    : judgeSubaccount(a, evidence, tolerance)));
  for (const v of verdicts) decideFinding(v, input);
  const counts: Record<ItemStatus, number> = { matched: 0, drift: 0, unsettled: 0, resolved_in_doubt: 0 };
  for (const v of verdicts) counts[v.status]++;
  return { accounts: verdicts, counts };
}

function leftInDoubt(a: ComparedAccount, v: InDoubtVerdicts | undefined): InDoubtTransfer[] {
  const decided = new Set(v?.decided.map((d) => d.transferId) ?? []);
  return a.inDoubt.filter((t) => !decided.has(t.id));
}

function verdict(a: ComparedAccount, status: ItemStatus, explained: Money, notes: string[], stillInDoubt: InDoubtTransfer[]): AccountVerdict {
  return { account: a, status, explained, residual: a.drift.minus(explained), notes, stillInDoubt, finding: null, autoBook: false };
}

function judgeSubaccount(a: ComparedAccount, evidence: RunEvidence, tolerance: Money): AccountVerdict {
  const notes: string[] = [];
  let explained = Money.ZERO;
  const v = a.inDoubt.length ? evidence.verdicts.get(a.token!) : undefined;
  if (a.inDoubt.length) {
    for (const t of v?.applied ?? []) explained = explained.plus(t.effect);
    if (v?.decided.length) {
      notes.push(`in-doubt transfers resolved by evidence: ${v.decided.map((d) => `transfer ${d.transferId} ${d.outcome === 'applied' ? 'applied: posted' : 'not applied: voided'}`).join('; ')}`);
    }
    const left = leftInDoubt(a, v);
    if (left.length) {
      const waiting = v?.undecided.filter((u) => u.waiting).length ?? 0;
      notes.push(`${left.length} in-doubt transfer(s) left in doubt: ${v?.undecided[0]?.summary ?? 'not evaluated'}`);
      return verdict(a, !a.settled || waiting === left.length ? 'unsettled' : 'drift', explained, notes, left);
    }
  }
  if (!a.settled) return verdict(a, 'unsettled', explained, [...notes, EXECUTING_SUB], []);
  const usage = evidence.usage.get(a.token!);
  if (usage && !usage.amount.isZero()) {
    explained = explained.minus(usage.amount);
    notes.push(`usage of ${usage.amount.toFixed()} between provider readings booked (${usage.bookings} booking(s), USAGE_AUTO_BOOK)`);
  }
  const matched = withinTolerance(a.drift.minus(explained), tolerance);
  return verdict(a, !matched ? 'drift' : a.inDoubt.length ? 'resolved_in_doubt' : 'matched', explained, notes, []);
}

function judgeMain(a: ComparedAccount, explained: Money, decided: ReadonlySet<string>, tolerance: Money): AccountVerdict {
  // Every in-doubt transfer not decided this run, whichever sub-account it is on (compared or not).
  const still = a.inDoubt.filter((t) => !decided.has(t.id));
  if (!a.settled) return verdict(a, 'unsettled', explained, [EXECUTING_MAIN], still);
  if (still.some((t) => t.recent)) return verdict(a, 'unsettled', explained, ['recent in-doubt transfers: checked again next run'], still);
  const notes: string[] = [];
  if (!explained.isZero()) notes.push(`${explained.toFixed()} of the drift is explained by in-doubt transfers this run resolved as applied`);
  if (still.length) notes.push(`${still.length} transfer(s) still in doubt: the drift may include them`);
  const matched = withinTolerance(a.drift.minus(explained), tolerance);
  return verdict(a, !matched ? 'drift' : explained.isZero() ? 'matched' : 'resolved_in_doubt', explained, notes, still);
}

/** Opens, updates or closes the account's finding; marks what the auto-book policies book. */
function decideFinding(v: AccountVerdict, input: EvaluationInput): void {
  const open = input.openFindings.get(v.account.accountId);
  if (v.status === 'matched' || v.status === 'resolved_in_doubt') {
    if (open) {
      v.finding = { kind: 'close', id: open.id };
      v.notes.push(`drift finding ${open.id} closed as self-resolved`);
    }
    return;
  }
  // unsettled leaves the finding alone; so does an account whose undecided in-doubt transfers
  // make it `drift` while what is left is within tolerance.
  if (v.status !== 'drift' || withinTolerance(v.residual, input.tolerance)) return;
  const suggestion = suggestionFor(v.residual);
  v.finding = open
    ? { kind: 'update', id: open.id, drift: v.residual, suggestion, from: open.drift }
    : { kind: 'open', id: input.newFindingId(), drift: v.residual, suggestion };
  v.notes.unshift(`${v.residual.isNegative() ? 'lower' : 'higher'} than the ledger by ${v.residual.abs().toFixed()}: ${suggestion === 'usage_likely' ? 'usage likely' : 'purchase or refund likely'} (finding ${v.finding.id})`);
  const nothingInDoubt = v.stillInDoubt.length === 0;
  if (v.residual.isNegative() && nothingInDoubt) {
    v.autoBook = v.account.token === null ? input.policy.bookMainUsage : input.policy.autoBookUsage;
  }
}
