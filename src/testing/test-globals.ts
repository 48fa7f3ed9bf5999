/**
 * The few parts of Jest's globals the suite uses, declared here so that the
 * published declarations depend on no test runner's types, and taken from
 * `globalThis` when the suite is defined, so that nothing imports Jest.
 */

/** The matchers the suite uses. */
export interface Matchers<R> {
  toBe(expected: unknown): R;
  toEqual(expected: unknown): R;
  toBeNull(): R;
  toBeUndefined(): R;
  toBeGreaterThan(expected: number): R;
  toBeLessThanOrEqual(expected: number): R;
}

export interface Assertion extends Matchers<void> {
  readonly not: Matchers<void>;
  readonly resolves: Matchers<Promise<void>>;
}

type Body = () => void | Promise<void>;
type Register = (fn: Body, timeout?: number) => void;

export interface TestGlobals {
  describe(name: string, fn: () => void): void;
  it(name: string, fn: Body, timeout?: number): void;
  expect(actual: unknown): Assertion;
  beforeAll: Register;
  afterAll: Register;
  beforeEach: Register;
  afterEach: Register;
}

const NAMES = ['describe', 'it', 'expect', 'beforeAll', 'afterAll', 'beforeEach', 'afterEach'];

/** Jest's globals, or an error that says where the suite has to be called from. */
export function testGlobals(): TestGlobals {
  const scope = globalThis as Record<string, unknown>;
  const missing = NAMES.filter((name) => typeof scope[name] !== 'function');
  if (missing.length > 0) {
    throw new Error(
      `describeSessionBackend must be called from a test file run by Jest ` +
        `(it uses the test globals ${NAMES.join(', ')}; missing here: ${missing.join(', ')}). ` +
        `Call it from a *.spec.ts file, not from application code or a plain Node script.`,
    );
  }
  return Object.fromEntries(NAMES.map((name) => [name, scope[name]])) as unknown as TestGlobals;
}
