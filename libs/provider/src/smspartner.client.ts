import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Money } from '@app/ledger';
import { learnSecretsFrom, numberLiterals, redactSecrets, scrubText, secrets } from '@app/common';
import {
  CreateBody,
  CreateSubaccountInput,
  CreditBody,
  MeBody,
  operatorMessage,
  ProviderCallName,
  ProviderOutcome,
  rejectionReason,
  SubaccountListBody,
} from './provider-outcome';
import { HttpExchange, HttpExchangeError } from './http-exchange';
import { asObject, BodyParser, Json, messageOf, Parsed, parseCreate, parseCredit, parseList, parseMe, toInt } from './smspartner-body';

export interface SmsPartnerClientOptions {
  /** e.g. https://api.smspartner.fr/v1, or a sandbox's `${url}/v1`. */
  baseUrl: string;
  apiKey: string;
  /** Whole-call budget (connect + send + answer). */
  timeoutMs: number;
  logger?: Logger;
  /**
   * Reads (`/me`, list) answered HTTP 429 or 503 are tried again, `attempts` times in all
   * (default 3), waiting the `Retry-After` the provider gives, else `baseDelayMs` doubling
   * (default 500). A `Retry-After` longer than `maxWaitMs` (default 10 s) is not waited for:
   * the outcome is returned with it. Credit and create calls are never retried here.
   */
  readRetry?: { attempts?: number; baseDelayMs?: number; maxWaitMs?: number };
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Told of every call's outcome (metrics). */
  onCall?: (call: ProviderCallName, outcome: ProviderOutcome<unknown>) => void;
}

const JSON_GET = { accept: 'application/json' };
const JSON_POST = { 'content-type': 'application/json', accept: 'application/json' };

const RAW_TEXT_LIMIT = 2000;


const READ_CALLS: ReadonlySet<ProviderCallName> = new Set(['me', 'list']);
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/**
 * The one client for the five SMS Partner calls this project uses. Never throws for provider or
 * network problems: every call resolves to a ProviderOutcome, classified conservatively (when
 * in doubt, `unknown`, because a credit call may have been applied).
 */
export class SmsPartnerClient {
  private readonly baseUrl: string;
  private readonly http: HttpExchange;
  /** The list page each sub-account was last seen on, by any list read of this client. */
  private readonly pages = new Map<string, number>();

  constructor(private readonly opts: SmsPartnerClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    secrets.add(opts.apiKey);
    const url = new URL(this.baseUrl);
    this.http = new HttpExchange(url);
    if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) {
      // The api key would travel in clear, and an HTTPS-only front answers with a redirect.
      opts.logger?.warn({ baseUrl: `${url.protocol}//${url.host}${url.pathname}` }, 'SMSPARTNER_BASE_URL uses plain http:// for a remote host: the API key travels unencrypted and the provider will likely answer with a redirect (use https://)');
    }
  }

  me(): Promise<ProviderOutcome<MeBody>> {
    return this.call('me', 'GET', `/me?${new URLSearchParams({ apiKey: this.opts.apiKey })}`, undefined, parseMe);
  }

  createSubaccount(input: CreateSubaccountInput): Promise<ProviderOutcome<CreateBody>> {
    const parameters: Json = { email: input.email };
    if (input.isBuyer !== undefined) parameters.isBuyer = input.isBuyer ? 1 : 0;
    if (input.creditToAttribute !== undefined) parameters.creditToAttribute = decimalText(input.creditToAttribute);
    if (input.title !== undefined) parameters.title = input.title;
    if (input.firstname !== undefined) parameters.firstname = input.firstname;
    if (input.lastname !== undefined) parameters.lastname = input.lastname;
    return this.call('create', 'POST', '/subaccount/create', { apiKey: this.opts.apiKey, type: input.type, parameters }, parseCreate);
  }

  listSubaccounts(page: number): Promise<ProviderOutcome<SubaccountListBody>> {
    if (!Number.isInteger(page) || page < 1) throw new RangeError(`page must be a positive integer, got ${page}`);
    return this.call('list', 'GET', `/subaccount/list?${new URLSearchParams({ apiKey: this.opts.apiKey, page: String(page) })}`, undefined, parseList).then((o) => {
      if (o.kind === 'ok') for (const item of o.body.items) this.pages.set(item.token, page);
      return o;
    });
  }

  /** The list page this client last saw the sub-account on (a hint: the list shifts), if any. */
  pageSeen(token: string): number | undefined {
    return this.pages.get(token);
  }

  addCredit(token: string, amount: Money): Promise<ProviderOutcome<CreditBody>> {
    return this.credit('add', token, amount);
  }

  removeCredit(token: string, amount: Money): Promise<ProviderOutcome<CreditBody>> {
    return this.credit('remove', token, amount);
  }

  private credit(call: 'add' | 'remove', token: string, amount: Money): Promise<ProviderOutcome<CreditBody>> {
    // As the docs' examples write it ("100", "12.5"): no float ever touches the amount.
    return this.call(call, 'POST', `/subaccount/credit/${call}`, { apiKey: this.opts.apiKey, credit: decimalText(amount), tokenSubaccount: token }, parseCredit);
  }

  /** One call; reads answered 429/503 are tried again (bounded, honouring Retry-After). */
  private async call<T>(call: ProviderCallName, method: 'GET' | 'POST', path: string, body: Json | undefined, parse: BodyParser<T>): Promise<ProviderOutcome<T>> {
    const retry = this.opts.readRetry ?? {};
    const attempts = READ_CALLS.has(call) ? Math.max(1, retry.attempts ?? 3) : 1;
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const waited: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.once(call, method, path, body, parse);
      const status = outcome.kind === 'not_sent' || outcome.kind === 'unknown' ? outcome.httpStatus : undefined;
      const retryable = status === 429 || (status === 503 && outcome.kind === 'unknown');
      if (!retryable || attempt >= attempts) return this.done(call, withAttempts(outcome, attempt, waited));
      const retryAfterMs = outcome.kind === 'not_sent' ? outcome.retryAfterMs : undefined;
      const waitMs = retryAfterMs ?? (retry.baseDelayMs ?? 500) * 2 ** (attempt - 1);
      if (waitMs > (retry.maxWaitMs ?? 10_000)) return this.done(call, withAttempts(outcome, attempt, waited));
      waited.push(`HTTP ${status} on attempt ${attempt}: retried after ${waitMs} ms${retryAfterMs !== undefined ? ' (Retry-After)' : ''}`);
      await sleep(waitMs);
    }
  }

  private async once<T>(call: ProviderCallName, method: 'GET' | 'POST', path: string, body: Json | undefined, parse: BodyParser<T>): Promise<ProviderOutcome<T>> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      const res = await this.http.send(path, method, body ? JSON_POST : JSON_GET, body ? JSON.stringify(body) : undefined, this.opts.timeoutMs);
      const serverDate = header(res.headers.date);
      const facts = serverDate ? { serverDate } : {};
      if (res.status === 429) {
        // Rate limited: the provider refused before doing anything.
        const retryAfterMs = parseRetryAfter(header(res.headers['retry-after']) ?? null);
        return { kind: 'not_sent', cause: 'HTTP 429 Too Many Requests', httpStatus: 429, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), latencyMs: latency(), ...facts };
      }
      // Never followed: a followed 301/302 turns the POST into a GET, a 307/308 re-sends the
      // body (api key included) to wherever Location points.
      if (res.status >= 300 && res.status < 400) return { ...this.redirected(call, res.status, header(res.headers.location) ?? null, latency()), ...facts };
      let text: string;
      try {
        text = await res.body;
      } catch (err) {
        // Headers arrived, the body did not: the call reached the provider.
        const cause = err instanceof HttpExchangeError && err.timedOut ? `timeout after ${this.opts.timeoutMs}ms while reading the answer (may have been applied)` : `response interrupted: ${this.describe(err)}`;
        return { kind: 'unknown', cause, httpStatus: res.status, latencyMs: latency(), ...facts };
      }
      return { ...this.classify(call, res.status, text, parse, latency()), ...facts };
    } catch (err) {
      return this.classifyExchangeError(err, latency());
    }
  }

  /**
   * A 3xx is never followed. Was the call applied? The usual cause is a base URL in http://
   * answered by an HTTPS-only front before the API sees anything; but a redirect can also come
   * after the work was done (Post/Redirect/Get answers 303 once the POST is handled) or from a
   * proxy that forwarded first, and the answer does not say which. So it is `unknown` (a
   * credit call goes in doubt, never re-sent), flagged as a configuration problem, and logged
   * as an error with the Location stripped of its query (it may echo the api key).
   */
  private redirected<T>(call: ProviderCallName, status: number, location: string | null, latencyMs: number): ProviderOutcome<T> {
    let where: string | null = null;
    if (location) {
      try {
        const u = new URL(location, this.baseUrl);
        where = this.scrub(`${u.protocol}//${u.host}${u.pathname}`);
      } catch {
        where = '(unreadable Location)';
      }
    }
    const base = new URL(this.baseUrl);
    const upgrade = base.protocol === 'http:' && where?.startsWith('https://');
    const hint = upgrade
      ? 'SMSPARTNER_BASE_URL uses http:// and the provider redirects to https://: set it to the https:// URL'
      : 'check SMSPARTNER_BASE_URL (host and path of the provider API)';
    const cause = `HTTP ${status} redirect to ${where ?? '(no Location)'}, not followed: configuration problem, ${hint}${READ_CALLS.has(call) ? '' : '; the call may or may not have been applied'}`;
    this.opts.logger?.error({ call, httpStatus: status, location: where, baseUrl: `${base.protocol}//${base.host}${base.pathname}` }, 'provider answered a redirect: configuration problem');
    return { kind: 'unknown', cause, httpStatus: status, redirect: { status, location: where }, configurationProblem: 'redirect', latencyMs };
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
    // Keys the provider hands out (list entries, create answers) join the process's secrets
    // before anything of this answer is kept: they are scrubbed from every message from now on.
    learnSecretsFrom(obj);

    // The status is not documented for errors (200 or 4xx): the body decides.
    if (obj.success === false) {
      const code = toInt(obj.code);
      if (code === undefined) return unknown(`HTTP ${httpStatus} with success:false but no code`);
      const validation = Array.isArray(obj.error) ? obj.error : undefined;
      const message = this.scrub(messageOf(obj, validation));
      return {
        kind: 'rejected',
        code,
        reason: rejectionReason(call, code, validation !== undefined),
        message,
        operatorMessage: operatorMessage(call, code, message, validation !== undefined),
        raw: this.sanitize(obj),
        httpStatus,
        latencyMs,
        ...(typeof obj.code === 'string' ? { tolerated: ['code sent as a string'] } : {}),
      };
    }
    if (obj.success === true) {
      if (httpStatus < 200 || httpStatus > 299) return unknown(`HTTP ${httpStatus} with success:true`);
      const tolerated: string[] = [];
      let parsed: Parsed<T>;
      try {
        parsed = parse(obj, numberLiterals(text), tolerated);
      } catch (err) {
        parsed = { ok: false, problem: `unreadable body (${this.describe(err)})` };
      }
      if (!parsed.ok) return unknown(`success:true but ${parsed.problem}`);
      return { kind: 'ok', body: parsed.value, raw: this.sanitize(obj), httpStatus, latencyMs, ...(tolerated.length ? { tolerated } : {}) };
    }
    return unknown(`HTTP ${httpStatus} without a success flag`);
  }

  private classifyExchangeError<T>(err: unknown, latencyMs: number): ProviderOutcome<T> {
    if (err instanceof HttpExchangeError && err.timedOut) {
      // We cannot prove the request had not been sent and applied (a connect that had not
      // finished would prove it, but it is counted as a timeout like any other: one rule).
      return { kind: 'unknown', cause: `timeout after ${this.opts.timeoutMs}ms (may have been applied)`, latencyMs };
    }
    if (err instanceof HttpExchangeError && !err.sent) {
      // Refused, unresolvable, unreachable: no connection was ever made for this request, so
      // not a byte of it reached the provider.
      return { kind: 'not_sent', cause: `connection failed: ${err.code ?? this.describe(err)}`, latencyMs };
    }
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
        ...(outcome.attempts && outcome.attempts > 1 ? { attempts: outcome.attempts } : {}),
        ...(outcome.tolerated ? { tolerated: outcome.tolerated } : {}),
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
    const parts = [code, msg, typeof causeMsg === 'string' && causeMsg !== msg ? causeMsg : undefined];
    return this.scrub(parts.filter(Boolean).join(': '));
  }

  /** Every secret the process knows (the main key, each sub-account key seen so far) removed. */
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
    for (const m of text.matchAll(/"api_?key"\s*:\s*"([^"\\]+)"/gi)) secrets.add(m[1]);
    const cleaned = this.scrub(text).replace(/("api_?key"\s*:\s*")[^"]*("?)/gi, '$1[redacted]$2');
    return cleaned.length > RAW_TEXT_LIMIT ? `${cleaned.slice(0, RAW_TEXT_LIMIT)}…` : cleaned;
  }
}

// ---------------------------------------------------------------- helpers

/** A decimal as the provider's examples write amounts: "100", "12.5", "0.125" (no trailing zeros). */
export function decimalText(m: Money): string {
  const fixed = m.toFixed();
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

function withAttempts<T>(o: ProviderOutcome<T>, attempts: number, waited: string[]): ProviderOutcome<T> {
  if (attempts === 1) return o;
  return { ...o, attempts, tolerated: [...waited, ...(o.tolerated ?? [])] };
}

/** The system error's code (ECONNRESET…), on the error or the one it wraps. */
function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A header's one value (node gives repeated headers as an array: the first counts). */
function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
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
