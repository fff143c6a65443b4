import { csvCell } from '@app/persistence';
import { ReconciliationReport } from '../reconciliation.queries';

export const REPORT_CSV_COLUMNS = ['account', 'source', 'observed_at', 'expected', 'observed', 'drift', 'status', 'explanation'] as const;

/** A text cell a spreadsheet would evaluate as a formula is prefixed with a quote. */
export function textCell(v: string | null): string {
  const s = v ?? '';
  return csvCell(/^[=+\-@\t\r]/.test(s) ? `'${s}` : s);
}

/**
 * The run as a CSV a finance person opens in a spreadsheet: a header row, one line per
 * account (amounts as plain decimals with 3 decimals, never exponents), then a TOTAL line
 * whose explanation gives the run, its status, the read window and the sources.
 */
export function reportCsv(report: ReconciliationReport): string {
  const lines = [REPORT_CSV_COLUMNS.join(',')];
  for (const r of report.rows) {
    lines.push([textCell(r.account), r.source, r.observedAt ?? '', r.expected, r.observed, r.drift, r.status, textCell(r.explanation)].join(','));
  }
  const t = report.totals;
  const run = report.run;
  const about = `run ${run.id} ${run.status}; window ${run.window.from ?? '-'} to ${run.window.to ?? '-'}; `
    + `${t.accounts} accounts: ${t.matched} matched, ${t.drifted} drift, ${t.unsettled} unsettled, ${t.resolvedInDoubt} resolved in doubt`
    + (run.error ? `; error: ${run.error}` : '');
  lines.push(['TOTAL', report.sources.join('+'), run.window.to ?? '', t.expected, t.observed, t.drift, run.status, textCell(about)].join(','));
  return lines.join('\r\n') + '\r\n';
}
