export * from './domain-error';
export * from './logger';
export * from './redact';
export * from './queues';
export * from './json-literals';
export * from './group-commit';
export * from './semaphore';
export * from './csv';
