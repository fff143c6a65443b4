export * from './domain/reconciliation';
export * from './reconciliation.queries';
export * from './account-history.queries';
export * from './report/report-csv';
export * from './use-cases/run-reconciliation/run-reconciliation.command';
export * from './use-cases/run-reconciliation/run-reconciliation.use-case';
export * from './use-cases/resolve-drift/resolve-drift.command';
export * from './use-cases/resolve-drift/resolve-drift.use-case';
