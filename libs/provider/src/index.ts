export * from './provider-outcome';
export { SmsPartnerClient, parseRetryAfter } from './smspartner.client';
export type { SmsPartnerClientOptions } from './smspartner.client';
export * from './subaccount-keys';
