import { csvDocument } from '@app/common';
import { ReconciliationReport } from '../reconciliation.queries';

export const REPORT_CSV_COLUMNS = ['account', 'source', 'observed_at', 'expected', 'observed', 'drift', 'status', 'explanation'] as const;

/**
 * The run as a CSV a finance person opens in a spreadsheet: a header row, one line per
 * account (amounts as plain decimals with 3 decimals, never exponents), then a TOTAL line
 * whose explanation gives the run, its status, the read window and the sources. Times are
 * ISO 8601 in UTC (`Z`); text a spreadsheet would run as a formula is neutralised (csvDocument).
 */
export function reportCsv(report: ReconciliationReport): string {
  const rows = report.rows.map((r) => [r.account, r.source, r.observedAt, r.expected, r.observed, r.drift, r.status, r.explanation]);
  const t = report.totals;
  const run = report.run;
  const about = `run ${run.id} ${run.status}; window ${run.window.from ?? '-'} to ${run.window.to ?? '-'}; `
    + `${t.accounts} accounts: ${t.matched} matched, ${t.drifted} drift, ${t.unsettled} unsettled, ${t.resolvedInDoubt} resolved in doubt`
    + (run.error ? `; error: ${run.error}` : '');
  rows.push(['TOTAL', report.sources.join('+'), run.window.to, t.expected, t.observed, t.drift, run.status, about]);
  return csvDocument(REPORT_CSV_COLUMNS, rows);
}
