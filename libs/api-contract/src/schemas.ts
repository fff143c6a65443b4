import { z } from 'zod';
import { Cursors, CursorKind, DomainError, isStorableText, STORABLE_TEXT_MESSAGE } from '@app/common';
import { isValidSubaccountToken, Money, MoneyFormatError } from '@app/ledger';
import { scheduleProblem, timezoneProblem } from '@app/topups/schedule';

/**
 * Request schemas: the one definition both the validation (apps/api) and the OpenAPI document
 * (/docs) are built from. Unknown fields are refused (strict objects).
 */
export const MAX_AMOUNT_DEFAULT = '100000';

/** Money in a request: a string or a JSON number, positive, at most 3 decimals, at most `max`. */
export function amountSchema(max = MAX_AMOUNT_DEFAULT) {
  const maximum = Money.parse(max);
  return z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      // Only a plain amount: no surrounding spaces or newlines (" 0.027", "0.017\n").
      if (typeof v === 'string' && !PLAIN_AMOUNT.test(v)) {
        ctx.addIssue({ code: 'custom', message: 'must be a plain decimal amount like 12.5 or 12.500 (digits, at most 3 decimals, no spaces or sign)' });
        return z.NEVER;
      }
      try {
        const m = Money.parse(v);
        if (!m.isPositive()) ctx.addIssue({ code: 'custom', message: 'must be greater than 0' });
        else if (m.greaterThan(maximum)) ctx.addIssue({ code: 'custom', message: `must be at most ${maximum.toFixed()}` });
        else return m;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: err instanceof MoneyFormatError ? err.message : 'invalid amount' });
      }
      return z.NEVER;
    })
    .meta({ description: 'EUR amount: a string or number, > 0, at most 3 decimals', examples: ['12.500'] });
}

const PLAIN_AMOUNT = /^\d+(\.\d+)?$/;

/** Free text that Postgres can store: refused at the contract when it holds NUL or a lone surrogate. */
export const storableString = () => z.string().refine(isStorableText, STORABLE_TEXT_MESSAGE);

/** A page size: digits only (no "0x10", " 5", "1e2"), 1 … max. */
export const limitSchema = (max = 500, def = 50) => z.string()
  .regex(/^[1-9]\d{0,5}$/, `must be an integer from 1 to ${max}, written in digits`)
  .transform(Number)
  .pipe(z.number().max(max, `must be an integer from 1 to ${max}`))
  .optional()
  .transform((v) => v ?? def)
  .meta({ description: `page size, 1-${max} (default ${def})` });

/**
 * A cursor of the given kind, decoded and range-checked by the same helper the queries use
 * (`Cursors`, libs/common): one the API could not have given is a 400 here, never a Postgres error.
 */
export const cursorSchema = (kind: CursorKind) => z.string().max(300).superRefine((v, ctx) => {
  try {
    Cursors[kind].decode(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof DomainError ? err.message : 'invalid cursor' });
  }
}).optional().meta({ description: 'the nextCursor of the previous page' });

export const token = z.string().refine(isValidSubaccountToken, 'must be a sub-account token ([A-Za-z0-9_-], 1-128 characters)');
const text = (max: number) => storableString().trim().min(1).max(max);
const metadata = z.record(storableString().max(64), z.union([storableString().max(1000), z.number(), z.boolean(), z.null()]))
  .refine((m) => Object.keys(m).length <= 50, 'at most 50 keys');
export const idempotencyKey = z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');
const isoDate = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

export const transferInput = (max?: string) => z.strictObject({
  subaccount: token,
  direction: z.enum(['add', 'remove']),
  amount: amountSchema(max),
  reference: text(200).optional(),
  metadata: metadata.optional(),
});

export const batchInput = (max?: string) => z.strictObject({
  transfers: z.array(z.unknown()).min(1).max(10_000),
});
export const batchItemInput = (max?: string) => transferInput(max).extend({ idempotencyKey: idempotencyKey.optional() });

export const resolveTransferInput = z.strictObject({
  outcome: z.enum(['applied', 'not_applied']),
  reason: text(500),
});

export const createSubaccountInput = z.strictObject({
  type: z.enum(['simple', 'advanced']),
  email: z.email().max(254),
  title: text(100).optional(),
  firstname: text(100).optional(),
  lastname: text(100).optional(),
  isBuyer: z.boolean().optional(),
});

const pageOn = (kind: CursorKind) => z.strictObject({ limit: limitSchema(), cursor: cursorSchema(kind) });
/** /v1/subaccounts: token order. */
export const pageQuery = pageOn('token');

export const transferListQuery = pageOn('sequence').extend({
  status: z.enum(['pending', 'executing', 'posted', 'failed', 'in_doubt', 'voided']).optional(),
  subaccount: token.optional(),
  direction: z.enum(['add', 'remove']).optional(),
  from: isoDate.optional(),
  to: isoDate.optional(),
  reference: text(200).optional().meta({ description: 'only transfers whose reference contains this text (case-insensitive)' }),
});

export const accountCode = z.string().max(140).regex(/^(main|funding|usage|adjustment|sub:[A-Za-z0-9_-]{1,128})$/, 'must be main, funding, usage, adjustment or sub:<token>');
export const balanceAtQuery = z.strictObject({ at: isoDate.optional() });
/** Defaults (dashboard charts): the last 30 days up to now. */
export const historyQuery = z.strictObject({ from: isoDate.optional(), to: isoDate.optional() });
export const statementQuery = z.strictObject({
  from: isoDate.optional(),
  to: isoDate.optional(),
  format: z.enum(['json', 'csv']).default('json'),
});
export const journalQuery = z.strictObject({
  from: isoDate.optional(),
  to: isoDate.optional(),
  format: z.enum(['json', 'csv', 'jsonl']).default('json'),
  limit: limitSchema(),
  cursor: cursorSchema('sequence'),
  entityType: z.string().regex(/^[a-z_]{1,40}$/).optional().meta({ description: 'only entries about this kind of entity (transfer, ledger_transaction, drift_finding, reconciliation_run, topup_policy, topup_run); with entity' }),
  entity: z.uuid().optional().meta({ description: 'only entries about this entity (e.g. a transfer id, or its ledgerTransactionId for its postings)' }),
}).refine((q) => q.entityType === undefined || q.entity !== undefined, { message: 'entityType needs entity', path: ['entityType'] });
export const journalLinesQuery = z.strictObject({
  from: isoDate.optional(),
  to: isoDate.optional(),
  format: z.enum(['json', 'csv', 'jsonl']).default('json'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().regex(/^\d{1,19}$/).optional(),
  entityType: z.string().regex(/^[a-z_]{1,40}$/).optional().meta({ description: 'only entries about this kind of entity (transfer, ledger_transaction, drift_finding, reconciliation_run, topup_policy, topup_run); with entity' }),
  entity: z.uuid().optional().meta({ description: 'only entries about this entity (e.g. a transfer id, or its ledgerTransactionId for its postings)' }),
}).refine((q) => q.entityType === undefined || q.entity !== undefined, { message: 'entityType needs entity', path: ['entityType'] });
export const uuidParam = z.uuid();

export const runListQuery = pageOn('instantId').extend({ status: z.enum(['running', 'completed', 'failed']).optional() });
export const webhookDeliveryQuery = pageOn('sequence').extend({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  event: z.string().regex(/^[a-z_]+\.[a-z_]+$/, 'an event type, e.g. transfer.posted').optional(),
  entity: z.uuid().optional().meta({ description: 'only the events of this transfer or reconciliation run' }),
});
export const reportQuery = z.strictObject({ format: z.enum(['json', 'csv']).default('json') });
export const usageReportQuery = z.strictObject({
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'a month, YYYY-MM (UTC)').meta({ examples: ['2026-11'] }),
  format: z.enum(['json', 'csv']).default('json'),
});
export const driftListQuery = pageOn('instantId').extend({ status: z.enum(['open', 'resolved']).optional(), account: accountCode.optional() });
export const resolveDriftInput = z.strictObject({ as: z.enum(['usage', 'purchase', 'write_off']), reason: text(500) });

/** Top-up policies: cron (5 fields) and IANA zone checked by the same functions the scheduler uses. */
const topupSchedule = z.string().max(100).superRefine((v, ctx) => {
  const problem = scheduleProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}).meta({ description: 'cron, 5 fields (minute hour day-of-month month day-of-week), local time of `timezone`', examples: ['0 6 1 * *'] });
const topupTimezone = z.string().max(64).superRefine((v, ctx) => {
  const problem = timezoneProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}).meta({ description: 'IANA time zone', examples: ['Europe/Paris'] });
const topupMode = z.enum(['fixed', 'target']);

export const topupPolicyInput = (max?: string) => z.strictObject({
  subaccount: token,
  mode: topupMode,
  amount: amountSchema(max).optional().meta({ description: 'fixed mode: the amount added each period' }),
  target: amountSchema(max).optional().meta({ description: 'target mode: the balance (as the provider sees it) to bring the sub-account up to' }),
  cap: amountSchema(max).optional().meta({ description: 'the most one run transfers' }),
  schedule: topupSchedule.optional().meta({ description: 'default 0 6 1 * * (monthly on the 1st at 06:00)' }),
  timezone: topupTimezone.optional().meta({ description: 'default TOPUP_TIMEZONE (Europe/Paris)' }),
  enabled: z.boolean().optional(),
}).superRefine((v, ctx) => {
  if (v.mode === 'fixed' && v.amount === undefined) ctx.addIssue({ code: 'custom', path: ['amount'], message: 'is required in fixed mode' });
  if (v.mode === 'fixed' && v.target !== undefined) ctx.addIssue({ code: 'custom', path: ['target'], message: 'is for target mode only' });
  if (v.mode === 'target' && v.target === undefined) ctx.addIssue({ code: 'custom', path: ['target'], message: 'is required in target mode' });
  if (v.mode === 'target' && v.amount !== undefined) ctx.addIssue({ code: 'custom', path: ['amount'], message: 'is for fixed mode only' });
});

/** Only the fields given change; `cap: null` removes the cap. */
export const topupPolicyPatch = (max?: string) => z.strictObject({
  subaccount: token.optional(),
  mode: topupMode.optional(),
  amount: amountSchema(max).optional(),
  target: amountSchema(max).optional(),
  cap: amountSchema(max).nullable().optional(),
  schedule: topupSchedule.optional(),
  timezone: topupTimezone.optional(),
  enabled: z.boolean().optional(),
}).refine((v) => Object.keys(v).length > 0, 'at least one field to change');

export const topupPolicyListQuery = pageOn('uuid').extend({
  subaccount: token.optional(),
  includeDeleted: z.enum(['true', 'false']).transform((v) => v === 'true').optional().meta({ description: 'also list deleted policies (default false)' }),
});
export const topupRunListQuery = pageOn('sequence').extend({
  policy: z.uuid().optional(),
  period: z.string().regex(/^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}([+-]\d{2}:\d{2})?)?)?)?$/, 'a period key (2026-12-01T06:00+01:00) or its beginning (2026, 2026-12, 2026-12-01)').optional()
    .meta({ description: 'a period key or its beginning: 2026-12 lists the runs scheduled in December 2026 (local time); encode + as %2B' }),
  status: z.enum(['decided', 'skipped', 'failed', 'missed']).optional(),
});

/** A signed journal digest as GET/POST /v1/audit/digests give it (and an auditor keeps it). */
export const journalDigest = z.object({
  version: z.literal(1),
  sequence: z.string().regex(/^(0|[1-9]\d{0,18})$/, 'a journal sequence').refine((v) => BigInt(v) <= 9223372036854775807n, 'a journal sequence'),
  hash: z.string().regex(/^[0-9a-f]{64}$/, '64 hex digits'),
  at: z.iso.datetime({ offset: true }),
  keyId: z.string().regex(/^[0-9a-f]{16}$/, '16 hex digits'),
  publicKey: z.string().max(1000).regex(/^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\r?\n?$/, 'an SPKI public key in PEM form'),
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'an Ed25519 signature, base64'),
}).catchall(z.unknown()).meta({ description: 'a digest as published (extra fields such as id, trigger, actor are ignored)' });
export const verifyAuditInput = z.strictObject({ digest: journalDigest });
export const digestListQuery = pageOn('sequence');
