import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Money } from '@app/ledger';
import { numberLiterals, redactSecrets, scrubText } from '@app/common';
import {
  CreateBody,
  CreateSubaccountInput,
  CreditBody,
  MeBody,
  ProviderCallName,
  ProviderOutcome,
  rejectionReason,
  SubaccountListBody,
  SubaccountListItem,
} from './provider-outcome';

export interface SmsPartnerClientOptions {
  /** e.g. https://api.smspartner.fr/v1, or a sandbox's `${url}/v1`. */
  baseUrl: string;
  apiKey: string;
  /** Whole-call budget (connect + send + answer). */
  timeoutMs: number;
  logger?: Logger;
  /** Told of every call's outcome (metrics). */
  onCall?: (call: ProviderCallName, outcome: ProviderOutcome<unknown>) => void;
}

/**
 * Errors raised before a single byte of the request could reach the provider. Anything else
 * (reset, socket closed, timeout) may have happened after the provider applied the call.
 */
const NOT_SENT_ERROR_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

const RAW_TEXT_LIMIT = 2000;

type Json = Record<string, unknown>;
type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };
type BodyParser<T> = (json: Json, literals: Map<string, string>) => Parsed<T>;

/**
 * The one client for the five SMS Partner calls this project uses. Never throws for provider or
 * network problems: every call resolves to a ProviderOutcome, classified conservatively (when
 * in doubt, `unknown`, because a credit call may have been applied).
 */
export class SmsPartnerClient {
  private readonly baseUrl: string;

  constructor(private readonly opts: SmsPartnerClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  me(): Promise<ProviderOutcome<MeBody>> {
    return this.call('me', 'GET', `/me?${new URLSearchParams({ apiKey: this.opts.apiKey })}`, undefined, parseMe);
  }

  createSubaccount(input: CreateSubaccountInput): Promise<ProviderOutcome<CreateBody>> {
    const parameters: Json = { email: input.email };
    if (input.isBuyer !== undefined) parameters.isBuyer = input.isBuyer ? 1 : 0;
    if (input.creditToAttribute !== undefined) parameters.creditToAttribute = input.creditToAttribute.toFixed();
    if (input.title !== undefined) parameters.title = input.title;
    if (input.firstname !== undefined) parameters.firstname = input.firstname;
    if (input.lastname !== undefined) parameters.lastname = input.lastname;
    return this.call('create', 'POST', '/subaccount/create', { apiKey: this.opts.apiKey, type: input.type, parameters }, parseCreate);
  }

  listSubaccounts(page: number): Promise<ProviderOutcome<SubaccountListBody>> {
    if (!Number.isInteger(page) || page < 1) throw new RangeError(`page must be a positive integer, got ${page}`);
    return this.call('list', 'GET', `/subaccount/list?${new URLSearchParams({ apiKey: this.opts.apiKey, page: String(page) })}`, undefined, parseList);
  }

  addCredit(token: string, amount: Money): Promise<ProviderOutcome<CreditBody>> {
    return this.credit('add', token, amount);
  }

  removeCredit(token: string, amount: Money): Promise<ProviderOutcome<CreditBody>> {
    return this.credit('remove', token, amount);
  }

  private credit(call: 'add' | 'remove', token: string, amount: Money): Promise<ProviderOutcome<CreditBody>> {
    // credit goes as a 3-decimal string ("100.000"): no float ever touches the amount.
    return this.call(call, 'POST', `/subaccount/credit/${call}`, { apiKey: this.opts.apiKey, credit: amount.toFixed(), tokenSubaccount: token }, parseCredit);
  }

  private async call<T>(call: ProviderCallName, method: 'GET' | 'POST', path: string, body: Json | undefined, parse: BodyParser<T>): Promise<ProviderOutcome<T>> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    let outcome: ProviderOutcome<T>;
    try {
      const res = await fetch(this.baseUrl + path, {
        method,
        headers: body ? { 'content-type': 'application/json', accept: 'application/json' } : { accept: 'application/json' },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      if (res.status === 429) {
        // Rate limited: the provider refused before doing anything.
        await res.body?.cancel().catch(() => undefined);
        const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
        outcome = { kind: 'not_sent', cause: 'HTTP 429 Too Many Requests', ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), latencyMs: latency() };
      } else {
        let text: string;
        try {
          text = await res.text();
        } catch (err) {
          // Headers arrived, the body did not: the call reached the provider.
          outcome = { kind: 'unknown', cause: `response interrupted: ${this.describe(err)}`, httpStatus: res.status, latencyMs: latency() };
          return this.done(call, outcome);
        }
        outcome = this.classify(call, res.status, text, parse, latency());
      }
    } catch (err) {
      outcome = this.classifyFetchError(err, latency());
    }
    return this.done(call, outcome);
  }

  private classify<T>(call: ProviderCallName, httpStatus: number, text: string, parse: BodyParser<T>, latencyMs: number): ProviderOutcome<T> {
    const unknown = (cause: string): ProviderOutcome<T> => ({ kind: 'unknown', cause, httpStatus, rawText: this.rawText(text), latencyMs });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      const html = /^\s*</.test(text) && /<html|<!doctype/i.test(text);
      return unknown(`HTTP ${httpStatus} with ${html ? 'an HTML page' : text.trim() === '' ? 'an empty body' : 'an unparseable body'}`);
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return unknown(`HTTP ${httpStatus} with a body that is not a JSON object`);
    const obj = json as Json;

    // The status is not documented for errors (200 or 4xx): the body decides.
    if (obj.success === false) {
      const code = toInt(obj.code);
      if (code === undefined) return unknown(`HTTP ${httpStatus} with success:false but no code`);
      const validation = Array.isArray(obj.error) ? obj.error : undefined;
      return {
        kind: 'rejected',
        code,
        reason: rejectionReason(call, code, validation !== undefined),
        message: this.scrub(messageOf(obj, validation)),
        raw: this.sanitize(obj),
        httpStatus,
        latencyMs,
      };
    }
    if (obj.success === true) {
      if (httpStatus < 200 || httpStatus > 299) return unknown(`HTTP ${httpStatus} with success:true`);
      let parsed: Parsed<T>;
      try {
        parsed = parse(obj, numberLiterals(text));
      } catch (err) {
        parsed = { ok: false, problem: `unreadable body (${this.describe(err)})` };
      }
      if (!parsed.ok) return unknown(`success:true but ${parsed.problem}`);
      return { kind: 'ok', body: parsed.value, raw: this.sanitize(obj), httpStatus, latencyMs };
    }
    return unknown(`HTTP ${httpStatus} without a success flag`);
  }

  private classifyFetchError<T>(err: unknown, latencyMs: number): ProviderOutcome<T> {
    const name = (err as { name?: unknown } | null)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      // We cannot prove the request had not been sent and applied.
      return { kind: 'unknown', cause: `timeout after ${this.opts.timeoutMs}ms (may have been applied)`, latencyMs };
    }
    const code = errorCode(err);
    if (code && NOT_SENT_ERROR_CODES.has(code)) return { kind: 'not_sent', cause: `connection failed: ${code}`, latencyMs };
    return { kind: 'unknown', cause: `network error: ${this.describe(err)}`, latencyMs };
  }

  private done<T>(call: ProviderCallName, outcome: ProviderOutcome<T>): ProviderOutcome<T> {
    this.opts.onCall?.(call, outcome);
    const log = this.opts.logger;
    if (log) {
      const fields = {
        call,
        outcome: outcome.kind,
        latencyMs: outcome.latencyMs,
        ...('httpStatus' in outcome && outcome.httpStatus !== undefined ? { httpStatus: outcome.httpStatus } : {}),
        ...(outcome.kind === 'rejected' ? { code: outcome.code, reason: outcome.reason } : {}),
        ...(outcome.kind === 'unknown' || outcome.kind === 'not_sent' ? { cause: outcome.cause } : {}),
      };
      if (outcome.kind === 'unknown') log.warn(fields, 'provider call outcome unknown');
      else log.debug(fields, 'provider call');
    }
    return outcome;
  }

  private describe(err: unknown): string {
    const e = err as { message?: unknown; cause?: unknown } | null;
    const code = errorCode(err);
    const msg = typeof e?.message === 'string' ? e.message : String(err);
    const causeMsg = (e?.cause as { message?: unknown } | undefined)?.message;
    return this.scrub([code, msg, typeof causeMsg === 'string' ? causeMsg : undefined].filter(Boolean).join(': '));
  }

  private scrub(text: string): string {
    return scrubText(text, [this.opts.apiKey]);
  }

  /** Provider bodies kept for audit: secret keys (sub-account apiKey…) redacted, our key scrubbed from every string. */
  private sanitize(json: Json): unknown {
    const scrubDeep = (v: unknown): unknown => {
      if (typeof v === 'string') return this.scrub(v);
      if (Array.isArray(v)) return v.map(scrubDeep);
      if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scrubDeep(x)]));
      return v;
    };
    return scrubDeep(redactSecrets(json));
  }

  /** A truncated body may still hold sub-account keys (a cut list page): blank every apiKey value too. */
  private rawText(text: string): string {
    const cleaned = this.scrub(text).replace(/("api_?key"\s*:\s*")[^"]*("?)/gi, '$1[redacted]$2');
    return cleaned.length > RAW_TEXT_LIMIT ? `${cleaned.slice(0, RAW_TEXT_LIMIT)}…` : cleaned;
  }
}

// ---------------------------------------------------------------- body parsers

function parseMe(json: Json, literals: Map<string, string>): Parsed<MeBody> {
  const user = asObject(json.user) ?? {};
  const credits = asObject(json.credits);
  if (!credits) return { ok: false, problem: 'no credits object' };
  // `balance` is the current field; `solde` is the older name of the same value.
  const balance = moneyAt(json, literals, ['credits', 'balance']) ?? moneyAt(json, literals, ['credits', 'solde']);
  if (!balance) return { ok: false, problem: 'no valid credits.balance or credits.solde' };
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

function parseCredit(json: Json, literals: Map<string, string>): Parsed<CreditBody> {
  const mainBalance = moneyAt(json, literals, ['credit']);
  const subaccountBalance = moneyAt(json, literals, ['subaccountCredit']);
  if (!mainBalance || !subaccountBalance) return { ok: false, problem: 'missing or invalid credit/subaccountCredit' };
  return { ok: true, value: { mainBalance, subaccountBalance, currency: stringOr(json.currency, 'EUR') } };
}

function parseCreate(json: Json): Parsed<CreateBody> {
  const sub = asObject(json.subaccount);
  if (!sub || typeof sub.token !== 'string' || sub.token === '') return { ok: false, problem: 'no subaccount.token' };
  return { ok: true, value: { token: sub.token, email: stringOr(sub.email, '') } };
}

function parseList(json: Json, literals: Map<string, string>): Parsed<SubaccountListBody> {
  const total = toInt(json.total);
  const perPage = toInt(json.nb_per_page);
  const page = toInt(json.page);
  if (total === undefined || perPage === undefined || page === undefined) return { ok: false, problem: 'missing total/nb_per_page/page' };
  if (!Array.isArray(json.data)) return { ok: false, problem: 'no data array' };
  const items: SubaccountListItem[] = [];
  for (const [i, entry] of json.data.entries()) {
    const e = asObject(entry);
    if (!e || typeof e.token !== 'string') return { ok: false, problem: `data[${i}] has no token` };
    const balance = moneyAt(json, literals, ['data', String(i), 'credits', 'balance']);
    if (!balance) return { ok: false, problem: `data[${i}] has no valid credits.balance` };
    const id = toInt(e.id);
    // Built field by field: the entry's own apiKey (a secret) is never copied.
    items.push({
      ...(id !== undefined ? { id } : {}),
      token: e.token,
      email: stringOr(e.email, ''),
      type: stringOr(e.type, ''),
      createdAt: stringOr(e.createdAt, ''),
      balance,
    });
  }
  return { ok: true, value: { total, perPage, page, items } };
}

// ---------------------------------------------------------------- helpers

/** Money at a path: a string value as is, a JSON number from its literal text (never the float). */
function moneyAt(json: Json, literals: Map<string, string>, path: string[]): Money | undefined {
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

function asObject(v: unknown): Json | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

function stringOr(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}

function toInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

function messageOf(obj: Json, validation: unknown[] | undefined): string {
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

/** undici wraps socket errors: `TypeError: fetch failed` with the system error in `cause` (sometimes an AggregateError). */
function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const nested = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(nested) && nested.length > 0) {
      const inner = errorCode(nested[0]);
      if (inner) return inner;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Retry-After: delta-seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
