/**
 * Jest runs in ESM mode: Nest 12 ships ES modules only. Three projects: the
 * unit specs beside the code, and every test under test/ on Express; the e2e
 * specs run again on Fastify.
 */
const base = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  modulePathIgnorePatterns: ['<rootDir>/compat/', '<rootDir>/.compat/', '<rootDir>/.bench/', '<rootDir>/dist/'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
};

export default {
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  testTimeout: 20000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      ...base,
      displayName: 'express',
      testMatch: ['<rootDir>/test/**/*.spec.ts'],
      globals: { TEST_PLATFORM: 'express' },
    },
    {
      ...base,
      displayName: 'fastify',
      testMatch: ['<rootDir>/test/e2e/**/*.spec.ts'],
      globals: { TEST_PLATFORM: 'fastify' },
    },
  ],
};
