// The test kit fails a backend for what it does wrong, and only for that:
// it runs on backends that each break one promise (in a child Jest, since
// their specs are meant to fail) and checks which specs failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

interface AssertionResult {
  ancestorTitles: string[];
  title: string;
  status: string;
}

describe('the backend test kit', () => {
  /** Suite name → the names of its failed specs (nested group first). */
  let failed: Map<string, string[]>;
  let total: number;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'session-kit-'));
    const out = join(dir, 'results.json');
    const config = {
      rootDir: ROOT,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/test/support/fixtures/flawed-backends.kit.ts'],
      modulePathIgnorePatterns: [
        '<rootDir>/compat/',
        '<rootDir>/.compat/',
        '<rootDir>/.bench/',
        '<rootDir>/dist/',
      ],
      extensionsToTreatAsEsm: ['.ts'],
      moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
      transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
    };
    const jest = join(ROOT, 'node_modules/jest/bin/jest.js');
    try {
      const args = ['--experimental-vm-modules', jest, '--config', JSON.stringify(config)];
      args.push('--runInBand', '--json', `--outputFile=${out}`);
      const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
      const report = JSON.parse(readFileSync(out, 'utf8')) as {
        testResults: { assertionResults: AssertionResult[]; message: string }[];
      };
      const [file] = report.testResults;
      if (!file || file.assertionResults.length === 0) {
        throw new Error(`the child Jest ran nothing:\n${file?.message ?? result.stderr}`);
      }
      total = file.assertionResults.length;
      failed = new Map();
      for (const { ancestorTitles, title, status } of file.assertionResults) {
        const [suite, ...groups] = ancestorTitles;
        if (!failed.has(suite)) failed.set(suite, []);
        if (status === 'failed') failed.get(suite)!.push([...groups, title].join(' › '));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it.each<[string, string[]]>([
    ['Immortal', ['expires records after their TTL, and touch (and readAndTouch) extend it']],
    ['Sharing', ['returns copies: mutating what was written or read does not change the store']],
    [
      'Utf8',
      ['round-trips every JavaScript string, as values, inside nested values and as key names'],
    ],
    [
      'ResurrectingPatch',
      [
        'patch (delta writes) › returns false and creates nothing when the record is missing',
        'patch (delta writes) › does not bring back a destroyed session',
      ],
    ],
    [
      'RacyPatch',
      [
        'patch (delta writes) › keeps both changes when overlapping patches change different keys',
        'patch (delta writes) › a key one patch removed stays removed when another patch sets a different key',
      ],
    ],
    [
      'UnconditionalMove',
      [
        'move › resolves false and writes nothing when the old record never existed',
        'move › resolves false and writes nothing when the old record was destroyed',
        'move › of concurrent moves of one record, exactly one succeeds',
      ],
    ],
    ['HalfIndex', ['has the user index whole or not at all (indexDestroy only with it)']],
    ['Misdeclared', ['has exactly the optional capabilities it declares']],
    ['Sound', []],
  ])('fails %s for what it does wrong, and only for that', (name, expected) => {
    expect(total).toBeGreaterThan(100);
    expect(failed.get(`${name} conformance`)).toEqual(expected);
  });
});
