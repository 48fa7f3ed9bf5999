import { messages } from '../session.messages.js';
import type { SessionData, SessionDelta } from './session-backend.js';

/**
 * @internal How PostgresBackend stores a record in its `data jsonb` column:
 * one member per session key, `name → [position, json]`, where `json` is the
 * JSON text of the value exactly as `JSON.stringify` writes it, kept as a
 * jsonb *string*, and `position` orders the keys.
 *
 * Why not the values themselves as jsonb: jsonb would round numbers beyond
 * what a float64 holds differently from JavaScript, reorder the keys of
 * objects and drop duplicates, and it rejects `\u0000` and lone UTF-16
 * surrogates, which session values may hold. The JSON text of a value never
 * holds either (`JSON.stringify` escapes control characters and lone
 * surrogates as `\uXXXX`), so as a string it always fits, and comes back
 * byte for byte. `patch` replaces members server-side without decoding a
 * value.
 *
 * Names get the same treatment: a member's name is `JSON.stringify(name)`
 * without its quotes, so any JavaScript string can be a session key (and a
 * plain name such as `userId` reads as itself). jsonb orders members its own
 * way; `position` keeps the order in which keys were first set, as on the
 * other backends.
 */
export function encode(data: SessionData): string {
  const members: [string, [number, string]][] = [];
  for (const [name, value] of Object.entries(data)) {
    const json = JSON.stringify(value);
    if (json !== undefined) members.push([encodeName(name), [members.length + 1, json]]);
  }
  // fromEntries defines properties, so a key named "__proto__" stays a plain key.
  return JSON.stringify(Object.fromEntries(members));
}

/**
 * @internal The record stored by `encode` (given as the text of the jsonb),
 * or undefined when it is not one: not an object, a member that is not a
 * `[position, json]` pair, or a name or value that does not decode.
 */
export function decode(raw: string): SessionData | undefined {
  try {
    const outer: unknown = JSON.parse(raw);
    if (outer === null || typeof outer !== 'object' || Array.isArray(outer)) return undefined;
    const members: [number, string, unknown][] = [];
    for (const [name, member] of Object.entries(outer as Record<string, unknown>)) {
      if (!isMember(member)) return undefined;
      members.push([member[0], decodeName(name), JSON.parse(member[1])]);
    }
    members.sort((a, b) => a[0] - b[0]);
    return Object.fromEntries(members.map(([, name, value]) => [name, value]));
  } catch {
    return undefined;
  }
}

/**
 * @internal `delta` as the parameters of the patch statement: the member
 * names to remove, then the names and JSON texts to set (parallel arrays).
 * A value without JSON (undefined, a function) is removed, as `encode` leaves
 * it out.
 */
export function deltaParams(
  delta: SessionDelta,
): [unset: string[], names: string[], values: string[]] {
  const unset = delta.unset.map(encodeName);
  const names: string[] = [];
  const values: string[] = [];
  for (const [name, value] of Object.entries(delta.set)) {
    const json = JSON.stringify(value);
    if (json === undefined) {
      unset.push(encodeName(name));
    } else {
      names.push(encodeName(name));
      values.push(json);
    }
  }
  return [unset, names, values];
}

/** @internal A session key as a jsonb member name: its JSON string literal, unquoted. */
export function encodeName(name: string): string {
  return JSON.stringify(name).slice(1, -1);
}

function decodeName(member: string): string {
  return JSON.parse(`"${member}"`) as string;
}

function isMember(value: unknown): value is [number, string] {
  return (
    Array.isArray(value) &&
    value.length === 2 &&
    typeof value[0] === 'number' &&
    typeof value[1] === 'string'
  );
}

/** @internal What `patch` and `move` report: applied, and whether the row was unreadable. */
export interface Applied {
  done: boolean;
  unreadable: boolean;
}

/** @internal A TTL as the statements take it: finite seconds, at least a millisecond. */
export function seconds(ttlSeconds: number): number {
  if (!Number.isFinite(ttlSeconds)) {
    throw new RangeError(messages.postgresOption('ttlSeconds', 'a finite number', ttlSeconds));
  }
  return Math.max(0.001, ttlSeconds);
}
