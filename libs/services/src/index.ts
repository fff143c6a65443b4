export * from './services';
export * from './provider-metrics';
