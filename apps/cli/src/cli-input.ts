import { createHash, randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { accountCode, batchItemInput, idempotencyKey, token, uuidParam } from '@app/api-contract';
import { Money } from '@app/ledger';

/**
 * Everything the CLI checks before its first request, with the API's own rules (the request
 * schemas of libs/api-contract). The largest amount (TRANSFER_MAX_AMOUNT) is the API's to
 * enforce: the CLI does not know the server's setting.
 */

/** Exit codes, documented in README "Command line" and in `--help`. */
export const EXIT = {
  ok: 0,
  /** not done or not known: unreachable API, 5xx, a run that failed, a transfer failed, voided, in doubt or not final in time */
  failure: 1,
  /** a discrepancy found: drift (reconcile), a broken chain or digest mismatch (verify) */
  discrepancy: 2,
  /** the API refused the request (HTTP 4xx), or some batch items */
  refused: 3,
  /** bad command line: unknown command or flag, missing or invalid value; nothing was sent */
  usage: 64,
  /** bad input file (batch, verify --digest): unreadable, not JSON, invalid items; nothing was sent */
  badInput: 65,
} as const;

export class CliError extends Error {
  constructor(readonly code: string, message: string, readonly exitCode: number, readonly details?: unknown) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError('usage', message, EXIT.usage);

/** No upper bound here: numeric(20,3) holds up to this. */
const UNBOUNDED = '99999999999999999.999';
const itemSchema = batchItemInput(UNBOUNDED);
const isoInstant = z.iso.datetime({ offset: true });

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new Error(`${what}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

/** A positive plain decimal with at most 3 decimals (the API's rule), as a 3-decimal string. */
export function parseAmount(v: string): string {
  let m: Money;
  try { m = Money.parse(v); } catch (err) { throw new Error((err as Error).message); }
  if (!m.isPositive()) throw new Error('must be greater than 0');
  return m.toFixed();
}

export const parseToken = (v: string) => check(token, v, 'sub-account token');
export const parseIdempotencyKey = (v: string) => check(idempotencyKey, v, 'idempotency key');
export const parseAccount = (v: string) => check(accountCode, v, 'account');
export const parseRunId = (v: string) => check(uuidParam, v, 'run id');
export const parseInstant = (v: string) => check(isoInstant, v, 'ISO 8601 time with a zone, e.g. 2026-11-01T00:00:00Z');
export const parseReference = (v: string) => check(z.string().trim().min(1).max(200), v, 'reference');

export function parseSeconds(v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0) throw new Error('must be a positive number of seconds');
  return Number(v);
}

export function parseChunk(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 10_000) throw new Error('must be a whole number from 1 to 10000');
  return Number(v);
}

export const newIdempotencyKey = () => `cli-${randomUUID()}`;

export interface BatchItem { subaccount: string; direction: string; amount: string | number; reference?: string; metadata?: unknown; idempotencyKey: string }

/**
 * A batch file checked item by item, each given an idempotency key (its own, or one derived
 * from the file's sha256 and the item's index), so running the same file again replays every
 * item instead of recording it twice.
 */
export function readBatch(content: Buffer): { items: BatchItem[]; fileHash: string } {
  let parsed: unknown;
  try { parsed = JSON.parse(content.toString('utf8')); } catch (err) {
    throw new CliError('bad_input', `the batch file is not JSON: ${(err as Error).message}`, EXIT.badInput);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new CliError('bad_input', 'the batch file must hold a non-empty JSON array of transfers', EXIT.badInput);
  }
  const fileHash = createHash('sha256').update(content).digest('hex');
  const problems: Array<{ index: number; message: string }> = [];
  const items = parsed.map((raw, index) => {
    const r = itemSchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0];
      problems.push({ index, message: `${issue?.path.join('.') || 'item'}: ${issue?.message ?? 'invalid'}` });
      return undefined;
    }
    const item = raw as Record<string, unknown>;
    return { ...item, idempotencyKey: r.data.idempotencyKey ?? batchItemKey(fileHash, index) } as BatchItem;
  });
  if (problems.length) {
    const shown = problems.slice(0, 20).map((p) => `#${p.index} ${p.message}`).join('; ');
    throw new CliError('bad_input', `${problems.length} invalid item(s), nothing sent: ${shown}${problems.length > 20 ? '; …' : ''}`, EXIT.badInput, problems);
  }
  return { items: items as BatchItem[], fileHash };
}

export const batchItemKey = (fileHash: string, index: number) => `batch-${fileHash.slice(0, 40)}-${index}`;

/** An --out file must be writable before anything is asked of the API. */
export function parseOutFile(v: string): string {
  const file = resolve(v);
  try {
    if (existsSync(file)) {
      if (statSync(file).isDirectory()) throw new Error('is a folder');
      accessSync(file, constants.W_OK);
    } else accessSync(dirname(file), constants.W_OK);
  } catch (err) {
    throw new Error(`cannot write ${v}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return v;
}
