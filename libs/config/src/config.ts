import { createPrivateKey, KeyObject } from 'node:crypto';
import { CronTime } from 'cron';
import { z } from 'zod';

/**
 * The one configuration schema. Every process validates its environment with it at start and
 * stops with a message naming the variable when a value is missing or invalid.
 */
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const onOff = z.enum(['on', 'off', 'true', 'false', '1', '0']).transform((v) => v === 'on' || v === 'true' || v === '1');
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const url = (protocols: string[]) =>
  z.string().refine((v) => {
    try {
      return protocols.includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, `must be a URL (${protocols.join(' or ')})`);

/** An address to bind to: an IPv4 or IPv6 literal, or a host name. */
const host = z.string().max(253).regex(/^([A-Za-z0-9.-]+|\[?[0-9A-Fa-f:.]+\]?)$/, 'must be an IP address or a host name (0.0.0.0 for every interface)');

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export interface ApiToken { role: Role; token: string; name: string }

const apiTokens = z.string().transform((raw, ctx) => {
  const tokens: ApiToken[] = [];
  for (const [i, part] of raw.split(',').map((p) => p.trim()).filter(Boolean).entries()) {
    const sep = part.indexOf(':');
    const role = part.slice(0, sep) as Role;
    const token = part.slice(sep + 1);
    if (sep < 0 || !ROLES.includes(role) || token.length < 8) {
      // Never echo the token itself.
      ctx.addIssue({ code: 'custom', message: `entry ${i + 1} must be role:token with role in ${ROLES.join('|')} and a token of 8+ characters` });
      return z.NEVER;
    }
    tokens.push({ role, token, name: `${role}#${i + 1}` });
  }
  if (tokens.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'at least one role:token is required' });
    return z.NEVER;
  }
  return tokens;
});

export const configSchema = z.object({
  DATABASE_URL: url(['postgres:', 'postgresql:']),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  SMSPARTNER_API_KEY: z.string().min(1, 'is required'),
  SMSPARTNER_BASE_URL: url(['http:', 'https:']).default('https://api.smspartner.fr/v1'),
  PROVIDER_ACCOUNT: z.string().regex(/^[a-z0-9_-]{1,40}$/).default('default'),
  API_TOKENS: apiTokens.optional(),
  PORT: int(3000, 1),
  /** Address the API listens on: loopback by default; 0.0.0.0 in a container (docker-compose.yml sets it). */
  HOST: host.default('127.0.0.1'),
  /** When set, /metrics (API and worker) requires `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces').optional(),
  /** Ed25519 private key (PKCS#8, PEM or base64 DER) signing the journal digests; without it, no digest is taken. */
  JOURNAL_SIGNING_KEY: z.string().refine(isEd25519PrivateKey, 'must be an Ed25519 private key (PKCS#8, PEM or base64 DER)').optional(),
  /** When the worker publishes a signed digest of the journal chain head (cron, UTC). */
  JOURNAL_DIGEST_CRON: z.string().refine(isCron, 'must be a cron expression').default('*/15 * * * *'),
  RECONCILE_CRON: z.string().refine(isCron, 'must be a cron expression').default('0 * * * *'),
  RECONCILE_TOLERANCE: z.string().regex(/^\d+(\.\d{1,3})?$/).default('0.001'),
  RECONCILE_AUTO_BOOK_USAGE: bool.default(false),
  RECONCILE_IN_DOUBT_GRACE_MS: int(30_000, 0),
  IN_DOUBT_AUTO_SETTLE: onOff.default(true),
  IN_DOUBT_PROBE_DELAY_MS: int(1_000, 0),
  IN_DOUBT_FRESH_READING_MS: int(5_000, 0),
  IN_DOUBT_REREAD_MS: int(5_000, 0),
  IN_DOUBT_REREAD_FOR_MS: int(300_000, 0),
  /**
   * `close` (default): a later transfer of a sub-account waits while one of its transfers is in
   * doubt only when their amounts are within IN_DOUBT_SPEND_FLOOR of each other; `on`: every
   * later transfer waits; `off`: none (docs/in-doubt.md, "One question at a time").
   */
  IN_DOUBT_BARRIER: z.enum(['close', 'on', 'off', 'true', 'false', '1', '0'])
    .transform((v): 'close' | 'on' | 'off' => (v === 'close' ? 'close' : v === 'on' || v === 'true' || v === '1' ? 'on' : 'off'))
    .default('close'),
  IN_DOUBT_BARRIER_MAX_MS: int(60_000, 0),
  IN_DOUBT_SPEND_FACTOR: z.string().regex(/^\d+(\.\d{1,3})?$/).refine((v) => Number(v) >= 1, 'must be at least 1').default('3'),
  IN_DOUBT_SPEND_FLOOR: z.string().regex(/^\d+(\.\d{1,3})?$/).default('2.000'),
  IN_DOUBT_MIN_HISTORY_WINDOWS: int(3, 0),
  USAGE_AUTO_BOOK: onOff.default(true),
  WEBHOOK_URL: url(['http:', 'https:']).optional(),
  WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  WEBHOOK_MAX_ATTEMPTS: int(15, 1),
  WEBHOOK_RETRY_BASE_MS: int(2_000, 10),
  TOPUP_TIMEZONE: z.string().refine(isTimeZone, 'must be an IANA time zone').default('Europe/Paris'),
  TOPUP_TICK_MS: int(60_000, 100),
  PROVIDER_TIMEOUT_MS: int(10_000, 100),
  PROVIDER_MAX_ATTEMPTS: int(5, 1),
  PROVIDER_RETRY_BASE_MS: int(1_000, 10),
  PROVIDER_RATE_LIMIT_PER_SECOND: int(50, 1),
  WORKER_CONCURRENCY: int(8, 1),
  EXECUTION_LEASE_MS: int(60_000, 1_000),
  TRANSFER_EXPIRY_SECONDS: int(86_400, 1),
  TRANSFER_MAX_AMOUNT: z.string().regex(/^\d+(\.\d{1,3})?$/).default('100000'),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('credit-ledger'),
  OUTBOX_POLL_MS: int(1_000, 50),
  WORKER_METRICS_PORT: int(9464, 0),
  WORKER_METRICS_HOST: host.default('127.0.0.1'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}).superRefine((c, ctx) => {
  // A claimed transfer may wait for one call (a call slot) before making its own: its lease
  // must outlast both, or its window of effect (docs/in-doubt.md) would end too early.
  if (c.EXECUTION_LEASE_MS <= 2 * c.PROVIDER_TIMEOUT_MS) {
    ctx.addIssue({ code: 'custom', path: ['EXECUTION_LEASE_MS'], message: 'must be greater than twice PROVIDER_TIMEOUT_MS (a claimed transfer may wait for one call before its own)' });
  }
  if (c.WEBHOOK_URL && !c.WEBHOOK_SECRET) {
    ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRET'], message: 'is required when WEBHOOK_URL is set' });
  }
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

function isCron(expr: string): boolean {
  try {
    new CronTime(expr);
    return true;
  } catch {
    return false;
  }
}

/** The key material of JOURNAL_SIGNING_KEY (never echoed). */
export function journalSigningKey(value: string): KeyObject {
  const text = value.trim();
  const key = text.startsWith('-----BEGIN')
    ? createPrivateKey({ key: text.replace(/\\n/g, '\n'), format: 'pem' })
    : createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key');
  return key;
}

function isEd25519PrivateKey(value: string): boolean {
  try {
    journalSigningKey(value);
    return true;
  } catch {
    return false;
  }
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Validates an environment. Messages name the variable and never echo its value. */
export function loadConfig(env: Record<string, string | undefined> = process.env, required: Array<keyof Config> = []): Config {
  const input: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') input[k] = v;
  const result = configSchema.safeParse(input);
  const problems: string[] = [];
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? '?');
      problems.push(`${name}: ${issue.code === 'invalid_type' && input[name] === undefined ? 'is required' : issue.message}`);
    }
  } else {
    for (const name of required) if (result.data[name] === undefined) problems.push(`${String(name)}: is required`);
  }
  if (problems.length) throw new ConfigError(problems);
  return result.data!;
}

/** For process entry points: the validated configuration, or a message naming the variable and exit 1. */
export function loadConfigOrExit(processName: string, required: Array<keyof Config> = []): Config {
  try {
    return loadConfig(process.env, required);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`credit-ledger ${processName}: ${err.message}\n`);
    process.exit(1);
  }
}
