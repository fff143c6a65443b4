import fc from 'fast-check';
import { Money } from '@app/ledger';
import {
  ComparedAccount, compareReadings, EvaluationInput, evaluateRun, InDoubtTransfer, InDoubtVerdicts, LedgerBalance, PendingContext,
  ProviderReading, RunEvidence, usageCandidates,
} from './evaluate-run';

const m = Money.parse;
const ledgerOf = (subs: Record<string, string>, main = '100'): LedgerBalance[] => [
  { accountId: '1', code: 'main', token: null, posted: m(main) },
  ...Object.entries(subs).map(([token, posted], i) => ({ accountId: String(i + 2), code: `sub:${token}`, token, posted: m(posted) })),
];
const readingOf = (subs: Record<string, string>, main = '100', extra: Partial<ProviderReading> = {}): ProviderReading => ({
  main: m(main), subs: new Map(Object.entries(subs).map(([t, b]) => [t, m(b)])), unreadable: new Set(), unreadableWithoutToken: 0, ...extra,
});
const quiet: PendingContext = { executing: new Set(), inDoubt: [] };
const noEvidence: RunEvidence = { verdicts: new Map(), usage: new Map() };

function compared(reading: ProviderReading, ledger: LedgerBalance[], context: PendingContext = quiet): ComparedAccount[] {
  const c = compareReadings(reading, ledger, context);
  if (c.kind !== 'compared') throw new Error(c.reason);
  return c.accounts;
}

let ids = 0;
function evaluate(accounts: ComparedAccount[], over: Partial<EvaluationInput> = {}) {
  const e = evaluateRun({
    accounts, evidence: noEvidence, openFindings: new Map(), tolerance: m('0.001'),
    policy: { autoBookUsage: false, bookMainUsage: false }, newFindingId: () => `f${++ids}`, ...over,
  });
  return { ...e, of: (code: string) => e.accounts.find((v) => v.account.code === code)! };
}

const inDoubt = (id: string, token: string, direction: 'add' | 'remove', amount: string, recent = false): InDoubtTransfer => ({ id, token, direction, amount: m(amount), recent });
const applied = (t: InDoubtTransfer): InDoubtVerdicts => ({
  decided: [{ transferId: t.id, outcome: 'applied' }], applied: [{ id: t.id, effect: t.direction === 'add' ? t.amount : t.amount.negated() }], undecided: [],
});
const undecided = (t: InDoubtTransfer, waiting: boolean): InDoubtVerdicts => ({ decided: [], applied: [], undecided: [{ transferId: t.id, waiting, summary: 'both outcomes fit' }] });

describe('compareReadings: which accounts a reading can be compared for', () => {
  it('pairs every ledger account with its reading; drift = observed − expected; unknown sub-accounts only counted', () => {
    const c = compareReadings(readingOf({ a: '7', b: '5', stranger: '1' }, '90'), ledgerOf({ a: '10', b: '5' }), quiet);
    expect(c.kind).toBe('compared');
    if (c.kind !== 'compared') return;
    expect(c.accounts.map((a) => [a.code, a.source, a.drift.toFixed(), a.settled])).toEqual([
      ['main', 'me', '-10.000', true], ['sub:a', 'list', '-3.000', true], ['sub:b', 'list', '0.000', true],
    ]);
    expect(c.unknownSubaccounts).toBe(1);
  });

  it('an empty list while the ledger has sub-accounts is unusable; with none it is fine', () => {
    expect(compareReadings(readingOf({}), ledgerOf({ a: '1' }), quiet)).toEqual({ kind: 'unusable', reason: 'empty sub-account list while the ledger has 1 sub-accounts' });
    expect(compareReadings(readingOf({}), ledgerOf({}), quiet)).toMatchObject({ kind: 'compared', accounts: [expect.objectContaining({ code: 'main' })] });
  });

  it('a ledger sub-account missing from the list makes the reading partial, naming at most five', () => {
    const subs = Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((t) => [t, '1']));
    const c = compareReadings(readingOf({ a: '1' }), ledgerOf(subs), quiet);
    expect(c).toEqual({ kind: 'unusable', reason: 'partial sub-account list: 6 ledger sub-accounts missing (b, c, d, e, f, …)' });
  });

  it('unreadable entries: a skipped token is not compared; absent ones are unreadable only when as many tokenless entries were skipped', () => {
    const ledger = ledgerOf({ a: '1', b: '2', c: '3' });
    const skipB = compared(readingOf({ a: '1', c: '3' }, '100', { unreadable: new Set(['b']) }), ledger);
    expect(skipB.map((a) => a.code)).toEqual(['main', 'sub:a', 'sub:c']);
    const tokenless = compared(readingOf({ a: '1' }, '100', { unreadableWithoutToken: 2 }), ledger);
    expect(tokenless.map((a) => a.code)).toEqual(['main', 'sub:a']);
    expect(compareReadings(readingOf({ a: '1' }, '100', { unreadableWithoutToken: 1 }), ledger, quiet)).toMatchObject({ kind: 'unusable' });
  });

  it('a transfer executing in the window unsettles its sub-account and main; in-doubt transfers go to their sub-account and to main', () => {
    const t1 = inDoubt('t1', 'b', 'add', '2');
    const accounts = compared(readingOf({ a: '1', b: '2' }), ledgerOf({ a: '1', b: '2' }), { executing: new Set(['a']), inDoubt: [t1] });
    expect(accounts.map((a) => [a.code, a.settled, a.inDoubt.map((t) => t.id)])).toEqual([['main', false, ['t1']], ['sub:a', false, []], ['sub:b', true, ['t1']]]);
  });
});

describe('evaluateRun: status, explanation, residual and finding of every account', () => {
  it('tolerance is inclusive: |residual| ≤ tolerance matches, anything beyond is drift (any amount, either sign)', () => {
    fc.assert(fc.property(fc.integer({ min: -5_000, max: 5_000 }), fc.integer({ min: 0, max: 3_000 }), (driftMillis, tolMillis) => {
      const drift = m((driftMillis / 1000).toFixed(3));
      const accounts = compared(readingOf({ a: m('50').plus(drift).toFixed() }), ledgerOf({ a: '50' }));
      const v = evaluate(accounts, { tolerance: m((tolMillis / 1000).toFixed(3)) }).of('sub:a');
      expect(v.status).toBe(Math.abs(driftMillis) <= tolMillis ? 'matched' : 'drift');
      expect(v.residual.equals(drift)).toBe(true);
    }));
  });

  it('the residual is drift − explained for every account, and a finding carries exactly that residual', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: -3_000, max: 3_000 }), fc.integer({ min: 0, max: 2_000 })), { minLength: 1, maxLength: 8 }), (rows) => {
      const subs = Object.fromEntries(rows.map((_, i) => [`s${i}`, '10']));
      const shown = Object.fromEntries(rows.map(([d], i) => [`s${i}`, m('10').plus(m((d / 1000).toFixed(3))).toFixed()]));
      const usage = new Map(rows.map(([, u], i) => [`s${i}`, { amount: m((u / 1000).toFixed(3)), bookings: 1 }]));
      const e = evaluate(compared(readingOf(shown), ledgerOf(subs)), { evidence: { verdicts: new Map(), usage } });
      for (const v of e.accounts) {
        expect(v.residual.equals(v.account.drift.minus(v.explained))).toBe(true);
        if (v.finding?.kind === 'open') expect(v.finding.drift.equals(v.residual)).toBe(true);
      }
      expect(e.counts.matched + e.counts.drift + e.counts.unsettled + e.counts.resolved_in_doubt).toBe(e.accounts.length);
    }));
  });

  it('an in-doubt transfer the evidence decided as applied explains the sub-account\'s drift and the opposite on main (either direction)', () => {
    fc.assert(fc.property(fc.constantFrom<'add' | 'remove'>('add', 'remove'), fc.integer({ min: 1, max: 9_000 }), (direction, millis) => {
      const t = inDoubt('t', 'a', direction, (millis / 1000).toFixed(3));
      const effect = direction === 'add' ? t.amount : t.amount.negated();
      // The provider applied it; the ledger still has it pending (not in the posted balance).
      const accounts = compared(readingOf({ a: m('20').plus(effect).toFixed() }, m('100').minus(effect).toFixed()), ledgerOf({ a: '20' }), { executing: new Set(), inDoubt: [t] });
      const e = evaluate(accounts, { evidence: { verdicts: new Map([['a', applied(t)]]), usage: new Map() } });
      expect(e.of('sub:a')).toMatchObject({ status: 'resolved_in_doubt', finding: null });
      expect(e.of('sub:a').residual.isZero()).toBe(true);
      expect(e.of('main')).toMatchObject({ status: 'resolved_in_doubt', stillInDoubt: [] });
      expect(e.of('main').residual.isZero()).toBe(true);
      expect(e.of('sub:a').notes[0]).toBe('in-doubt transfers resolved by evidence: transfer t applied: posted');
    }));
  });

  it('in-doubt transfers left undecided: unsettled while only waiting for a reading, else drift with a finding, never auto-booked', () => {
    const t = inDoubt('t', 'a', 'remove', '1');
    const accounts = compared(readingOf({ a: '17' }, '101'), ledgerOf({ a: '20' }), { executing: new Set(), inDoubt: [t] });
    const policy = { autoBookUsage: true, bookMainUsage: true };
    const waiting = evaluate(accounts, { policy, evidence: { verdicts: new Map([['a', undecided(t, true)]]), usage: new Map() } });
    expect(waiting.of('sub:a')).toMatchObject({ status: 'unsettled', finding: null, autoBook: false, notes: ['1 in-doubt transfer(s) left in doubt: both outcomes fit'] });
    const stuck = evaluate(accounts, { policy, evidence: { verdicts: new Map([['a', undecided(t, false)]]), usage: new Map() } });
    expect(stuck.of('sub:a')).toMatchObject({ status: 'drift', autoBook: false, finding: { kind: 'open' } });
    expect(stuck.of('sub:a').stillInDoubt.map((x) => x.id)).toEqual(['t']);
    // main: the transfer is still in doubt, its drift may include it: a finding, not booked as usage.
    expect(stuck.of('main')).toMatchObject({ status: 'drift', autoBook: false });
    expect(stuck.of('main').notes).toContain('1 transfer(s) still in doubt: the drift may include them');
    expect(usageCandidates(accounts, new Map([['a', undecided(t, false)]]))).toEqual([]);
  });

  it('main: unsettled while a transfer executes or an in-doubt one is recent, including one on a sub-account not compared this run', () => {
    const t = inDoubt('t', 'b', 'add', '1', true);
    const accounts = compared(readingOf({ a: '1' }, '100', { unreadable: new Set(['b']) }), ledgerOf({ a: '1', b: '1' }), { executing: new Set(), inDoubt: [t] });
    expect(accounts.map((a) => a.code)).toEqual(['main', 'sub:a']);
    expect(evaluate(accounts).of('main')).toMatchObject({ status: 'unsettled', notes: ['recent in-doubt transfers: checked again next run'] });
    const executing = compared(readingOf({ a: '1' }), ledgerOf({ a: '1' }), { executing: new Set(['a']), inDoubt: [] });
    expect(evaluate(executing).accounts.map((v) => v.status)).toEqual(['unsettled', 'unsettled']);
  });

  it('usage booked up to this reading explains a fall; what it does not explain stays drift (a buyer, whose usage is never booked)', () => {
    const accounts = compared(readingOf({ spender: '17.500', buyer: '15' }), ledgerOf({ spender: '20', buyer: '20' }));
    expect(usageCandidates(accounts, new Map()).map((a) => a.code)).toEqual(['sub:spender', 'sub:buyer']);
    const e = evaluate(accounts, { evidence: { verdicts: new Map(), usage: new Map([['spender', { amount: m('2.5'), bookings: 2 }]]) } });
    expect(e.of('sub:spender')).toMatchObject({ status: 'matched', notes: ['usage of 2.500 between provider readings booked (2 booking(s), USAGE_AUTO_BOOK)'] });
    expect(e.of('sub:spender').explained.toFixed()).toBe('-2.500');
    expect(e.of('sub:buyer')).toMatchObject({ status: 'drift', finding: { kind: 'open', suggestion: 'usage_likely' } });
    expect(e.of('sub:buyer').notes[0]).toMatch(/^lower than the ledger by 5\.000: usage likely \(finding f\d+\)$/);
  });

  it('findings: a match closes the open one, a drift updates it (from → to), a new drift opens one, unsettled leaves it alone', () => {
    const accounts = compared(readingOf({ fixed: '5', grown: '3', fresh: '9', busy: '1' }), ledgerOf({ fixed: '5', grown: '5', fresh: '5', busy: '5' }), { executing: new Set(['busy']), inDoubt: [] });
    const open = new Map([['2', { id: 'old-fixed', drift: m('-1') }], ['3', { id: 'old-grown', drift: m('-1') }], ['5', { id: 'old-busy', drift: m('-4') }]]);
    const e = evaluate(accounts, { openFindings: open, newFindingId: () => 'new-fresh' });
    expect(e.of('sub:fixed')).toMatchObject({ status: 'matched', finding: { kind: 'close', id: 'old-fixed' }, notes: ['drift finding old-fixed closed as self-resolved'] });
    expect(e.of('sub:grown').finding).toMatchObject({ kind: 'update', id: 'old-grown' });
    const grown = e.of('sub:grown').finding;
    expect(grown?.kind === 'update' ? [grown.from.toFixed(), grown.drift.toFixed()] : null).toEqual(['-1.000', '-2.000']);
    expect(e.of('sub:fresh')).toMatchObject({ status: 'drift', finding: { kind: 'open', id: 'new-fresh', suggestion: 'purchase_or_refund_likely' } });
    expect(e.of('sub:busy')).toMatchObject({ status: 'unsettled', finding: null });
  });

  it('auto-book policies: a negative residual with nothing in doubt, on sub-accounts with RECONCILE_AUTO_BOOK_USAGE, on main with USAGE_AUTO_BOOK; never a rise', () => {
    const accounts = compared(readingOf({ down: '4', up: '6' }, '90'), ledgerOf({ down: '5', up: '5' }));
    const flags = (policy: EvaluationInput['policy']) => evaluate(accounts, { policy }).accounts.map((v) => [v.account.code, v.autoBook]);
    expect(flags({ autoBookUsage: false, bookMainUsage: false })).toEqual([['main', false], ['sub:down', false], ['sub:up', false]]);
    expect(flags({ autoBookUsage: true, bookMainUsage: false })).toEqual([['main', false], ['sub:down', true], ['sub:up', false]]);
    expect(flags({ autoBookUsage: false, bookMainUsage: true })).toEqual([['main', true], ['sub:down', false], ['sub:up', false]]);
  });
});
