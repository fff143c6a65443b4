import { parse } from 'csv-parse/sync';
import { csvDocument, csvRows, neutraliseFormula } from './csv';

describe('the CSV writer', () => {
  it('quotes per RFC 4180 and ends every line with CRLF', () => {
    const csv = csvDocument(['a', 'b'], [['x, y', 'say "hi"'], ['two\nlines', null]]);
    expect(csv).toBe('a,b\r\n"x, y","say ""hi"""\r\n"two\nlines",\r\n');
  });

  it('neutralises every formula-leading text cell, keeps plain decimals as numbers', () => {
    for (const s of ['=HYPERLINK("http://x","click")', '+1+2', '-2+3', '@SUM(A1)', '\tx', '\rx', '-', '=1']) {
      expect(neutraliseFormula(s)).toBe(`'${s}`);
    }
    for (const s of ['-12.500', '12.500', '-3', '0.000', 'plain text', '']) expect(neutraliseFormula(s)).toBe(s);
    const line = csvRows([['=HYPERLINK("x")', '-12.500', { toFixed: () => '-1.000' }]]);
    expect(line).toBe(`"'=HYPERLINK(""x"")",-12.500,-1.000\r\n`);
  });

  it('writes dates as ISO 8601 UTC, objects as JSON text, empty for null', () => {
    const line = csvRows([[new Date('2026-11-30T23:30:00+01:00'), { a: 1 }, undefined, 7n, true]]);
    expect(line).toBe('2026-11-30T22:30:00.000Z,"{""a"":1}",,7,true\r\n');
  });

  it('round-trips through a CSV parser', () => {
    const rows = [['=cmd|"/c calc"!A1', 'a,b', 'multi\r\nline', '-0.500']];
    const back = parse(csvRows(rows)) as string[][];
    expect(back).toEqual([[`'=cmd|"/c calc"!A1`, 'a,b', 'multi\r\nline', '-0.500']]);
  });
});
