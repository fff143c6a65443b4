import { performance } from 'node:perf_hooks';
import { MeBody, ProviderOutcome, SkippedListEntry, SubaccountListBody } from './provider-outcome';

/** What the check needs (SmsPartnerClient implements it). Read-only calls only. */
export interface ProviderCheckReads {
  me(): Promise<ProviderOutcome<MeBody>>;
  listSubaccounts(page: number): Promise<ProviderOutcome<SubaccountListBody>>;
}

/** JSON type skeleton of an answer: field names and types, never a value. Arrays show their first element. */
export type Shape = 'string' | 'number' | 'boolean' | 'null' | Shape[] | { [field: string]: Shape };

export interface CallReport {
  outcome: ProviderOutcome<unknown>['kind'];
  httpStatus: number | null;
  latencyMs: number;
  attempts: number;
  /** rejected: the provider's code and message, the client's reason and the operator's sentence. */
  code?: number;
  reason?: string;
  message?: string;
  operatorMessage?: string;
  /** not_sent / unknown: what happened. */
  cause?: string;
  configurationProblem?: string;
  /** Shape of the answer body (ok and rejected answers); null when there was no readable body. */
  shape: Shape | null;
  /** What the client had to accept to read the answer. */
  tolerated: string[];
}

export interface ProviderCheckReport {
  checkedAt: string;
  /** scheme://host/path of SMSPARTNER_BASE_URL (never a query or credentials). */
  baseUrl: string;
  /** blocked: nothing will work; attention: works, with something to look at; ready. */
  verdict: 'ready' | 'attention' | 'blocked';
  me: CallReport & { balance: string | null; currency: string | null };
  list: CallReport & { page: 1; total: number | null; perPage: number | null; entries: number | null; skipped: SkippedListEntry[] };
  /** on: the list answered; off: it was refused as not authorised; unknown: anything else. */
  subaccountFeature: 'on' | 'off' | 'unknown';
  /** The provider's Date header minus our clock at mid-call (the header has 1 s resolution); null without a Date header. */
  clockSkewMs: number | null;
  /** Blocking findings, in plain words. */
  problems: string[];
  /** Non-blocking findings, in plain words. */
  warnings: string[];
}

export interface ProviderCheckOptions {
  baseUrl: string;
  /** The client's timeout: a latency above half of it is reported. */
  timeoutMs: number;
  /** A clock skew above this is reported (default 30 s). */
  maxSkewMs?: number;
  now?: () => Date;
}

/**
 * Onboarding check of the configured provider: `/me` and the first page of the sub-account
 * list, read-only, reporting what an operator must know before pointing the service at real
 * money (the key works, the sub-account feature is on, shapes as documented, latency, clock
 * skew, and every oddity the client had to tolerate). Provider trouble is reported, never thrown.
 */
export class ProviderCheckUseCase {
  constructor(private readonly provider: ProviderCheckReads, private readonly opts: ProviderCheckOptions) {}

  async execute(): Promise<ProviderCheckReport> {
    const now = this.opts.now ?? (() => new Date());
    const checkedAt = now().toISOString();
    const me = await this.timed(() => this.provider.me());
    const list = await this.timed(() => this.provider.listSubaccounts(1));
    const problems: string[] = [];
    const warnings: string[] = [];

    const url = new URL(this.opts.baseUrl);
    const baseUrl = `${url.protocol}//${url.host}${url.pathname}`.replace(/\/+$/, '');
    if (url.protocol === 'http:' && !/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i.test(url.hostname)) {
      warnings.push('SMSPARTNER_BASE_URL uses plain http:// for a remote host: the API key travels unencrypted. Use https://.');
    }

    const meReport = { ...callReport(me.outcome), balance: me.outcome.kind === 'ok' ? me.outcome.body.balance.toFixed() : null, currency: me.outcome.kind === 'ok' ? me.outcome.body.currency : null };
    if (me.outcome.kind !== 'ok') problems.push(`/me failed: ${describe(me.outcome)}`);
    else if (me.outcome.body.currency !== 'EUR') warnings.push(`The main account's currency is ${me.outcome.body.currency}, not EUR: every documented example is in EUR.`);

    const lo = list.outcome;
    const listReport = {
      ...callReport(lo),
      page: 1 as const,
      total: lo.kind === 'ok' ? lo.body.total : null,
      perPage: lo.kind === 'ok' ? lo.body.perPage : null,
      entries: lo.kind === 'ok' ? lo.body.items.length : null,
      skipped: lo.kind === 'ok' ? lo.body.skipped ?? [] : [],
    };
    const subaccountFeature: ProviderCheckReport['subaccountFeature'] = lo.kind === 'ok' ? 'on'
      : lo.kind === 'rejected' && (lo.reason === 'not_authorised' || lo.code === 4 || /autoris|authori|permission/i.test(lo.message)) ? 'off'
        : 'unknown';
    if (subaccountFeature === 'off') problems.push('The sub-account feature is not switched on for this main account: ask SMS Partner support to enable it (create, list and credit calls are refused until then).');
    else if (lo.kind !== 'ok') problems.push(`The sub-account list failed: ${describe(lo)}`);
    if (lo.kind === 'ok') {
      if (listReport.skipped.length) warnings.push(`${listReport.skipped.length} entr${listReport.skipped.length === 1 ? 'y' : 'ies'} of the first list page could not be read and would be skipped (see list.skipped).`);
      if (lo.body.perPage !== 20) warnings.push(`The list pages by ${lo.body.perPage}, the docs say 20.`);
    }

    for (const [name, r] of [['/me', meReport], ['list', listReport]] as const) {
      for (const t of r.tolerated) warnings.push(`${name}: the client tolerated: ${t}.`);
      if (r.configurationProblem === 'redirect') problems.push(`${name} was answered with a redirect: SMSPARTNER_BASE_URL is probably wrong (http:// instead of https://, or another host or path).`);
      if (r.latencyMs > this.opts.timeoutMs / 2) warnings.push(`${name} took ${r.latencyMs} ms, more than half the client timeout (PROVIDER_TIMEOUT_MS = ${this.opts.timeoutMs}).`);
    }

    const skews = [me, list].map((c) => c.skewMs).filter((x): x is number => x !== null);
    const clockSkewMs = skews.length ? skews[0] : null;
    const maxSkew = this.opts.maxSkewMs ?? 30_000;
    if (clockSkewMs === null) warnings.push('The provider sent no Date header: clock skew unknown.');
    else if (Math.abs(clockSkewMs) > maxSkew) warnings.push(`The provider's clock and ours differ by ${Math.round(clockSkewMs / 1000)} s: check NTP on this host (the provider's timestamps, e.g. createdAt, will not line up with ours).`);

    const verdict = problems.length ? 'blocked' : warnings.length ? 'attention' : 'ready';
    return { checkedAt, baseUrl, verdict, me: meReport, list: listReport, subaccountFeature, clockSkewMs, problems: dedupe(problems), warnings: dedupe(warnings) };
  }

  private async timed<T>(call: () => Promise<ProviderOutcome<T>>): Promise<{ outcome: ProviderOutcome<T>; skewMs: number | null }> {
    const wallBefore = Date.now();
    const started = performance.now();
    const outcome = await call();
    const elapsed = performance.now() - started;
    const serverMs = outcome.serverDate ? Date.parse(outcome.serverDate) : NaN;
    // The server stamped its Date somewhere during the call: compare with our clock at mid-call.
    return { outcome, skewMs: Number.isNaN(serverMs) ? null : Math.round(serverMs - (wallBefore + elapsed / 2)) };
  }
}

function callReport(o: ProviderOutcome<unknown>): CallReport {
  const base: CallReport = {
    outcome: o.kind,
    httpStatus: 'httpStatus' in o && o.httpStatus !== undefined ? o.httpStatus : null,
    latencyMs: o.latencyMs,
    attempts: o.attempts ?? 1,
    shape: o.kind === 'ok' || o.kind === 'rejected' ? shapeOf(o.raw) : null,
    tolerated: o.tolerated ?? [],
  };
  if (o.kind === 'rejected') return { ...base, code: o.code, reason: o.reason, message: o.message, ...(o.operatorMessage ? { operatorMessage: o.operatorMessage } : {}) };
  if (o.kind === 'not_sent') return { ...base, cause: o.cause };
  if (o.kind === 'unknown') return { ...base, cause: o.cause, ...(o.configurationProblem ? { configurationProblem: o.configurationProblem } : {}) };
  return base;
}

function describe(o: Exclude<ProviderOutcome<unknown>, { kind: 'ok' }>): string {
  if (o.kind === 'rejected') return `${o.operatorMessage ?? o.message} (code ${o.code}${o.message ? `: "${o.message}"` : ''})`;
  return o.cause;
}

export function shapeOf(v: unknown): Shape {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (Array.isArray(v)) return v.length ? [shapeOf(v[0])] : [];
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, shapeOf(x)]));
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}
