import { Money } from '@app/ledger';

/**
 * A JSON number written verbatim from its decimal text. The provider answers add/remove with
 * JSON numbers (`"credit":2869.2`); producing them through a JS float could print
 * 2869.2000000000003, so they are printed from the decimal string instead.
 */
export class JsonNumber {
  constructor(readonly text: string) {
    if (!/^-?\d+(\.\d+)?$/.test(text)) throw new Error(`not a plain decimal: ${text}`);
  }

  /** "2869.200" → 2869.2, "61.000" → 61: how the provider prints these numbers. */
  static fromMoney(m: Money): JsonNumber {
    const fixed = m.toFixed();
    return new JsonNumber(fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed);
  }
}

export type WireValue = string | number | boolean | null | JsonNumber | WireValue[] | { [key: string]: WireValue };

/** JSON.stringify that writes JsonNumber values raw. Key order is insertion order, as the provider's. */
export function toJsonText(value: WireValue): string {
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${toJsonText(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The provider's XML form: `<result>` holding one unnamed `<entry>` per field, in field order.
 * Strings are CDATA, numbers and booleans bare. The doc sample for /me shows an object of
 * strings (`user`) with named children while mixed objects (`credits`) are unnamed entries;
 * this renderer follows that rule.
 */
export function toXmlText(value: { [key: string]: WireValue }): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<result>'];
  for (const v of Object.values(value)) renderEntry(v, 1, lines);
  lines.push('</result>');
  return lines.join('\n');
}

function renderEntry(v: WireValue, depth: number, lines: string[], name = 'entry'): void {
  const pad = '    '.repeat(depth);
  if (v instanceof JsonNumber) { lines.push(`${pad}<${name}>${v.text}</${name}>`); return; }
  if (v === null) { lines.push(`${pad}<${name}/>`); return; }
  if (typeof v === 'number' || typeof v === 'boolean') { lines.push(`${pad}<${name}>${String(v)}</${name}>`); return; }
  if (typeof v === 'string') {
    lines.push(`${pad}<${name}>`, `${pad}    ${cdata(v)}`, `${pad}</${name}>`);
    return;
  }
  lines.push(`${pad}<${name}>`);
  if (Array.isArray(v)) {
    for (const item of v) renderEntry(item, depth + 1, lines);
  } else {
    const values = Object.values(v);
    const allStrings = values.length > 0 && values.every((x) => typeof x === 'string');
    for (const [k, item] of Object.entries(v)) {
      if (allStrings) lines.push(`${pad}    <${k}>${escapeXml(item as string)}</${k}>`);
      else renderEntry(item, depth + 1, lines);
    }
  }
  lines.push(`${pad}</${name}>`);
}

function cdata(s: string): string {
  // "]]>" cannot appear inside a CDATA section: split it across two sections.
  return `<![CDATA[${s.split(']]>').join(']]]]><![CDATA[>')}]]>`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
