import { Money } from '@app/ledger';

export type RejectionReason =
  | 'invalid_key'
  | 'not_authorised'
  | 'insufficient_credit'
  | 'subaccount_not_found'
  | 'invalid_amount'
  | 'missing_parameter'
  | 'email_exists'
  | 'invalid_request'
  | 'unknown_code';

/**
 * What a provider call ended as. The four kinds drive what the ledger does:
 * - ok: applied; post it.
 * - rejected: the provider answered `success:false`: not applied, fail it.
 * - not_sent: provably never reached the provider (connection refused, DNS, 429): safe to retry.
 * - unknown: it may or may not have been applied: in doubt, never retry blindly.
 */
export type ProviderOutcome<T> =
  | { kind: 'ok'; body: T; raw: unknown; httpStatus: number; latencyMs: number }
  | { kind: 'rejected'; code: number; reason: RejectionReason; message: string; raw: unknown; httpStatus: number; latencyMs: number }
  | { kind: 'not_sent'; cause: string; retryAfterMs?: number; latencyMs: number }
  | { kind: 'unknown'; cause: string; httpStatus?: number; rawText?: string; latencyMs: number };

export type ProviderCallName = 'me' | 'create' | 'list' | 'add' | 'remove';

export interface MeBody {
  username: string;
  firstname: string;
  lastname: string;
  balance: Money;
  currency: string;
}

export interface CreditBody {
  /** Main account balance after the call (`credit`). */
  mainBalance: Money;
  /** Sub-account balance after the call (`subaccountCredit`). */
  subaccountBalance: Money;
  currency: string;
}

export interface SubaccountListItem {
  id?: number;
  token: string;
  email: string;
  type: string;
  createdAt: string;
  balance: Money;
  // The provider's per-sub-account `apiKey` is deliberately absent: it is a secret.
}

export interface SubaccountListBody {
  total: number;
  perPage: number;
  page: number;
  items: SubaccountListItem[];
}

export interface CreateBody {
  token: string;
  email: string;
}

export interface CreateSubaccountInput {
  type: 'simple' | 'advanced';
  email: string;
  /** Required by the provider for advanced sub-accounts. */
  isBuyer?: boolean;
  /** Moves money from the main account: a money movement, to be booked like an add. */
  creditToAttribute?: Money;
  title?: string;
  firstname?: string;
  lastname?: string;
}

// Documented codes per call (provider-api.md). add/remove and create number their errors
// differently; 9 and 10 both mean "invalid API key" for add/remove (the two doc copies disagree).
const CREDIT_REASONS: Record<number, RejectionReason> = {
  1: 'missing_parameter',
  2: 'missing_parameter',
  3: 'missing_parameter',
  4: 'not_authorised',
  5: 'invalid_amount',
  6: 'insufficient_credit', // "balance must be greater than 0"
  7: 'subaccount_not_found',
  8: 'insufficient_credit',
  9: 'invalid_key',
  10: 'invalid_key',
};
const CREATE_REASONS: Record<number, RejectionReason> = {
  1: 'missing_parameter',
  2: 'not_authorised',
  3: 'missing_parameter', // isBuyer
  4: 'missing_parameter', // type
  5: 'invalid_request', // type does not exist
  6: 'missing_parameter', // email
  7: 'email_exists',
  8: 'invalid_amount', // creditToAttribute must be > 0
  9: 'insufficient_credit', // balance must be > 0
  10: 'invalid_key',
};
const READ_REASONS: Record<number, RejectionReason> = { 9: 'invalid_key', 10: 'invalid_key' };

export const REJECTION_REASONS: Record<ProviderCallName, Readonly<Record<number, RejectionReason>>> = {
  me: READ_REASONS,
  list: READ_REASONS,
  create: CREATE_REASONS,
  add: CREDIT_REASONS,
  remove: CREDIT_REASONS,
};

/**
 * Maps a provider error code for a given call. Undocumented codes are `unknown_code` (still a
 * rejection: the provider said no). A body in the validation form (`error: [{elementId, message}]`)
 * is `invalid_request` whatever its code, because other endpoints use code 9 for it.
 */
export function rejectionReason(call: ProviderCallName, code: number, hasValidationErrors = false): RejectionReason {
  if (hasValidationErrors && code !== 10) return 'invalid_request';
  return REJECTION_REASONS[call][code] ?? 'unknown_code';
}
