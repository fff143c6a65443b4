import { SeededRandom } from './prng';

export const FAULT_ROUTES = ['me', 'list', 'create', 'add', 'remove'] as const;
export type ProviderRoute = (typeof FAULT_ROUTES)[number];
export type FaultRoute = ProviderRoute | '*';

export const FAULT_KINDS = [
  'latency', // wait `ms`, then answer normally (applied)
  'http_429', // not applied; Retry-After from retryAfterSeconds
  'http_500',
  'http_502',
  'http_503', // not applied
  'apply_then_drop', // applied, socket destroyed without an answer
  'apply_then_http_500', // applied, then HTTP 500 with a plain-text body
  'apply_then_delay', // applied, answer after `ms`
  'drop_before_apply', // socket destroyed, nothing applied
  'malformed_body', // not applied, 200 with truncated JSON
  'html_error', // not applied, 502 HTML page
  'missing_fields', // applied, {success:true, code:200} only
  'error_code', // not applied, {success:false, code, message}: any provider error, documented or not
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRuleInput {
  route: FaultRoute;
  fault: FaultKind;
  /** Fire on the next `count` matching calls, then the rule is dropped. */
  count?: number;
  /** Fire with this probability on each matching call (with `count`, at most `count` times). */
  probability?: number;
  /** Seed of this rule's own PRNG (default: the sandbox's fault PRNG). */
  seed?: number | string;
  /** latency / apply_then_delay: milliseconds. */
  ms?: number;
  /** http_429: value of the Retry-After header (omitted when absent). */
  retryAfterSeconds?: number;
  /** error_code: the provider code and message to answer. */
  code?: number;
  message?: string;
}

export interface FaultRule extends FaultRuleInput {
  id: number;
  /** Times this rule fired. */
  fired: number;
}

export interface FaultDecision {
  at: string;
  route: ProviderRoute;
  ruleId: number;
  fault: FaultKind;
}

export class FaultRuleError extends Error {}

/**
 * Fault rules, evaluated in insertion order for every provider call: the first rule that
 * matches the route and fires wins. Count rules are dropped once exhausted.
 */
export class FaultInjector {
  private rules: Array<FaultRule & { rng?: SeededRandom }> = [];
  private nextId = 1;
  private rng: SeededRandom;
  readonly decisions: FaultDecision[] = [];

  constructor(private readonly seed: number | string = 'faults', private readonly now: () => Date = () => new Date()) {
    this.rng = new SeededRandom(seed);
  }

  add(input: FaultRuleInput): FaultRule {
    validateRule(input);
    const rule = {
      ...input,
      id: this.nextId++,
      fired: 0,
      ...(input.probability !== undefined && input.seed !== undefined ? { rng: new SeededRandom(input.seed) } : {}),
    };
    this.rules.push(rule);
    return publicRule(rule);
  }

  /** Removes every rule and the decision history (and, with `resetRandom`, restarts the shared PRNG from its seed). */
  clear(resetRandom = true): void {
    this.rules = [];
    this.decisions.length = 0;
    if (resetRandom) this.rng = new SeededRandom(this.seed);
  }

  list(): FaultRule[] {
    return this.rules.map(publicRule);
  }

  /** Decides the fault for one call, consuming counts and random draws. */
  decide(route: ProviderRoute): FaultRule | undefined {
    for (const rule of this.rules) {
      if (rule.route !== '*' && rule.route !== route) continue;
      if (rule.probability !== undefined) {
        const draw = (rule.rng ?? this.rng).next();
        if (draw >= rule.probability) continue;
      }
      rule.fired++;
      if (rule.count !== undefined) {
        rule.count--;
        if (rule.count <= 0) this.rules = this.rules.filter((r) => r !== rule);
      }
      this.decisions.push({ at: this.now().toISOString(), route, ruleId: rule.id, fault: rule.fault });
      return publicRule(rule);
    }
    return undefined;
  }
}

function publicRule(rule: FaultRule & { rng?: SeededRandom }): FaultRule {
  const { rng: _rng, ...rest } = rule;
  return { ...rest };
}

function validateRule(r: FaultRuleInput): void {
  if (!r || typeof r !== 'object') throw new FaultRuleError('rule must be an object');
  if (r.route !== '*' && !(FAULT_ROUTES as readonly string[]).includes(r.route)) throw new FaultRuleError(`route must be one of ${FAULT_ROUTES.join(', ')} or *`);
  if (!(FAULT_KINDS as readonly string[]).includes(r.fault)) throw new FaultRuleError(`fault must be one of ${FAULT_KINDS.join(', ')}`);
  if (r.count === undefined && r.probability === undefined) throw new FaultRuleError('count or probability is required');
  if (r.count !== undefined && (!Number.isInteger(r.count) || r.count < 1)) throw new FaultRuleError('count must be a positive integer');
  if (r.probability !== undefined && !(typeof r.probability === 'number' && r.probability >= 0 && r.probability <= 1)) throw new FaultRuleError('probability must be in [0, 1]');
  if (r.ms !== undefined && !(Number.isFinite(r.ms) && r.ms >= 0)) throw new FaultRuleError('ms must be a non-negative number');
  if ((r.fault === 'latency' || r.fault === 'apply_then_delay') && r.ms === undefined) throw new FaultRuleError(`${r.fault} needs ms`);
  if (r.retryAfterSeconds !== undefined && !(Number.isFinite(r.retryAfterSeconds) && r.retryAfterSeconds >= 0)) throw new FaultRuleError('retryAfterSeconds must be a non-negative number');
  if (r.fault === 'error_code' && !Number.isInteger(r.code)) throw new FaultRuleError('error_code needs an integer code');
}
