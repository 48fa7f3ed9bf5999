// What each group of conformance specs is given, and the helpers they share.
import type { SessionBackend, SessionData } from '../backends/session-backend.js';
import type { TestGlobals } from './test-globals.js';

/**
 * An optional capability the suite can check. `index` is the user index
 * (`indexAdd`, `indexRemove`, `indexList`), `indexDestroy` its batch ending,
 * `indexAddLimited` the `maxSessionsPerUser` rule.
 * `unreadable` is a property of the target rather than of the backend: it
 * provides `corrupt` and `stored`, so the suite can check what the backend
 * does with a record it cannot decode.
 */
export type BackendCapability =
  | 'readAndTouch'
  | 'patch'
  | 'move'
  | 'close'
  | 'index'
  | 'indexDestroy'
  | 'indexAddLimited'
  | 'unreadable';

/** Every capability, in the order the suite checks them. */
export const CAPABILITIES: readonly BackendCapability[] = [
  'readAndTouch',
  'patch',
  'move',
  'close',
  'index',
  'indexDestroy',
  'indexAddLimited',
  'unreadable',
];

/**
 * A backend with what the suite needs around it. Only `backend` is required;
 * the rest lets the suite check more.
 */
export interface SessionBackendTarget {
  backend: SessionBackend;
  /**
   * Stores something this backend does not own (another prefix, another
   * instance) and later tells whether it is still there: `clear()` must spare it.
   */
  foreign?: { put(): Promise<void>; survives(): Promise<boolean> };
  /** Stores, under storage key `id`, something the backend cannot decode. */
  corrupt?(id: string): Promise<void>;
  /** Whether anything at all is stored under `id`, readable or not. */
  stored?(id: string): Promise<boolean>;
  /** Releases what the factory opened (connections, servers), after the backend was closed. */
  teardown?(): Promise<void>;
}

/** @internal What a group of specs works with. */
export interface SuiteContext {
  readonly t: TestGlobals;
  has(capability: BackendCapability): boolean;
  /** The backend under test; set before the first spec runs. */
  backend(): SessionBackend;
  target(): SessionBackendTarget;
}

/** @internal */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @internal `toEqual` for session data that may hold `deep` (too deep for
 * Jest's recursive comparison, so compared by its JSON text).
 */
export function expectSameData(
  t: TestGlobals,
  actual: SessionData | null,
  expected: SessionData,
): void {
  t.expect(actual).not.toBeNull();
  const { deep: actualDeep, ...actualRest } = actual!;
  const { deep: expectedDeep, ...expectedRest } = expected;
  t.expect(actualRest).toEqual(expectedRest);
  t.expect(Object.keys(actual!).sort()).toEqual(Object.keys(expected).sort());
  t.expect(JSON.stringify(actualDeep)).toBe(JSON.stringify(expectedDeep));
}
