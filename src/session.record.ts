import { newSessionId, storageKeyOf } from './session.signer.js';
import { STATE } from './session.state.js';

/**
 * @internal What the store knows of a session besides its data: kept in the
 * session's state (on the proxy's target, under a symbol the package does not
 * export), so none of it is reachable from application code. A session
 * without one has no id yet.
 */
export interface SessionRecord {
  /** The session id (the cookie carries it, signed). */
  id: string;
  /** SHA-256 digest of the id: the key the backend stores the record under. */
  storageKey: string;
  /** A record exists in the backend under `storageKey`. */
  stored: boolean;
  /** First creation (survives `regenerate`), ms since the epoch; 0 until stored. */
  createdAt: number;
  /** When the stored record expires, ms since the epoch; 0 until stored. */
  expiresAt: number;
  /** Digest of the user key's value when loaded or last saved (user index). */
  owner: string | undefined;
  /** When the user index entry was last refreshed, ms since the epoch. */
  indexedAt: number;
}

type Holder = { [STATE]: { record?: SessionRecord } };

/** @internal The record of `session`, if it has an id. */
export function recordOf(session: object): SessionRecord | undefined {
  return (session as Holder)[STATE].record;
}

/** @internal Gives `session` a record (an id), or takes it away (`undefined`: a new session). */
export function setRecord(session: object, record: SessionRecord | undefined): void {
  (session as Holder)[STATE].record = record;
}

/** @internal Gives a new session its id (and storage key), not stored yet. */
export function assignId(session: object): SessionRecord {
  const id = newSessionId();
  const record: SessionRecord = {
    id,
    storageKey: storageKeyOf(id),
    stored: false,
    createdAt: 0,
    expiresAt: 0,
    owner: undefined,
    indexedAt: 0,
  };
  setRecord(session, record);
  return record;
}
