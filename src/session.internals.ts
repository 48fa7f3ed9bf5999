/**
 * @internal The package-private side of `Session`: what the store and the
 * request layer read and change on a session beyond its public methods (its
 * data without a copy, its change sets, its lifetime, its request binding),
 * and `isModified`. Applications never reach it.
 */
import { setRecord } from './session.record.js';
import {
  markSaved,
  reconcile,
  resetState,
  restoreChanges,
  STATE,
  takeChanges,
  type SessionCalls,
  type SessionLifetime,
  type SessionState,
  type TakenChanges,
} from './session.state.js';
import type { Session } from './session.js';

/** @internal The state of a session (reached through the proxy: its own symbol key). */
export function st(session: object): SessionState {
  return (session as { [STATE]: SessionState })[STATE];
}

const internals: SessionInternals = {
  data: (session) => st(session).data,
  changed: (session) => st(session).changed,
  deleted: (session) => st(session).deleted,
  lifetime: (session) => st(session).lifetime,
  lifetimeChanged: (session) => st(session).lifetimeChanged,
  restoreLifetime: (session, lifetime) => {
    st(session).lifetime = lifetime;
  },
  saved: (session) => markSaved(st(session)),
  take: (session) => takeChanges(st(session)),
  restore: (session, taken, succeeded) => restoreChanges(st(session), taken, succeeded),
  reset: (session, data) => {
    resetState(st(session), data);
    setRecord(session, undefined);
  },
  onChange: (session, listener) => {
    st(session).onChange = listener;
  },
  bind: (session, calls, context) => {
    const state = st(session);
    state.calls = calls;
    state.context = context;
  },
  reconcile: (session) => reconcile(st(session)),
  check: (session) => {
    const state = st(session);
    reconcile(state);
    if (state.invalid) throw state.invalid;
  },
};

/**
 * @internal What the store and the request layer need of a `Session` beyond
 * its public methods: its data (no copy), its change set, and a listener for
 * the first change. Reachable only inside the package.
 */
export interface SessionInternals {
  data(session: Session): Readonly<Record<string, unknown>>;
  changed(session: Session): ReadonlySet<string>;
  deleted(session: Session): ReadonlySet<string>;
  lifetime(session: Session): Readonly<SessionLifetime>;
  lifetimeChanged(session: Session): boolean;
  /** Sets the lifetime a stored record has, without counting it as a change. */
  restoreLifetime(session: Session, lifetime: SessionLifetime): void;
  /** Forgets what changed: the current state is saved. */
  saved(session: Session): void;
  /** A save is about to write what changed: what changes from now on stays pending. */
  take(session: Session): TakenChanges;
  /** The write that began with `taken` is over: when it succeeded, forgets what it wrote. */
  restore(session: Session, taken: TakenChanges, succeeded?: boolean): void;
  /** Turns the session into a new one, without an id: empty, or holding `data` (unchanged). */
  reset(session: Session, data?: Record<string, unknown>): void;
  /** Calls `listener` once, on the next change. */
  onChange(session: Session, listener: (() => void) | undefined): void;
  /** Ties the express-session methods to a request (`calls` undefined: to none). */
  bind(session: Session, calls: SessionCalls | undefined, context?: unknown): void;
  /** Takes in changes made to live values (see `check`). */
  reconcile(session: Session): void;
  /** Takes in changes made to live values; throws when one can no longer be stored. */
  check(session: Session): void;
}

/** @internal */
export function sessionInternals(): SessionInternals {
  return internals;
}

/** @internal True when `session` changed since it was loaded or last saved. */
export function isModified(session: Session): boolean {
  const changed = internals.changed(session);
  const deleted = internals.deleted(session);
  if (changed.size === 0 && deleted.size === 0) internals.reconcile(session);
  return changed.size > 0 || deleted.size > 0 || internals.lifetimeChanged(session);
}

/**
 * @internal Runs a backend write built from the session's current changes:
 * once it succeeds they are saved, except what changed while it ran, which
 * the next save writes; when it fails, everything stays pending.
 */
export async function writingChanges<T>(session: Session, write: () => Promise<T>): Promise<T> {
  const taken = internals.take(session);
  let succeeded = false;
  try {
    const result = await write();
    succeeded = true;
    return result;
  } finally {
    internals.restore(session, taken, succeeded);
  }
}
