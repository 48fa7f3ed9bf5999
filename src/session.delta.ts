import { setOwn, type SessionDelta } from './backends/session-backend.js';
import { META_KEY } from './session.constants.js';
import type { RecordMeta } from './session.lifetime.js';
import { type Session, sessionInternals } from './session.js';

/** @internal A key to set (name and value) or to remove, besides a session's own changes. */
export interface KeyChange {
  set?: [string, unknown];
  unset?: string;
}

const internals = sessionInternals();

/** @internal A stored session's changes since it was loaded, with its new metadata (and `extra`). */
export function deltaOf(session: Session, meta: RecordMeta, extra: KeyChange = {}): SessionDelta {
  const data = internals.data(session);
  const set: Record<string, unknown> = { [META_KEY]: meta };
  for (const name of internals.changed(session)) setOwn(set, name, data[name]);
  const unset = [...internals.deleted(session)];
  if (extra.set) setOwn(set, extra.set[0], extra.set[1]);
  if (extra.unset !== undefined && !unset.includes(extra.unset)) unset.push(extra.unset);
  return { set, unset };
}

/** @internal The user key as `data` has it: set to its value, or removed (nothing without one). */
export function userKeyChange(
  userKey: string | undefined,
  data: Readonly<Record<string, unknown>>,
): KeyChange {
  if (userKey === undefined) return {};
  return Object.hasOwn(data, userKey) ? { set: [userKey, data[userKey]] } : { unset: userKey };
}
