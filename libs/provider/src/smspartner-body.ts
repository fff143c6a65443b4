import { Money } from '@app/ledger';
import { CreateBody, CreditBody, MeBody, SkippedListEntry, SubaccountListBody, SubaccountListItem } from './provider-outcome';

/**
 * Reading the provider's JSON bodies: what each call's answer must hold, what is tolerated
 * (and recorded in `tolerated`), and money read from the literal text, never from a float.
 */

export type Json = Record<string, unknown>;
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };
/** `tolerated` collects what the parser had to accept to read the body. */
export type BodyParser<T> = (json: Json, literals: Map<string, string>, tolerated: string[]) => Parsed<T>;

export function parseMe(json: Json, literals: Map<string, string>, tolerated: string[]): Parsed<MeBody> {
  const user = asObject(json.user) ?? {};
  if (!asObject(json.user)) tolerated.push('no user object');
  const credits = asObject(json.credits);
  if (!credits) return { ok: false, problem: 'no credits object' };
  // `balance` is the current field; `solde` is the older name of the same value.
  let balance = moneyAt(json, literals, ['credits', 'balance']);
  if (!balance) {
    balance = moneyAt(json, literals, ['credits', 'solde']);
    if (balance) tolerated.push('credits.balance missing or unreadable: credits.solde read');
  }
  if (!balance) return { ok: false, problem: 'no valid credits.balance or credits.solde' };
  if (typeof credits.balance === 'number' || (credits.balance === undefined && typeof credits.solde === 'number')) tolerated.push('balance sent as a JSON number, not a string');
  return {
    ok: true,
    value: {
      username: stringOr(user.username, ''),
      firstname: stringOr(user.firstname, ''),
      lastname: stringOr(user.lastname, ''),
      balance,
      currency: stringOr(credits.currency, 'EUR'),
    },
  };
}

export function parseCredit(json: Json, literals: Map<string, string>, tolerated: string[]): Parsed<CreditBody> {
  const mainBalance = moneyAt(json, literals, ['credit']);
  const subaccountBalance = moneyAt(json, literals, ['subaccountCredit']);
  if (!mainBalance || !subaccountBalance) return { ok: false, problem: 'missing or invalid credit/subaccountCredit' };
  if (typeof json.credit === 'string' || typeof json.subaccountCredit === 'string') tolerated.push('credit/subaccountCredit sent as strings, not JSON numbers');
  return { ok: true, value: { mainBalance, subaccountBalance, currency: stringOr(json.currency, 'EUR') } };
}

export function parseCreate(json: Json): Parsed<CreateBody> {
  const sub = asObject(json.subaccount);
  if (!sub || typeof sub.token !== 'string' || sub.token === '') return { ok: false, problem: 'no subaccount.token' };
  return { ok: true, value: { token: sub.token, email: stringOr(sub.email, '') } };
}

/**
 * One odd entry never sinks the page: an entry that is not an object, has no token or no
 * readable balance is skipped and reported in `skipped`; other fields of unexpected types read
 * as empty. `data` as an object (PHP's json_encode of an array with non-sequential keys) is
 * read in key order; `data` null or absent is an empty page when `total` says 0.
 */
export function parseList(json: Json, literals: Map<string, string>, tolerated: string[]): Parsed<SubaccountListBody> {
  const total = toInt(json.total);
  const perPage = toInt(json.nb_per_page);
  const page = toInt(json.page);
  if (total === undefined || perPage === undefined || page === undefined) return { ok: false, problem: 'missing total/nb_per_page/page' };
  if ([json.total, json.nb_per_page, json.page].some((v) => typeof v === 'string')) tolerated.push('total/nb_per_page/page sent as strings');
  let entries: Array<[number | string, unknown]>;
  if (Array.isArray(json.data)) entries = json.data.map((e, i) => [i, e]);
  else if (asObject(json.data)) {
    entries = Object.entries(json.data as Json);
    tolerated.push('data is an object, not an array: its values read in key order');
  } else if ((json.data === undefined || json.data === null) && total === 0) {
    entries = [];
    tolerated.push(`data is ${json.data === null ? 'null' : 'absent'} on an empty list`);
  } else return { ok: false, problem: 'no data array' };

  const items: SubaccountListItem[] = [];
  const skipped: SkippedListEntry[] = [];
  for (const [index, entry] of entries) {
    const e = asObject(entry);
    if (!e) { skipped.push({ index, reason: `entry is ${entry === null ? 'null' : Array.isArray(entry) ? 'an array' : `a ${typeof entry}`}, not an object` }); continue; }
    const token = typeof e.token === 'string' && e.token.trim() !== '' ? e.token : undefined;
    if (!token) { skipped.push({ index, reason: `no token (${e.token === undefined ? 'absent' : `a ${e.token === null ? 'null' : typeof e.token}`})` }); continue; }
    const balance = moneyAt(json, literals, ['data', String(index), 'credits', 'balance']);
    if (!balance) {
      const raw = asObject(e.credits)?.balance;
      skipped.push({ index, token, reason: `no readable credits.balance (${raw === undefined ? 'absent' : raw === null ? 'null' : `${typeof raw} ${typeof raw === 'string' ? JSON.stringify(raw.slice(0, 20)) : ''}`.trim()})` });
      continue;
    }
    const odd = (['email', 'type', 'createdAt'] as const).filter((k) => e[k] !== undefined && typeof e[k] !== 'string');
    if (odd.length) tolerated.push(`data[${index}]: ${odd.join(', ')} not a string, read as empty`);
    const id = toInt(e.id);
    // Built field by field: the entry's own apiKey (a secret) is never copied.
    items.push({
      ...(id !== undefined ? { id } : {}),
      token,
      email: stringOr(e.email, ''),
      type: stringOr(e.type, ''),
      createdAt: stringOr(e.createdAt, ''),
      balance,
    });
  }
  if (skipped.length) tolerated.push(`${skipped.length} list entr${skipped.length === 1 ? 'y' : 'ies'} skipped (see skipped)`);
  return { ok: true, value: { total, perPage, page, items, skipped } };
}

/** Money at a path: a string value as is, a JSON number from its literal text (never the float). */
export function moneyAt(json: Json, literals: Map<string, string>, path: string[]): Money | undefined {
  let v: unknown = json;
  for (const key of path) v = Array.isArray(v) ? v[Number(key)] : asObject(v)?.[key];
  let text: string | undefined;
  if (typeof v === 'string') text = v;
  else if (typeof v === 'number') text = literals.get(path.join('.'));
  if (text === undefined) return undefined;
  try {
    return Money.parseLenient(text);
  } catch {
    return undefined;
  }
}

export function asObject(v: unknown): Json | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

export function stringOr(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}

export function toInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

export function messageOf(obj: Json, validation: unknown[] | undefined): string {
  if (typeof obj.message === 'string') return obj.message;
  if (validation) {
    return validation
      .map((e) => asObject(e))
      .map((e) => (e ? [e.elementId, e.message].filter((x) => typeof x === 'string').join(': ') : ''))
      .filter(Boolean)
      .join('; ');
  }
  return '';
}
