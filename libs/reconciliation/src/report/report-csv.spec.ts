import { ReconciliationReport } from '../reconciliation.queries';
import { reportCsv } from './report-csv';

const report: ReconciliationReport = {
  run: {
    id: '00000000-0000-4000-8000-000000000001', providerAccount: 'p', status: 'completed', trigger: 'manual', actor: 'token:a/operator',
    tolerance: '0.001', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:02.000Z', error: null,
    window: { from: '2026-01-01T00:00:00.100Z', to: '2026-01-01T00:00:01.000Z' },
    summary: { accounts: 2, matched: 1, drifted: 1, unsettled: 0, resolvedInDoubt: 0, autoBooked: 0, unknownSubaccounts: 0 },
  },
  sources: ['me', 'list'],
  rows: [
    { account: 'main', source: 'me', observedAt: '2026-01-01T00:00:01.000Z', expected: '100.000', observed: '100.000', drift: '0.000', status: 'matched', explanation: null },
    { account: 'sub:abc', source: 'list', observedAt: '2026-01-01T00:00:01.000Z', expected: '20.000', observed: '17.500', drift: '-2.500', status: 'drift', explanation: 'lower than the ledger by 2.500: usage likely, "check"' },
  ],
  totals: { expected: '120.000', observed: '117.500', drift: '-2.500', accounts: 2, matched: 1, drifted: 1, unsettled: 0, resolvedInDoubt: 0 },
};

describe('reportCsv', () => {
  it('header, one line per account, plain 3-decimal amounts, a totals line', () => {
    const lines = reportCsv(report).split('\r\n');
    expect(lines.pop()).toBe('');
    expect(lines[0]).toBe('account,source,observed_at,expected,observed,drift,status,explanation');
    expect(lines[1]).toBe('main,me,2026-01-01T00:00:01.000Z,100.000,100.000,0.000,matched,');
    expect(lines[2]).toBe('sub:abc,list,2026-01-01T00:00:01.000Z,20.000,17.500,-2.500,drift,"lower than the ledger by 2.500: usage likely, ""check"""');
    expect(lines[3]).toMatch(/^TOTAL,me\+list,2026-01-01T00:00:01.000Z,120.000,117.500,-2.500,completed,"?run 00000000-0000-4000-8000-000000000001 completed; window 2026-01-01T00:00:00.100Z to 2026-01-01T00:00:01.000Z; 2 accounts: 1 matched, 1 drift/);
    expect(lines).toHaveLength(4);
  });

  it('neutralises text a spreadsheet would run as a formula', () => {
    const csv = reportCsv({ ...report, rows: [{ ...report.rows[0], explanation: '=HYPERLINK("x")' }] });
    expect(csv.split('\r\n')[1]).toContain(`"'=HYPERLINK(""x"")"`);
  });
});
