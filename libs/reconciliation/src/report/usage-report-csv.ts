import { UsageReport } from '../usage-report.queries';
import { textCell } from './report-csv';

export const USAGE_CSV_COLUMNS = ['month', 'account', 'subaccount', 'opening', 'top_ups', 'removals', 'usage', 'adjustments', 'closing', 'provider_closing', 'difference'] as const;

/**
 * The usage report as CSV (the same columns as the JSON rows, month in UTC): amounts as plain
 * 3-decimal figures, an empty cell where there is no provider reading, then a TOTAL line.
 * CRLF, RFC 4180 quoting, text a spreadsheet would evaluate is prefixed with a quote.
 */
export function usageReportCsv(report: UsageReport): string {
  const lines = [USAGE_CSV_COLUMNS.join(',')];
  for (const r of report.rows) {
    lines.push([report.month, textCell(r.account), textCell(r.subaccount), r.opening, r.topUps, r.removals, r.usage, r.adjustments, r.closing, r.providerClosing ?? '', r.difference ?? ''].join(','));
  }
  const t = report.totals;
  lines.push([report.month, 'TOTAL', '', t.opening, t.topUps, t.removals, t.usage, t.adjustments, t.closing, t.providerClosing ?? '', t.difference ?? ''].join(','));
  return lines.join('\r\n') + '\r\n';
}
