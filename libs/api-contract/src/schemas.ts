import { z } from 'zod';
import { isValidSubaccountToken, Money, MoneyFormatError } from '@app/ledger';

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

export const token = z.string().refine(isValidSubaccountToken, 'must be a sub-account token ([A-Za-z0-9_-], 1-128 characters)');
const text = (max: number) => z.string().trim().min(1).max(max);
const metadata = z.record(z.string().max(64), z.union([z.string().max(1000), z.number(), z.boolean(), z.null()]))
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

export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

export const transferListQuery = pageQuery.extend({
  status: z.enum(['pending', 'executing', 'posted', 'failed', 'in_doubt', 'voided']).optional(),
  subaccount: token.optional(),
  direction: z.enum(['add', 'remove']).optional(),
  from: isoDate.optional(),
  to: isoDate.optional(),
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
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().regex(/^\d{1,19}$/).optional(),
});
export const uuidParam = z.uuid();
export const emptyQuery = z.strictObject({});

export const runListQuery = pageQuery.extend({ status: z.enum(['running', 'completed', 'failed']).optional() });
export const webhookDeliveryQuery = pageQuery.extend({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  event: z.string().regex(/^[a-z_]+\.[a-z_]+$/, 'an event type, e.g. transfer.posted').optional(),
  entity: z.uuid().optional().meta({ description: 'only the events of this transfer or reconciliation run' }),
  cursor: z.string().regex(/^\d{1,19}$/).optional(),
});
export const reportQuery = z.strictObject({ format: z.enum(['json', 'csv']).default('json') });
export const driftListQuery = pageQuery.extend({ status: z.enum(['open', 'resolved']).optional(), account: accountCode.optional() });
export const resolveDriftInput = z.strictObject({ as: z.enum(['usage', 'purchase', 'write_off']), reason: text(500) });
