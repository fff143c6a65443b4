export * from './database';
export * from './migrator';
export * from './journal';
export * from './ledger.repository';
export * from './ledger.queries';
export * from './journal-digest';
export * from './journal-digests.repository';
export * from './observations.repository';
