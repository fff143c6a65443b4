import { z } from 'zod';
import { Role } from '@app/config';
import * as r from './responses';
import * as s from './schemas';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteDef {
  method: HttpMethod;
  /** OpenAPI form: /v1/transfers/{id} */
  path: string;
  /** Lowest role allowed, or public (no token). */
  role: Role | 'public';
  tag: string;
  summary: string;
  body?: z.ZodType;
  query?: z.ZodType;
  params?: Record<string, z.ZodType>;
  idempotencyKey?: boolean;
  /** The body may be left out altogether (the route then acts as without one). */
  bodyOptional?: boolean;
  /**
   * Status → description, or description and the schema of the JSON body (a named schema of
   * responses.ts, or any zod schema). Error statuses come with the common error body.
   */
  responses: Record<number, string | ResponseDef>;
  /** Media types of the 2xx body (default application/json); the others are text. */
  produces?: string[];
}

export interface ResponseDef { description: string; schema?: z.ZodType }

const maxAmount = process.env.TRANSFER_MAX_AMOUNT ?? s.MAX_AMOUNT_DEFAULT;

/** Every route the API serves. The API refuses to start if a handler is not listed here. */
export const ROUTES = {
  listSubaccounts: { method: 'GET', path: '/v1/subaccounts', role: 'viewer', tag: 'Sub-accounts', summary: 'List sub-accounts with ledger and last observed balances', query: s.pageQuery, responses: { 200: { description: 'A page of sub-accounts', schema: r.SubaccountPage } } },
  getSubaccount: { method: 'GET', path: '/v1/subaccounts/{token}', role: 'viewer', tag: 'Sub-accounts', summary: 'One sub-account', params: { token: s.token }, responses: { 200: { description: 'The sub-account', schema: r.Subaccount }, 404: 'subaccount_not_found' } },
  createSubaccount: { method: 'POST', path: '/v1/subaccounts', role: 'admin', tag: 'Sub-accounts', summary: 'Create a sub-account at the provider and in the ledger', body: s.createSubaccountInput, responses: { 201: { description: 'Created', schema: r.Subaccount }, 409: 'subaccount_exists', 422: 'provider_rejected', 502: 'provider_unavailable' } },
  importSubaccounts: { method: 'POST', path: '/v1/subaccounts/import', role: 'admin', tag: 'Sub-accounts', summary: "Import or refresh every sub-account from the provider's list (first import books opening balances)", responses: { 200: { description: 'Counts', schema: r.SubaccountImport }, 502: 'provider_unavailable' } },

  createTransfer: { method: 'POST', path: '/v1/transfers', role: 'operator', tag: 'Transfers', summary: 'Record a transfer (pending) for the worker to execute', body: s.transferInput(maxAmount), idempotencyKey: true, responses: { 202: { description: 'Recorded, pending', schema: r.Transfer }, 200: { description: 'Replayed for the same Idempotency-Key', schema: r.Transfer }, 404: 'subaccount_not_found', 409: 'idempotency_key_reused', 422: 'insufficient_available_balance' } },
  createTransferBatch: { method: 'POST', path: '/v1/transfers/batch', role: 'operator', tag: 'Transfers', summary: 'Record up to 10,000 transfers; per-item results', body: s.batchInput(maxAmount), responses: { 207: { description: 'Per-item results', schema: r.BatchResults } } },
  listTransfers: { method: 'GET', path: '/v1/transfers', role: 'viewer', tag: 'Transfers', summary: 'List transfers, newest first', query: s.transferListQuery, responses: { 200: { description: 'A page of transfers', schema: r.TransferPage } } },
  getTransfer: { method: 'GET', path: '/v1/transfers/{id}', role: 'viewer', tag: 'Transfers', summary: 'One transfer, with `evidence` when it was in doubt (docs/in-doubt.md)', params: { id: s.uuidParam }, responses: { 200: { description: 'The transfer', schema: r.Transfer }, 404: 'transfer_not_found' } },
  resolveTransfer: { method: 'POST', path: '/v1/transfers/{id}/resolve', role: 'operator', tag: 'Transfers', summary: 'Post or void an in-doubt transfer, with a reason', params: { id: s.uuidParam }, body: s.resolveTransferInput, responses: { 200: { description: 'Resolved', schema: r.Transfer }, 404: 'transfer_not_found', 409: 'invalid_state' } },

  listAccounts: { method: 'GET', path: '/v1/accounts', role: 'viewer', tag: 'Ledger', summary: 'Every ledger account with its balances', responses: { 200: { description: 'Accounts', schema: r.AccountPage } } },
  accountBalance: { method: 'GET', path: '/v1/accounts/{code}/balance', role: 'viewer', tag: 'Ledger', summary: 'Balance now, or posted balance at an instant', params: { code: s.accountCode }, query: s.balanceAtQuery, responses: { 200: { description: 'Balance', schema: r.AccountBalance }, 404: 'account_not_found' } },
  accountStatement: { method: 'GET', path: '/v1/accounts/{code}/statement', role: 'viewer', tag: 'Ledger', summary: 'Opening balance, postings and closing balance over a period', params: { code: s.accountCode }, query: s.statementQuery, responses: { 200: { description: 'Statement', schema: r.Statement } }, produces: ['application/json', 'text/csv'] },
  journal: { method: 'GET', path: '/v1/journal', role: 'viewer', tag: 'Ledger', summary: 'The hash-chained journal (JSON page, or a streamed CSV / JSON-lines export)', query: s.journalQuery, responses: { 200: { description: 'Journal', schema: r.JournalPage } }, produces: ['application/json', 'text/csv', 'application/x-ndjson'] },
  journalLines: { method: 'GET', path: '/v1/journal/lines', role: 'viewer', tag: 'Ledger', summary: 'One line per posting of posted transactions (date (UTC), transaction, account, debit, credit, memo, reference, actor): JSON page, or a streamed CSV / JSON-lines export', query: s.journalLinesQuery, responses: { 200: { description: 'A page of journal lines (or the CSV / JSON-lines export)', schema: r.JournalLinePage } }, produces: ['application/json', 'text/csv', 'application/x-ndjson'] },
  accountHistory: { method: 'GET', path: '/v1/accounts/{code}/history', role: 'viewer', tag: 'Ledger', summary: 'Posted balance over time and provider observations with their drift (default: the last 30 days)', params: { code: s.accountCode }, query: s.historyQuery, responses: { 200: { description: 'Posted balance over time and provider observations with their drift', schema: r.AccountHistory }, 404: 'account_not_found' } },
  verifyAudit: { method: 'GET', path: '/v1/audit/verify', role: 'viewer', tag: 'Ledger', summary: 'Recompute the journal hash chain', responses: { 200: { description: 'The verification result', schema: r.AuditVerification } } },
  verifyAuditDigest: { method: 'POST', path: '/v1/audit/verify', role: 'viewer', tag: 'Ledger', summary: 'Recompute the journal hash chain; with { digest } (a signed digest kept by an auditor), also check its signature and that the chain still has its hash at its sequence (a rewrite after the digest is detected). Without a body: as GET', body: s.verifyAuditInput, bodyOptional: true, responses: { 200: { description: 'The verification result; with a digest also its anchor and signature check', schema: r.DigestVerification }, 400: 'validation_failed' } },
  takeJournalDigest: { method: 'POST', path: '/v1/audit/digests', role: 'admin', tag: 'Ledger', summary: 'Sign and publish a digest of the journal chain head now (Ed25519, JOURNAL_SIGNING_KEY); the same head gives back the digest already taken', responses: { 201: { description: 'The signed digest to keep', schema: r.JournalDigest }, 409: 'signing_key_not_configured' } },
  listJournalDigests: { method: 'GET', path: '/v1/audit/digests', role: 'viewer', tag: 'Ledger', summary: 'Published digests of the journal chain head, newest first, with the public key that verifies them', query: s.digestListQuery, responses: { 200: { description: 'Published digests, newest first, with the public key that verifies them', schema: r.JournalDigestPage } } },

  startReconciliation: { method: 'POST', path: '/v1/reconciliations', role: 'operator', tag: 'Reconciliation', summary: 'Start a reconciliation run now (runs in the background)', responses: { 202: { description: 'Started', schema: r.ReconciliationStarted }, 409: 'reconciliation_already_running' } },
  listReconciliations: { method: 'GET', path: '/v1/reconciliations', role: 'viewer', tag: 'Reconciliation', summary: 'Reconciliation runs, newest first', query: s.runListQuery, responses: { 200: { description: 'A page of runs', schema: r.ReconciliationRunPage } } },
  getReconciliation: { method: 'GET', path: '/v1/reconciliations/{id}', role: 'viewer', tag: 'Reconciliation', summary: 'A run with its per-account items', params: { id: s.uuidParam }, responses: { 200: { description: 'The run', schema: r.ReconciliationRunDetail }, 404: 'reconciliation_not_found' } },
  reconciliationReport: { method: 'GET', path: '/v1/reconciliations/{id}/report', role: 'viewer', tag: 'Reconciliation', summary: 'Report of a run: per account expected, observed, drift, status, explanation; totals', params: { id: s.uuidParam }, query: s.reportQuery, responses: { 200: { description: 'Report', schema: r.ReconciliationReport }, 404: 'reconciliation_not_found' }, produces: ['application/json', 'text/csv'] },
  usageReport: { method: 'GET', path: '/v1/reports/usage', role: 'viewer', tag: 'Reconciliation', summary: 'Usage per sub-account and month (UTC): opening, top-ups, removals, usage, adjustments, closing, the last provider reading and the difference', query: s.usageReportQuery, responses: { 200: { description: 'The usage report (JSON or CSV)', schema: r.UsageReport }, 400: 'validation_failed' }, produces: ['application/json', 'text/csv'] },
  listDrifts: { method: 'GET', path: '/v1/drifts', role: 'viewer', tag: 'Reconciliation', summary: 'Drift findings', query: s.driftListQuery, responses: { 200: { description: 'A page of findings', schema: r.DriftFindingPage } } },
  resolveDrift: { method: 'POST', path: '/v1/drifts/{id}/resolve', role: 'operator', tag: 'Reconciliation', summary: "Book a balanced adjustment for exactly the finding's drift, with a reason", params: { id: s.uuidParam }, body: s.resolveDriftInput, responses: { 200: { description: 'The resolved finding', schema: r.DriftFinding }, 404: 'drift_not_found', 409: 'invalid_state' } },

  listTopupPolicies: { method: 'GET', path: '/v1/topup-policies', role: 'viewer', tag: 'Top-ups', summary: 'Top-up policies, oldest first (deleted ones with includeDeleted=true)', query: s.topupPolicyListQuery, responses: { 200: { description: 'A page of policies', schema: r.TopupPolicyPage } } },
  createTopupPolicy: { method: 'POST', path: '/v1/topup-policies', role: 'admin', tag: 'Top-ups', summary: 'Create a policy: fixed amount or up to a target, on a cron schedule in a time zone (default monthly on the 1st at 06:00)', body: s.topupPolicyInput(maxAmount), responses: { 201: { description: 'The policy', schema: r.TopupPolicy }, 404: 'subaccount_not_found' } },
  getTopupPolicy: { method: 'GET', path: '/v1/topup-policies/{id}', role: 'viewer', tag: 'Top-ups', summary: 'One policy (deleted ones too)', params: { id: s.uuidParam }, responses: { 200: { description: 'The policy', schema: r.TopupPolicy }, 404: 'policy_not_found' } },
  updateTopupPolicy: { method: 'PATCH', path: '/v1/topup-policies/{id}', role: 'admin', tag: 'Top-ups', summary: 'Change a policy (journaled); a new schedule or zone, or re-enabling, starts it afresh from now', params: { id: s.uuidParam }, body: s.topupPolicyPatch(maxAmount), responses: { 200: { description: 'The policy', schema: r.TopupPolicy }, 404: 'policy_not_found', 409: 'invalid_state' } },
  deleteTopupPolicy: { method: 'DELETE', path: '/v1/topup-policies/{id}', role: 'admin', tag: 'Top-ups', summary: 'Delete a policy: it never fires again; it and its runs stay readable', params: { id: s.uuidParam }, responses: { 200: { description: 'The deleted policy', schema: r.TopupPolicy }, 404: 'policy_not_found', 409: 'invalid_state' } },
  previewTopupPolicy: { method: 'GET', path: '/v1/topup-policies/{id}/preview', role: 'viewer', tag: 'Top-ups', summary: 'The next fire time and the amount a run would transfer now (target mode reads the provider)', params: { id: s.uuidParam }, responses: { 200: { description: 'What the next run would do', schema: r.TopupPreview }, 404: 'policy_not_found', 502: 'provider_unavailable' } },
  listTopupRuns: { method: 'GET', path: '/v1/topup-runs', role: 'viewer', tag: 'Top-ups', summary: 'Top-up runs, newest first: period, decision and why, the transfer and its status', query: s.topupRunListQuery, responses: { 200: { description: 'A page of runs', schema: r.TopupRunPage } } },

  listWebhookDeliveries: { method: 'GET', path: '/v1/webhook-deliveries', role: 'viewer', tag: 'Webhooks', summary: 'The webhook delivery log: events newest first with their attempts, last status code or error and delivery time', query: s.webhookDeliveryQuery, responses: { 200: { description: 'A page of delivery log entries', schema: r.WebhookDeliveryPage } } },
  redeliverWebhook: { method: 'POST', path: '/v1/webhook-deliveries/{id}/redeliver', role: 'operator', tag: 'Webhooks', summary: 'Put a failed event back in the delivery queue (same event id: receivers de-duplicate)', params: { id: s.uuidParam }, responses: { 200: { description: 'The event, pending again', schema: r.WebhookDelivery }, 404: 'webhook_event_not_found', 409: 'invalid_state' } },

  providerCheck: { method: 'GET', path: '/v1/provider/check', role: 'admin', tag: 'Operations', summary: 'Read-only check of the configured provider before real money: /me and the first sub-account list page (shapes seen, sub-account feature, latency, clock skew, what the client had to tolerate); provider trouble is reported, not an error', responses: { 200: { description: 'The check: verdict, per-call findings, sub-account feature, clock skew, problems and warnings', schema: r.ProviderCheck } } },
  me: { method: 'GET', path: '/v1/me', role: 'viewer', tag: 'Operations', summary: 'Who the token belongs to and its role (the dashboard shows or hides actions with it)', responses: { 200: { description: 'The caller', schema: r.Me } } },

  healthLive: { method: 'GET', path: '/health/live', role: 'public', tag: 'Operations', summary: 'The process is up', responses: { 200: { description: 'Up', schema: r.Live } } },
  healthReady: { method: 'GET', path: '/health/ready', role: 'public', tag: 'Operations', summary: 'Postgres, Redis, queue and migrations are ready', responses: { 200: { description: 'Ready', schema: r.Readiness }, 503: { description: 'Not ready: the failing checks', schema: r.Readiness } } },
  metrics: { method: 'GET', path: '/metrics', role: 'public', tag: 'Operations', summary: 'Prometheus metrics', responses: { 200: 'Metrics' }, produces: ['text/plain'] },
} satisfies Record<string, RouteDef>;

export const ALL_ROUTES: RouteDef[] = Object.values(ROUTES);

/** Fastify path form of an OpenAPI path: /v1/transfers/{id} → /v1/transfers/:id */
export function fastifyPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}
