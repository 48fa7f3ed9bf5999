import { SessionValueError } from './session.errors.js';
import { toJsonValue } from './session.json.js';
import { messages } from './session.messages.js';
import { META_KEY } from './session.constants.js';
import type { SessionRecord } from './session.record.js';

/** @internal Where the property-access handler finds a session's state (on the proxy's target). */
export const STATE = Symbol('pselfastapise-async.sessionState');

/** Node-style callback of the express-session methods. */
export type SessionCallback = (error?: unknown) => void;

/**
 * @internal What a session's express-session methods (`regenerate(cb)`,
 * `save(cb)`…) ask of the request it belongs to. One shared object per
 * application; `context` is the request's state.
 */
export interface SessionCalls {
  regenerate(context: unknown, done: SessionCallback): void;
  save(context: unknown, done: SessionCallback): void;
  destroy(context: unknown, done: SessionCallback): void;
  reload(context: unknown, done: SessionCallback): void;
  cookie(context: unknown): unknown;
}

/** @internal Everything a `Session` holds, shared by its methods and its property-access handler. */
export interface SessionState {
  data: Record<string, unknown>;
  /** Keys set since the last save. */
  readonly changed: Set<string>;
  /** Keys deleted since the last save. */
  readonly deleted: Set<string>;
  /** Called on the first change after a save. */
  onChange: (() => void) | undefined;
  /**
   * Keys whose value (an object or array) was handed out live by property
   * access, with its JSON when last loaded or saved (undefined: not yet
   * known). Made on the first such read: most requests never need it.
   */
  shared: Map<string, string | undefined> | undefined;
  /** A live value that JSON cannot hold any more: the next save fails with it. */
  invalid: SessionValueError | undefined;
  /** The session's own lifetime and cookie kind (undefined: the module's). */
  lifetime: SessionLifetime;
  /** `lifetime` changed since the last save. */
  lifetimeChanged: boolean;
  calls: SessionCalls | undefined;
  context: unknown;
  /** The saves whose write is in flight, noting what changes meanwhile. */
  writes?: Set<TakenChanges>;
  /** Its id and what the store knows of it (session.record.ts); none: a new session. */
  record?: SessionRecord;
}

/** @internal A session's own lifetime (seconds) and cookie kind; undefined: the module's. */
export interface SessionLifetime {
  maxAge?: number;
  persistent?: boolean;
}

/** @internal */
export function newState(data: Record<string, unknown>): SessionState {
  return {
    data,
    changed: new Set(),
    deleted: new Set(),
    onChange: undefined,
    shared: undefined,
    invalid: undefined,
    lifetime: {},
    lifetimeChanged: false,
    calls: undefined,
    context: undefined,
    record: undefined,
  };
}

/**
 * @internal Stores `value` under `key`. `live`: property assignment, which
 * keeps a plain object or array itself (as express-session does), so that
 * later changes to it are saved too; `set()` stores a copy.
 */
export function setValue(state: SessionState, key: unknown, value: unknown, live: boolean): void {
  // A number key is its string, as for any object; a symbol has no JSON.
  if (typeof key !== 'string' && typeof key !== 'number') {
    throw new SessionValueError(messages.invalidKey(String(key)));
  }
  const name = String(key);
  if (name === META_KEY) throw new SessionValueError(messages.reservedKey(name));
  // Assigning "__proto__" would replace the data object's prototype, not store a value.
  if (name === '__proto__') throw new SessionValueError(messages.prototypeKey(name));
  const copy = toJsonValue(name, value);
  if (live && isPlainContainer(value)) {
    state.data[name] = value;
    (state.shared ??= new Map()).set(name, undefined);
  } else {
    state.data[name] = copy;
  }
  state.deleted.delete(name);
  state.changed.add(name);
  noted(state, name);
  changedNow(state);
}

/** @internal Removes `name`; true when it was there. */
export function deleteValue(state: SessionState, name: string): boolean {
  if (!Object.hasOwn(state.data, name)) return false;
  delete state.data[name];
  state.changed.delete(name);
  state.deleted.add(name);
  noted(state, name);
  changedNow(state);
  return true;
}

/**
 * @internal The value under `name` itself, not a copy: an object handed out
 * this way is compared at save time with what it was, and saved if it
 * changed. Its first hand-out arms the save, as a change would.
 */
export function readLive(state: SessionState, name: string): unknown {
  if (!Object.hasOwn(state.data, name)) return undefined;
  const value = state.data[name];
  if (typeof value !== 'object' || value === null) return value;
  const shared = (state.shared ??= new Map());
  if (!shared.has(name)) {
    shared.set(name, state.changed.has(name) ? undefined : JSON.stringify(value));
    changedNow(state);
  }
  return value;
}

/**
 * @internal Marks as changed the live values that differ from what was
 * loaded or last saved, and remembers what they are now (what the coming
 * save writes). A value that JSON can no longer hold is kept as the error
 * the next save fails with.
 */
export function reconcile(state: SessionState): void {
  const { shared, data } = state;
  if (shared === undefined) return;
  state.invalid = undefined;
  for (const [name, seen] of shared) {
    if (!Object.hasOwn(data, name)) continue;
    let json: string | undefined;
    try {
      json = JSON.stringify(data[name]);
    } catch {
      json = undefined;
    }
    if (json !== undefined && json === seen) continue;
    try {
      toJsonValue(name, data[name]);
    } catch (error) {
      state.invalid = error as SessionValueError;
      state.changed.add(name);
      continue;
    }
    shared.set(name, json);
    state.changed.add(name);
  }
}

/**
 * @internal The session was saved: only later changes count. Live values
 * were compared (`reconcile`) when the save began, so a change made while it
 * ran is still seen by the next one.
 */
export function markSaved(state: SessionState): void {
  state.changed.clear();
  state.deleted.clear();
  state.lifetimeChanged = false;
}

/**
 * @internal What changed while a save's write was in flight (see
 * `takeChanges`): those changes stay pending when it completes.
 */
export interface TakenChanges {
  readonly since: Set<string>;
  lifetime: boolean;
}

/**
 * @internal A save is about to write the session's changes: from now on,
 * what changes is noted, so that completing it (`savedExcept`) forgets only
 * what it wrote. The change sets stay as they are meanwhile: a failed write
 * leaves everything pending.
 */
export function takeChanges(state: SessionState): TakenChanges {
  const taken: TakenChanges = { since: new Set(), lifetime: false };
  (state.writes ??= new Set()).add(taken);
  return taken;
}

/**
 * @internal The write that began with `taken` is over: when it succeeded,
 * the changes are saved, except those made while it ran.
 */
export function restoreChanges(state: SessionState, taken: TakenChanges, succeeded = false): void {
  state.writes?.delete(taken);
  if (!succeeded) return;
  const { since } = taken;
  for (const name of state.changed) if (!since.has(name)) state.changed.delete(name);
  for (const name of state.deleted) if (!since.has(name)) state.deleted.delete(name);
  if (!taken.lifetime) state.lifetimeChanged = false;
}

/** Notes a change for the writes in flight. */
function noted(state: SessionState, name: string | undefined): void {
  if (state.writes === undefined) return;
  for (const taken of state.writes) {
    if (name === undefined) taken.lifetime = true;
    else taken.since.add(name);
  }
}

/** @internal Empty, with nothing to save. */
export function resetState(state: SessionState, data: Record<string, unknown> = {}): void {
  state.data = data;
  state.changed.clear();
  state.deleted.clear();
  state.shared = undefined;
  state.invalid = undefined;
  state.lifetime = {};
  state.lifetimeChanged = false;
}

/** @internal The session's lifetime changed. */
export function lifetimeChangedNow(state: SessionState): void {
  state.lifetimeChanged = true;
  noted(state, undefined);
  changedNow(state);
}

/** @internal Calls the first-change listener, once. */
export function changedNow(state: SessionState): void {
  const listener = state.onChange;
  if (listener) {
    state.onChange = undefined;
    listener();
  }
}

function isPlainContainer(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
