import { DomainError } from './domain-error';

/**
 * Keyset pagination, one way for every list route: the query asks for `limit + 1` rows
 * (`fetchSize`), the page is the first `limit`, and the next cursor names the last row of the
 * page when there was one more. Cursors are decoded and range-checked here, before any value
 * reaches Postgres: a cursor that is not one this API could have given is a 400.
 */
export interface Page<T> { data: T[]; nextCursor: string | null }

export function fetchSize(limit: number): number {
  return limit + 1;
}

export function pageOf<R, T = R>(rows: R[], limit: number, cursorOf: (last: R) => string, map?: (row: R) => T): Page<T> {
  const kept = rows.slice(0, limit);
  const data = map ? kept.map(map) : (kept as unknown as T[]);
  return { data, nextCursor: rows.length > limit && kept.length ? cursorOf(kept[kept.length - 1]) : null };
}

const BIGINT_MAX = 9223372036854775807n;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Microseconds since 1970 up to 9999-12-31T23:59:59.999999Z: inside timestamptz's range. */
const MAX_MICROS = 253402300799999999n;

export class CursorError extends DomainError {
  constructor(why: string) {
    super('validation_failed', `invalid cursor: ${why}`);
  }
}

/** The kinds of cursor the API gives out. */
export const Cursors = {
  /** A bigserial / sequence position: 1 … 2^63-1, digits only. */
  sequence: {
    decode(text: string): string {
      if (!/^[1-9]\d{0,18}$/.test(text) || BigInt(text) > BIGINT_MAX) throw new CursorError('expected a position (a positive integer below 2^63)');
      return text;
    },
    encode(value: string | bigint | number): string { return String(value); },
  },
  uuid: {
    decode(text: string): string {
      if (!UUID.test(text)) throw new CursorError('expected an id');
      return text.toLowerCase();
    },
    encode(value: string): string { return value; },
  },
  /** A sub-account token (the token order of /v1/subaccounts). */
  token: {
    decode(text: string): string {
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(text)) throw new CursorError('expected a sub-account token');
      return text;
    },
    encode(value: string): string { return value; },
  },
  /** (instant, id), microsecond-exact (a JS Date would lose the microseconds), base64url. */
  instantId: {
    decode(text: string): { micros: string; id: string } {
      if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) throw new CursorError('expected a page cursor');
      const parts = Buffer.from(text, 'base64url').toString('utf8').split('|');
      const [micros, id] = parts;
      if (parts.length !== 2 || !/^(0|[1-9]\d{0,17})$/.test(micros) || BigInt(micros) > MAX_MICROS || !UUID.test(id)) {
        throw new CursorError('expected a page cursor');
      }
      return { micros, id: id.toLowerCase() };
    },
    encode(value: { micros: string; id: string }): string {
      return Buffer.from(`${value.micros}|${value.id}`, 'utf8').toString('base64url');
    },
  },
} as const;

export type CursorKind = keyof typeof Cursors;
