import { csvDocument } from '@app/common';
import { UsageReport } from '../usage-report.queries';

export const USAGE_CSV_COLUMNS = ['month', 'account', 'subaccount', 'opening', 'top_ups', 'removals', 'usage', 'adjustments', 'closing', 'provider_closing', 'difference'] as const;

/**
 * The usage report as CSV (the same columns as the JSON rows, month in UTC): amounts as plain
 * 3-decimal figures, an empty cell where there is no provider reading, then a TOTAL line.
 * Written by the one CSV writer (csvDocument: CRLF, RFC 4180, formulas neutralised).
 */
export function usageReportCsv(report: UsageReport): string {
  const rows = report.rows.map((r) => [report.month, r.account, r.subaccount, r.opening, r.topUps, r.removals, r.usage, r.adjustments, r.closing, r.providerClosing ?? '', r.difference ?? '']);
  const t = report.totals;
  rows.push([report.month, 'TOTAL', '', t.opening, t.topUps, t.removals, t.usage, t.adjustments, t.closing, t.providerClosing ?? '', t.difference ?? '']);
  return csvDocument(USAGE_CSV_COLUMNS, rows);
}
