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
  // `npm test -- --coverage` measures the library alone (not its tests or
  // fixtures) and fails below these floors, a few points under what the whole
  // suite reached when they were set (95.3 / 91.5 / 97.6 / 96.8). .ci/run
  // passes --coverage; plain `npm test` and single-file runs skip the check.
  collectCoverageFrom: ['<rootDir>/src/**/*.ts', '!<rootDir>/src/**/*.spec.ts'],
  coverageThreshold: {
    global: { statements: 92, branches: 88, functions: 94, lines: 93 },
  },
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
