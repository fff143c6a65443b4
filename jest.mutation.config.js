// The pure domain specs only (no database, no Redis, no processes): what `npm run test:mutation`
// (StrykerJS, stryker.config.json) runs against each mutant of the domain files.
const base = require('./jest.config');

module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  transform: base.transform,
  moduleNameMapper: base.moduleNameMapper,
  testMatch: [
    '<rootDir>/libs/transfers/src/domain/*.spec.ts',
    '<rootDir>/libs/ledger/src/*.spec.ts',
    '<rootDir>/libs/provider/src/provider-outcome.spec.ts',
    '<rootDir>/libs/reconciliation/src/domain/*.spec.ts',
    '<rootDir>/libs/topups/src/domain/*.spec.ts',
  ],
  testTimeout: 30000,
};
