export * from './subaccounts.queries';
export * from './use-cases/import-subaccounts/import-subaccounts.use-case';
export * from './use-cases/create-subaccount/create-subaccount.use-case';
export * from './subaccounts.repository';
export * from './subaccount-creations.repository';
