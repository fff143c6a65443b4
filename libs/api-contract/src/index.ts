export * from './schemas';
export * from './routes';
export * from './openapi';
export * as responses from './responses';
