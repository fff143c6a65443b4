export * from './services';
export * from './provider-metrics';
export * from './metrics.queries';
export * from './alert-webhook';
