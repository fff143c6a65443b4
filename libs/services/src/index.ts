export * from './services';
export * from './provider-metrics';
export * from './alert-webhook';
