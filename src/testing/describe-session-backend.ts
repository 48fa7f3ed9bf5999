import type { SessionBackend } from '../backends/session-backend.js';
import { indexDestroySpecs, indexLimitSpecs, indexSpecs, unreadableSpecs } from './user-index.js';
import { moveSpecs, patchSpecs, readAndTouchSpecs } from './optional-methods.js';
import { requiredSpecs } from './required-methods.js';
import {
  CAPABILITIES,
  type BackendCapability,
  type SessionBackendTarget,
  type SuiteContext,
} from './suite-context.js';
import { testGlobals } from './test-globals.js';

/** What the factory may return: the backend alone, or a target around it; at once or later. */
export type SessionBackendFactory = () =>
  SessionBackend | SessionBackendTarget | Promise<SessionBackend | SessionBackendTarget>;

/** Options of {@link describeSessionBackend}. */
export interface DescribeSessionBackendOptions {
  /**
   * Which optional capabilities to check. `'auto'` (the default) checks every
   * one the backend has; the factory then runs when Jest collects the test
   * file (Jest needs to know which specs exist before any runs), so it must
   * return at once, not a promise. A list states what the backend has: a
   * spec fails if it has more or less, and the factory runs in `beforeAll`,
   * where it may be async (to start a server first, say).
   */
  capabilities?: 'auto' | readonly BackendCapability[];
}

const INDEX = ['indexAdd', 'indexRemove', 'indexList'] as const;

/** The capabilities `target` has, judged by the methods it has. */
function detect(target: SessionBackendTarget): BackendCapability[] {
  const methods = target.backend as unknown as Record<string, unknown>;
  const has = (name: string) => typeof methods[name] === 'function';
  return CAPABILITIES.filter((capability) => {
    if (capability === 'index') return INDEX.every(has);
    if (capability === 'unreadable') {
      return typeof target.corrupt === 'function' && typeof target.stored === 'function';
    }
    return has(capability);
  });
}

function toTarget(name: string, made: SessionBackend | SessionBackendTarget): SessionBackendTarget {
  const value = made as unknown as Record<string, unknown> | null;
  if (value !== null && typeof value === 'object') {
    if (typeof value.read === 'function') return { backend: made as SessionBackend };
    if (value.backend !== null && typeof value.backend === 'object') {
      return made as SessionBackendTarget;
    }
  }
  const got = value !== null && typeof value === 'object' ? 'an object without read()' : value;
  throw new Error(
    `describeSessionBackend('${name}'): the factory returned ${String(got)}; ` +
      `return the backend, or { backend, foreign?, corrupt?, stored?, teardown? }`,
  );
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as Partial<PromiseLike<T>>).then === 'function';
}

function checkDeclared(name: string, declared: readonly string[]): void {
  const unknown = declared.filter((c) => !(CAPABILITIES as readonly string[]).includes(c));
  if (unknown.length > 0) {
    throw new Error(
      `describeSessionBackend('${name}'): unknown capability ${unknown.join(', ')}; ` +
        `expected 'auto' or a list of ${CAPABILITIES.join(', ')}`,
    );
  }
}

/**
 * Defines the conformance suite of this library for one session backend, in
 * the calling test file: the specs every backend must pass (the four abstract
 * methods, `touch`, TTLs, values that break naive encoders, concurrent use,
 * `clear()` sparing what is not its own) and those of each optional
 * capability it has (`readAndTouch`; `patch`, atomic and never bringing back
 * a destroyed session; `move`, only while the old record exists; the user
 * index). Call it from a Jest test file: it uses Jest's globals and imports
 * nothing from Jest.
 *
 * The factory runs once; every spec uses fresh storage keys. After the last
 * spec the suite clears the backend, closes it (when it has `close`), then
 * calls the target's `teardown`.
 *
 * @example
 * import { describeSessionBackend } from 'pselfastapise-async/testing';
 *
 * describeSessionBackend('MyBackend', () => new MyBackend(), { capabilities: 'auto' });
 */
export function describeSessionBackend(
  name: string,
  factory: SessionBackendFactory,
  options: DescribeSessionBackendOptions = {},
): void {
  const t = testGlobals();
  const { capabilities = 'auto' } = options;
  let target: SessionBackendTarget | undefined;
  let declared: readonly BackendCapability[] | undefined;

  if (capabilities === 'auto') {
    const made = factory();
    if (isThenable(made)) {
      // Release whatever it opens: the suite cannot use it.
      made.then(
        async (late) => {
          const { backend, teardown } = toTarget(name, late);
          await backend.close?.();
          await teardown?.();
        },
        () => undefined,
      );
      throw new Error(
        `describeSessionBackend('${name}'): with capabilities 'auto' the factory must return ` +
          `the backend at once, not a promise (Jest needs to know which specs exist before ` +
          `any runs). Create what needs awaiting lazily, or list the capabilities, ` +
          `e.g. { capabilities: ['patch', 'close'] }, to use an async factory.`,
      );
    }
    target = toTarget(name, made);
  } else {
    checkDeclared(name, capabilities);
    declared = capabilities;
  }

  const capabilitiesOf = declared ?? detect(target!);
  const context: SuiteContext = {
    t,
    has: (capability) => capabilitiesOf.includes(capability),
    backend: () => context.target().backend,
    target: () => {
      if (!target) throw new Error(`${name}: the backend factory failed (see beforeAll)`);
      return target;
    },
  };
  const { has } = context;

  t.describe(`${name} conformance`, () => {
    t.beforeAll(async () => {
      target ??= toTarget(name, await factory());
    }, 60_000);

    t.afterAll(async () => {
      if (!target) return;
      const { backend, teardown } = target;
      try {
        await backend.clear();
        await backend.close?.();
      } finally {
        await teardown?.();
      }
    }, 30_000);

    if (declared) {
      t.it('has exactly the optional capabilities it declares', () => {
        t.expect(detect(context.target())).toEqual(
          CAPABILITIES.filter((capability) => declared.includes(capability)),
        );
      });
    }

    t.it('has the user index whole or not at all (indexDestroy only with it)', () => {
      const methods = context.backend() as unknown as Record<string, unknown>;
      const present = (method: string) => typeof methods[method] === 'function';
      const indexed = INDEX.some(present);
      const found = Object.fromEntries([...INDEX, 'indexDestroy'].map((m) => [m, present(m)]));
      t.expect(found).toEqual({
        ...Object.fromEntries(INDEX.map((method) => [method, indexed])),
        indexDestroy: indexed && present('indexDestroy'),
      });
    });

    t.it('is given both corrupt and stored, or neither', () => {
      const { corrupt, stored } = context.target();
      t.expect(typeof corrupt).toBe(typeof stored);
    });

    requiredSpecs(context);
    if (has('readAndTouch')) t.describe('readAndTouch', () => readAndTouchSpecs(context));
    if (has('patch')) t.describe('patch (delta writes)', () => patchSpecs(context));
    if (has('move')) t.describe('move', () => moveSpecs(context));
    if (has('index')) t.describe('user index', () => indexSpecs(context));
    if (has('index') && has('indexDestroy')) {
      t.describe('indexDestroy', () => indexDestroySpecs(context));
    }
    if (has('index') && has('indexAddLimited')) {
      t.describe('indexAddLimited (maxSessionsPerUser)', () => indexLimitSpecs(context));
    }
    if (has('unreadable')) t.describe('unreadable records', () => unreadableSpecs(context));
  });
}
