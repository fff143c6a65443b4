export * from './database';
export * from './migrator';
export * from './journal';
export * from './ledger.repository';
export * from './ledger.queries';
