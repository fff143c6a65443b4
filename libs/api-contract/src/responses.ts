import { z } from 'zod';

/**
 * Response schemas: what the presenters and query views (libs/<lib>/src/*.presenter.ts,
 * *.queries.ts) return, described for the OpenAPI document. Each schema given an `id` here
 * becomes `#/components/schemas/<id>`; test/openapi.e2e-spec.ts validates real responses of
 * a running API against them, so a field added to a view without its entry here fails a test.
 */
export const responseRegistry = z.registry<{ id: string }>();

function named<T extends z.ZodType>(id: string, schema: T): T {
  responseRegistry.add(schema, { id });
  return schema;
}

/** EUR amount on the wire: a string with exactly 3 decimals (never a JSON number). */
export const Money = named('Money', z.string().regex(/^-?\d+\.\d{3}$/).meta({ description: 'EUR amount: a decimal string with exactly 3 decimals (may be negative for drifts and balances)', examples: ['12.500'] }));
/** An instant: ISO 8601 in UTC. */
export const Instant = named('Instant', z.string().meta({ format: 'date-time', description: 'ISO 8601 instant in UTC', examples: ['2026-12-01T21:05:09.123Z'] }));
const uuid = z.string().meta({ format: 'uuid' });
const nullable = <T extends z.ZodType>(t: T) => t.nullable();

/** `{ data: [T], nextCursor }`: pass `nextCursor` back as `?cursor=` for the next page; null at the end. */
export function page<T extends z.ZodType>(id: string, item: T) {
  return named(id, z.object({
    data: z.array(item),
    nextCursor: z.string().nullable().meta({ description: 'cursor of the next page (query ?cursor=), null on the last page' }),
  }));
}

export const Balance = named('Balance', z.object({ posted: Money, pending: Money, available: Money })
  .meta({ description: 'posted = settled; pending = net of reservations not yet posted; available = posted minus money reserved to leave' }));

export const Subaccount = named('Subaccount', z.object({
  token: z.string(),
  email: z.string(),
  type: z.string().meta({ examples: ['simple'] }),
  title: z.string().nullable(),
  balance: Balance,
  observed: nullable(z.object({
    balance: Money.meta({ description: 'what the provider showed' }),
    at: Instant,
    source: z.enum(['me', 'list', 'transfer', 'probe']),
    expected: Money.meta({ description: "the ledger's posted balance at that reading" }),
    drift: Money.meta({ description: 'balance minus expected' }),
  })).meta({ description: 'the latest provider reading, null before the first' }),
  createdAt: Instant,
}).meta({
  examples: [{
    token: 'acme-fr', email: 'billing@acme.example', type: 'simple', title: 'ACME France',
    balance: { posted: '120.000', pending: '-5.000', available: '115.000' },
    observed: { balance: '117.500', at: '2026-12-01T21:00:02.311Z', source: 'list', expected: '120.000', drift: '-2.500' },
    createdAt: '2026-11-02T09:12:44.000Z',
  }],
}));
export const SubaccountPage = page('SubaccountPage', Subaccount);
export const SubaccountImport = named('SubaccountImport', z.object({
  total: z.int(), imported: z.int(), refreshed: z.int(), openingBalances: z.int(), mainOpeningBalance: Money.nullable(),
  skipped: z.array(z.object({ page: z.int(), index: z.union([z.int(), z.string()]), token: z.string().optional(), reason: z.string() }))
    .meta({ description: 'list entries the provider sent that could not be read (not imported)' }),
}));

export const TRANSFER_STATUS = z.enum(['pending', 'executing', 'posted', 'failed', 'in_doubt', 'voided']);

/**
 * For an in-doubt transfer: the provider readings gathered and what they prove. Open objects:
 * the evidence grows new facts without a contract change.
 */
export const Evidence = named('Evidence', z.looseObject({
  status: z.enum(['undecided', 'decided']),
  outcome: z.enum(['applied', 'not_applied']).nullable(),
  summary: z.string(),
  readings: z.array(z.looseObject({ source: z.string(), at: Instant, subaccountBalance: Money.nullable(), mainBalance: Money.nullable() })),
  hypotheses: z.array(z.looseObject({
    outcome: z.enum(['applied', 'not_applied']), refuted: z.boolean(),
    needs: z.union([z.string(), z.array(z.string())]).nullable().optional(), why: z.string().nullable(),
  })),
  assumptions: z.array(z.string()),
  suggestion: z.string().nullable(),
  evaluatedAt: Instant,
}).meta({ description: 'For an in-doubt transfer: the provider readings gathered and what they prove about the outcome (null: none gathered yet)' }));

export const Transfer = named('Transfer', z.object({
  id: uuid,
  subaccount: z.string(),
  direction: z.enum(['add', 'remove']),
  amount: Money,
  status: TRANSFER_STATUS,
  reference: z.string().nullable(),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).nullable(),
  createdAt: Instant,
  updatedAt: Instant,
  expiresAt: Instant.meta({ description: 'a pending transfer not executed by then fails as expired' }),
  attempts: z.int(),
  failureReason: z.string().nullable().meta({ description: 'why it failed, is retried or is in doubt (machine text, e.g. provider_unreachable)' }),
  provider: nullable(z.object({
    code: z.int().nullable(), message: z.string().nullable(), credit: Money.nullable(), subaccountCredit: Money.nullable(), at: Instant.nullable(),
  })).meta({ description: "the provider's answer to the last call, null before one" }),
  resolution: nullable(z.object({ outcome: z.enum(['applied', 'not_applied']), by: z.string(), reason: z.string().nullable(), at: Instant })),
  ledgerTransactionId: uuid,
  evidence: Evidence.nullable().optional(),
}).meta({
  examples: [{
    id: '0b7d6c7e-6f0e-4c55-9a57-3f3c6f9a2d11', subaccount: 'acme', direction: 'add', amount: '12.500', status: 'posted', reference: 'invoice 42',
    metadata: null, createdAt: '2026-12-01T21:05:09.123Z', updatedAt: '2026-12-01T21:05:10.004Z', expiresAt: '2026-12-02T21:05:09.123Z', attempts: 1,
    failureReason: null, provider: { code: 200, message: null, credit: '987.500', subaccountCredit: '112.500', at: '2026-12-01T21:05:10.001Z' },
    resolution: null, ledgerTransactionId: '5d0f3f0e-2b8a-4d77-8c1e-8a6f0e2b9c33',
  }],
}));
export const TransferPage = page('TransferPage', Transfer);

const ErrorBody = z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() });
export const BatchResults = named('BatchResults', z.object({
  results: z.array(z.object({
    index: z.int().meta({ description: 'position of the item in the request' }),
    status: z.int().meta({ description: '202 recorded, 200 replayed (same idempotencyKey), else the error status of this item' }),
    transfer: Transfer.optional(),
    error: ErrorBody.optional(),
  })),
}).meta({ examples: [{ results: [{ index: 0, status: 400, error: { code: 'validation_failed', message: 'invalid transfers.0: amount: must be greater than 0' } }] }] }));

export const Account = named('Account', z.object({ code: z.string().meta({ examples: ['sub:acme'] }), type: z.string().meta({ examples: ['subaccount'] }), balance: Balance }));
export const AccountPage = page('AccountPage', Account);
export const AccountBalance = named('AccountBalance', z.object({
  code: z.string(),
  at: Instant,
  balance: z.union([Balance, z.object({ posted: Money })]).meta({ description: 'with ?at= only the posted balance at that instant' }),
}));
export const Statement = named('Statement', z.object({
  account: z.string(), from: Instant, to: Instant, opening: Money, closing: Money,
  postings: z.array(z.object({ postedAt: Instant, transactionId: uuid, kind: z.string(), amount: Money, balanceAfter: Money, actor: z.string(), reason: z.string().nullable() })),
}));
export const JournalEntry = named('JournalEntry', z.object({
  sequence: z.int(), recordedAt: Instant, providerAccount: z.string(), actor: z.string(),
  action: z.string().meta({ examples: ['transfer.posted'] }), entityType: z.string(), entityId: z.string(), reason: z.string().nullable(),
  correlationId: z.string().nullable(), data: z.record(z.string(), z.unknown()).nullable(), prevHash: z.string(), hash: z.string(),
}));
export const JournalPage = page('JournalPage', JournalEntry);
export const AccountHistory = named('AccountHistory', z.object({
  account: z.string(), from: Instant, to: Instant,
  ledger: z.array(z.object({ at: Instant, posted: Money })),
  observations: z.array(z.object({
    at: Instant, source: z.enum(['me', 'list', 'transfer', 'probe']), observed: Money, expected: Money, drift: Money, settled: z.boolean(),
    runId: uuid.nullable(), transferId: uuid.nullable(),
  })),
  truncated: z.boolean(),
}));
export const AuditVerification = named('AuditVerification', z.object({ ok: z.boolean(), checked: z.int(), brokenAt: z.string().nullable() }));

const RunSummary = z.object({
  accounts: z.int(), matched: z.int(), drifted: z.int(), unsettled: z.int(), resolvedInDoubt: z.int(), autoBooked: z.int(), unknownSubaccounts: z.int(),
});
export const ReconciliationRun = named('ReconciliationRun', z.object({
  id: uuid, providerAccount: z.string(), status: z.enum(['running', 'completed', 'failed']), trigger: z.enum(['schedule', 'manual']), actor: z.string(),
  tolerance: Money, startedAt: Instant, finishedAt: Instant.nullable(), error: z.string().nullable(),
  window: z.object({ from: Instant.nullable(), to: Instant.nullable() }).meta({ description: 'when the provider was read' }),
  summary: RunSummary,
}).meta({
  examples: [{
    id: '2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e', providerAccount: 'default', status: 'completed', trigger: 'schedule', actor: 'system:reconciliation',
    tolerance: '0.000', startedAt: '2026-12-01T22:00:00.004Z', finishedAt: '2026-12-01T22:00:02.118Z', error: null,
    window: { from: '2026-12-01T22:00:00.010Z', to: '2026-12-01T22:00:01.907Z' },
    summary: { accounts: 41, matched: 39, drifted: 1, unsettled: 1, resolvedInDoubt: 0, autoBooked: 0, unknownSubaccounts: 0 },
  }],
}));
export const ReconciliationRunPage = page('ReconciliationRunPage', ReconciliationRun);
export const ReconciliationStarted = named('ReconciliationStarted', z.object({ id: uuid, status: z.literal('running'), startedAt: Instant }));
const ITEM_STATUS = z.enum(['matched', 'drift', 'unsettled', 'resolved_in_doubt']);
export const RunItem = named('RunItem', z.object({
  account: z.string(), source: z.enum(['me', 'list', 'transfer', 'probe']), expected: Money, observed: Money, drift: Money, explained: Money,
  status: ITEM_STATUS, explanation: z.string().nullable(), observedAt: Instant.nullable(), observationId: z.string().nullable(),
  findingId: uuid.nullable(), ledgerTransactionId: uuid.nullable(),
}));
export const ReconciliationRunDetail = named('ReconciliationRunDetail', ReconciliationRun.extend({ items: z.array(RunItem) }));
export const ReconciliationReport = named('ReconciliationReport', z.object({
  run: ReconciliationRun,
  sources: z.array(z.enum(['me', 'list', 'transfer'])),
  rows: z.array(z.object({
    account: z.string(), source: z.enum(['me', 'list', 'transfer', 'probe']), observedAt: Instant.nullable(), expected: Money, observed: Money, drift: Money,
    status: ITEM_STATUS, explanation: z.string().nullable(),
  })),
  totals: z.object({
    expected: Money, observed: Money, drift: Money, accounts: z.int(), matched: z.int(), drifted: z.int(), unsettled: z.int(), resolvedInDoubt: z.int(),
  }),
}));
export const DriftFinding = named('DriftFinding', z.object({
  id: uuid, account: z.string(), drift: Money.meta({ description: 'observed minus expected: positive, the provider shows more than the ledger' }),
  observed: Money, expected: Money, firstSeenAt: Instant, lastSeenAt: Instant, status: z.enum(['open', 'resolved']),
  suggestion: z.enum(['usage_likely', 'purchase_or_refund_likely']), firstRunId: uuid, lastRunId: uuid,
  resolution: nullable(z.object({
    as: z.enum(['usage', 'purchase', 'write_off', 'self_resolved']), by: z.string(), reason: z.string().nullable(), at: Instant, ledgerTransactionId: uuid.nullable(),
  })),
}).meta({
  examples: [{
    id: '7f9c2b1e-3d4a-4b5c-8d6e-9f0a1b2c3d4e', account: 'sub:acme-fr', drift: '-2.500', observed: '117.500', expected: '120.000',
    firstSeenAt: '2026-12-01T21:00:02.311Z', lastSeenAt: '2026-12-01T22:00:01.907Z', status: 'open', suggestion: 'usage_likely',
    firstRunId: '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', lastRunId: '2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e', resolution: null,
  }],
}));
export const DriftFindingPage = page('DriftFindingPage', DriftFinding);

export const TopupPolicy = named('TopupPolicy', z.object({
  id: uuid, subaccount: z.string(), mode: z.enum(['fixed', 'target']), amount: Money.nullable(), target: Money.nullable(), cap: Money.nullable(),
  schedule: z.string().meta({ examples: ['0 6 1 * *'] }), timezone: z.string().meta({ examples: ['Europe/Paris'] }), enabled: z.boolean(),
  nextRunAt: Instant.nullable().meta({ description: 'next fire (UTC), null when disabled or deleted' }), effectiveFrom: Instant,
  createdBy: z.string(), updatedBy: z.string(), createdAt: Instant, updatedAt: Instant, deletedAt: Instant.nullable(),
}).meta({
  examples: [{
    id: '3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f', subaccount: 'acme-fr', mode: 'target', amount: null, target: '200.000', cap: '150.000',
    schedule: '0 6 1 * *', timezone: 'Europe/Paris', enabled: true, nextRunAt: '2027-01-01T05:00:00.000Z', effectiveFrom: '2026-12-01T10:00:00.000Z',
    createdBy: 'token:admin#1/admin', updatedBy: 'token:admin#1/admin', createdAt: '2026-12-01T10:00:00.000Z', updatedAt: '2026-12-01T10:00:00.000Z', deletedAt: null,
  }],
}));
export const TopupPolicyPage = page('TopupPolicyPage', TopupPolicy);
export const TopupPreview = named('TopupPreview', z.object({
  policy: uuid, enabled: z.boolean(), deleted: z.boolean(), nextRunAt: Instant.nullable(), nextPeriod: z.string().nullable(), duePeriod: z.string().nullable(),
  amount: Money.nullable(), explanation: z.string(), observedBalance: Money.nullable(), at: Instant,
}));
export const TopupRun = named('TopupRun', z.object({
  id: uuid, policy: uuid, period: z.string().meta({ examples: ['2026-12-01T06:00+01:00'] }), scheduledFor: Instant,
  status: z.enum(['decided', 'skipped', 'failed', 'missed']), mode: z.enum(['fixed', 'target']), amount: Money.nullable(), explanation: z.string(),
  observedBalance: Money.nullable(),
  transfer: nullable(z.object({ id: uuid, status: TRANSFER_STATUS, amount: Money, updatedAt: Instant })),
  createdAt: Instant,
}));
export const TopupRunPage = page('TopupRunPage', TopupRun);

export const WebhookDelivery = named('WebhookDelivery', z.object({
  id: uuid, event: z.string().meta({ examples: ['transfer.posted'] }), sequence: z.int(), entity: z.object({ type: z.string(), id: z.string() }),
  createdAt: Instant, status: z.enum(['pending', 'delivered', 'failed']), attempts: z.int(), lastAttemptAt: Instant.nullable(),
  lastStatusCode: z.int().nullable(), lastError: z.string().nullable(), deliveredAt: Instant.nullable(), payload: z.record(z.string(), z.unknown()),
}));
export const WebhookDeliveryPage = page('WebhookDeliveryPage', WebhookDelivery);

export const Me = named('Me', z.object({ name: z.string(), role: z.enum(['viewer', 'operator', 'admin']) }));
export const Live = named('Live', z.object({ status: z.literal('ok') }));
export const Readiness = named('Readiness', z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.record(z.string(), z.string()).meta({ description: 'each check: "ok", or what is wrong', examples: [{ postgres: 'ok', migrations: 'ok', redis: 'ok', queue: 'ok' }] }),
}));

// ------------------------------------------------------------------ usage, journal lines, digests, provider check

const UsageFigures = {
  opening: Money, topUps: Money, removals: Money, usage: Money, adjustments: Money, closing: Money,
  providerClosing: Money.nullable().meta({ description: "the provider's last reading of the month, null if none" }),
  difference: Money.nullable().meta({ description: 'closing minus providerClosing' }),
};
export const UsageReport = named('UsageReport', z.object({
  month: z.string().meta({ examples: ['2026-11'] }),
  timeZone: z.literal('UTC'),
  from: Instant,
  to: Instant,
  rows: z.array(z.object({ account: z.string().meta({ examples: ['sub:acme'] }), subaccount: z.string(), ...UsageFigures })),
  totals: z.object(UsageFigures),
}).meta({ description: 'Usage per sub-account and month (UTC): closing = opening + topUps - removals - usage + adjustments' }));

export const JournalLine = named('JournalLine', z.object({
  id: z.string(), date: z.string().meta({ description: 'posting date (UTC), YYYY-MM-DD' }), postedAt: Instant, transactionId: uuid, kind: z.string(),
  account: z.string(), debit: Money.nullable(), credit: Money.nullable(), memo: z.string().nullable(), reference: z.string().nullable(), actor: z.string(),
}));
export const JournalLinePage = page('JournalLinePage', JournalLine);

export const JournalDigest = named('JournalDigest', z.looseObject({
  version: z.int(), sequence: z.string(), hash: z.string(), at: Instant, keyId: z.string(), publicKey: z.string(), signature: z.string(),
}).meta({ description: 'A signed (Ed25519) digest of the journal chain head: keep it; POST /v1/audit/verify { digest } detects any rewrite before its sequence' }));
export const JournalDigestPage = named('JournalDigestPage', z.object({
  publicKey: z.string().nullable(), keyId: z.string().nullable(), data: z.array(JournalDigest), nextCursor: z.string().nullable(),
}));
export const DigestVerification = named('DigestVerification', AuditVerification.extend({
  anchor: z.looseObject({ sequence: z.string(), matches: z.boolean() }).nullable().optional(),
  digest: z.looseObject({ sequence: z.string(), hash: z.string(), keyId: z.string().nullable(), signature: z.enum(['valid', 'invalid']), chainMatches: z.boolean().nullable() }).nullable().optional(),
  problem: z.string().nullable().optional(),
}).loose());

const ProviderCheckCall = z.looseObject({
  outcome: z.enum(['ok', 'rejected', 'not_sent', 'unknown']), httpStatus: z.int().nullable(), latencyMs: z.number(), attempts: z.int(),
  tolerated: z.array(z.string()),
});
export const ProviderCheck = named('ProviderCheck', z.looseObject({
  checkedAt: Instant, baseUrl: z.string(), verdict: z.enum(['ready', 'attention', 'blocked']),
  me: ProviderCheckCall, list: ProviderCheckCall,
  subaccountFeature: z.enum(['on', 'off', 'unknown']), clockSkewMs: z.number().nullable(),
  problems: z.array(z.string()), warnings: z.array(z.string()),
}).meta({ description: 'Read-only check of the configured provider (nothing is written); provider trouble is a finding, not an error' }));
