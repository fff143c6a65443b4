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
  | 'ip_not_allowed'
  | 'provider_error'
  | 'unknown_code';

/** Set on an outcome whose usual cause is our configuration, not the provider (see docs/sandbox.md). */
export type ConfigurationProblem = 'redirect';

/**
 * What a provider call ended as. The four kinds drive what the ledger does:
 * - ok: applied; post it.
 * - rejected: the provider answered `success:false`: not applied, fail it.
 * - not_sent: provably never reached the provider (connection refused, DNS, 429): safe to retry.
 * - unknown: it may or may not have been applied: in doubt, never retry blindly.
 */
export type ProviderOutcome<T> =
  | { kind: 'ok'; body: T; raw: unknown; httpStatus: number; latencyMs: number } & AnswerFacts
  | { kind: 'rejected'; code: number; reason: RejectionReason; message: string; operatorMessage?: string; raw: unknown; httpStatus: number; latencyMs: number } & AnswerFacts
  | { kind: 'not_sent'; cause: string; retryAfterMs?: number; httpStatus?: number; latencyMs: number } & AnswerFacts
  | {
      kind: 'unknown'; cause: string; httpStatus?: number; rawText?: string; latencyMs: number;
      /** A 3xx answer, never followed. `location` without its query string. */
      redirect?: { status: number; location: string | null };
      configurationProblem?: ConfigurationProblem;
    } & AnswerFacts;

/** What every outcome may also tell (all optional: absent when there was no answer). */
export interface AnswerFacts {
  /** The answer's `Date` header, as sent. */
  serverDate?: string;
  /** Attempts made (reads retry on 429/503); 1 when absent. */
  attempts?: number;
  /** Oddities the client accepted to read the answer (e.g. "credits.solde read: no credits.balance"). */
  tolerated?: string[];
}

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

/** A list entry the client could not read: left out of `items`, reported here. */
export interface SkippedListEntry {
  /** Position in the page's `data` (its key when `data` came as an object). */
  index: number | string;
  /** The entry's token when it had a readable one. */
  token?: string;
  reason: string;
}

export interface SubaccountListBody {
  total: number;
  perPage: number;
  page: number;
  items: SubaccountListItem[];
  /** Entries of this page left out because they could not be read (a null balance, no token…). Always set by SmsPartnerClient. */
  skipped?: SkippedListEntry[];
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

/**
 * Every documented code per call, with its meaning in plain words for an operator. The
 * sub-account pages number their errors per call (add/remove and create differ); the
 * provider's general error page adds codes of its own (96, 500, 11). 9 and 10 both mean
 * "invalid API key" for add/remove: the English markdown copy says 9, the GitBook copy and
 * every example error body say 10.
 */
interface CodeMeaning { reason: RejectionReason; meaning: string }
const c = (reason: RejectionReason, meaning: string): CodeMeaning => ({ reason, meaning });

/** Codes of the provider's general error page that any call may answer. */
const GENERAL: Record<number, CodeMeaning> = {
  11: c('insufficient_credit', 'The main account does not have enough credit (general error page, code 11).'),
  96: c('ip_not_allowed', "The provider refused this server's IP address: add it to the allowed IPs of the SMS Partner account."),
  500: c('provider_error', 'The provider had a queueing problem and did not process the call; try again later.'),
};
const KEY_INVALID = c('invalid_key', 'The provider does not recognise the API key: check SMSPARTNER_API_KEY.');
const KEY_MISSING = c('missing_parameter', 'The API key was not sent: SMSPARTNER_API_KEY is empty.');

const CREDIT_CODES: Record<number, CodeMeaning> = {
  ...GENERAL,
  1: KEY_MISSING,
  2: c('missing_parameter', 'The amount was not sent.'),
  3: c('missing_parameter', 'The sub-account token was not sent.'),
  4: c('not_authorised', 'The main account may not manage sub-accounts: ask SMS Partner support to switch the sub-account feature on.'),
  5: c('invalid_amount', 'The amount must be greater than 0.'),
  6: c('insufficient_credit', 'The balance to take the credit from is 0 (the main account for an add, the sub-account for a remove).'),
  7: c('subaccount_not_found', 'The provider has no such sub-account under this main account.'),
  8: c('insufficient_credit', 'Not enough credit: the main account (add) or the sub-account (remove) holds less than the amount.'),
  9: KEY_INVALID,
  10: KEY_INVALID,
};
const CREATE_CODES: Record<number, CodeMeaning> = {
  ...GENERAL,
  1: KEY_MISSING,
  2: c('not_authorised', 'The main account may not create sub-accounts: ask SMS Partner support to switch the sub-account feature on.'),
  3: c('missing_parameter', 'The isBuyer flag is required for an advanced sub-account.'),
  4: c('missing_parameter', 'The sub-account type (simple or advanced) was not sent.'),
  5: c('invalid_request', 'The sub-account type must be simple or advanced.'),
  6: c('missing_parameter', 'The email was not sent.'),
  7: c('email_exists', 'The provider already has an account with this email.'),
  8: c('invalid_amount', 'The credit given at creation (creditToAttribute) must be greater than 0.'),
  9: c('insufficient_credit', 'The main account balance cannot cover the credit given at creation (creditToAttribute).'),
  10: KEY_INVALID,
};
const READ_CODES: Record<number, CodeMeaning> = {
  ...GENERAL,
  1: KEY_MISSING,
  9: KEY_INVALID,
  10: KEY_INVALID,
};

export const PROVIDER_CODES: Record<ProviderCallName, Readonly<Record<number, CodeMeaning>>> = {
  me: READ_CODES,
  list: READ_CODES,
  create: CREATE_CODES,
  add: CREDIT_CODES,
  remove: CREDIT_CODES,
};

export const REJECTION_REASONS: Record<ProviderCallName, Readonly<Record<number, RejectionReason>>> = Object.fromEntries(
  Object.entries(PROVIDER_CODES).map(([call, codes]) => [call, Object.fromEntries(Object.entries(codes).map(([code, m]) => [code, m.reason]))]),
) as Record<ProviderCallName, Record<number, RejectionReason>>;

/**
 * Maps a provider error code for a given call. Undocumented codes are `unknown_code` (still a
 * rejection: the provider said no). A body in the validation form (`error: [{elementId, message}]`)
 * is `invalid_request` whatever its code, because other endpoints use code 9 for it.
 */
export function rejectionReason(call: ProviderCallName, code: number, hasValidationErrors = false): RejectionReason {
  if (hasValidationErrors && code !== 10) return 'invalid_request';
  return PROVIDER_CODES[call][code]?.reason ?? 'unknown_code';
}

/** The operator-facing sentence for a rejection: the documented meaning, else the provider's own message. */
export function operatorMessage(call: ProviderCallName, code: number, providerMessage: string, hasValidationErrors = false): string {
  if (hasValidationErrors && code !== 10) return `The provider refused the request's fields: ${providerMessage || 'no detail given'}.`;
  const known = PROVIDER_CODES[call][code]?.meaning;
  if (known) return known;
  return `The provider refused with code ${code}, which its docs do not list for this call: "${providerMessage || 'no message'}".`;
}
