// The soak runs under Jest (not in CI: its files do not match the main config's testMatch) so
// that it reuses the e2e helpers: startStack, the invariants, the money trail.
const base = require('../../jest.config.js');

module.exports = {
  ...base,
  rootDir: '../..',
  testMatch: ['<rootDir>/bench/soak/**/*.soak.ts'],
  testTimeout: 60 * 60_000,
  maxWorkers: 1,
};
