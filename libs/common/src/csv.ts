import { stringify } from 'csv-stringify/sync';

/**
 * The one CSV writer of the code base (csv-stringify): RFC 4180 quoting, CRLF line ends, and
 * formula-leading text neutralised so that a spreadsheet shows a cell rather than running it.
 *
 * A cell is one of: text, a number-like (Money, decimal.js, bigint, number: written as its
 * plain decimal), a Date (ISO 8601 in UTC, with the `Z`), null/undefined (empty), or an
 * object (its JSON, as text).
 */
export type CsvCell = string | number | bigint | boolean | Date | null | undefined | { toFixed(): string } | object;

/** A plain decimal such as `-12.500`: a number a spreadsheet reads as one, never escaped. */
const PLAIN_DECIMAL = /^-?\d+(\.\d+)?$/;
/** What a spreadsheet treats as the start of a formula (OWASP "CSV injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** Text that would run as a formula gets a leading `'`; plain decimals stay numbers. */
export function neutraliseFormula(text: string): string {
  return FORMULA_START.test(text) && !PLAIN_DECIMAL.test(text) ? `'${text}` : text;
}

export function csvText(v: CsvCell): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string') return neutraliseFormula(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof (v as { toFixed?: unknown }).toFixed === 'function') return (v as { toFixed(): string }).toFixed();
  return neutraliseFormula(JSON.stringify(v));
}

/** CSV lines (each ending in CRLF) for the given rows; safe to concatenate page by page. */
export function csvRows(rows: readonly (readonly CsvCell[])[]): string {
  if (!rows.length) return '';
  // A line break inside a cell is quoted whatever its kind (csv-stringify quotes only the record delimiter's).
  return stringify(rows.map((r) => r.map(csvText)), { record_delimiter: 'windows', quoted_match: ['\n', '\r'] });
}

/** A whole CSV document: the header row, then the rows. */
export function csvDocument(columns: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return csvRows([columns, ...rows]);
}
