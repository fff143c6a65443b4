export * from './provider-outcome';
export { SmsPartnerClient, parseRetryAfter, decimalText } from './smspartner.client';
export type { SmsPartnerClientOptions } from './smspartner.client';
export * from './subaccount-pager';
export * from './provider-check';
export * from './subaccount-keys';
export * from './provider-failure';
export * from './provider-metrics';
