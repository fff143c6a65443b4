/**
 * Every error a client can cause or observe has a stable snake_case code. One global filter
 * (apps/api) maps DomainError to `{ error: { code, message, details } }` with this status.
 */
export const ErrorCodes = {
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  subaccount_not_found: 404,
  transfer_not_found: 404,
  account_not_found: 404,
  reconciliation_not_found: 404,
  drift_not_found: 404,
  policy_not_found: 404,
  webhook_event_not_found: 404,
  idempotency_key_reused: 409,
  invalid_state: 409,
  reconciliation_already_running: 409,
  subaccount_exists: 409,
  signing_key_not_configured: 409,
  insufficient_available_balance: 422,
  provider_rejected: 422,
  payload_too_large: 413,
  provider_unavailable: 502,
  service_unavailable: 503,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  get status(): number {
    return ErrorCodes[this.code];
  }
}

/**
 * The one error body every HTTP answer uses (the API's filter, its Fastify hooks and plugins,
 * the worker's metrics server): `{ error: { code, message, details? } }`. (The CLI's `--json`
 * errors carry its own codes and exit status, apps/cli.)
 */
export function errorBody(code: ErrorCode, message: string, details?: unknown): { error: { code: ErrorCode; message: string; details?: unknown } } {
  return { error: { code, message, ...(details !== undefined ? { details } : {}) } };
}
