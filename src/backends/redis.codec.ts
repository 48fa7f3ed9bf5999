import { messages } from '../session.messages.js';
import type { SessionData, SessionDelta } from './session-backend.js';

/**
 * @internal One record as RedisBackend stores it: a JSON object whose fields
 * hold the JSON text of each session key's value, as JSON.stringify writes
 * it: no whitespace, and lone surrogates (in names and values alike) escaped
 * as `\uXXXX`, so the text is valid UTF-8 and the patch script can match
 * names byte for byte. A value without JSON (undefined, a function) is left
 * out, as in JSON.stringify of a whole object.
 */
export function encode(data: SessionData): string {
  const fields: [string, string][] = [];
  for (const [name, value] of Object.entries(data)) {
    const json = JSON.stringify(value);
    if (json !== undefined) fields.push([name, json]);
  }
  // fromEntries defines properties, so a key named "__proto__" stays a plain key.
  return JSON.stringify(Object.fromEntries(fields));
}

/**
 * @internal The record stored by `encode`, or undefined when `raw` is not
 * one: not JSON, not an object, or a field that is not a string of JSON
 * text. Any JSON spelling is read, including whitespace and the `\/` and
 * `\u007f` escapes written by the cjson-based script of earlier versions.
 */
export function decode(raw: string): SessionData | undefined {
  try {
    const outer: unknown = JSON.parse(raw);
    if (outer === null || typeof outer !== 'object' || Array.isArray(outer)) return undefined;
    const record = outer as Record<string, unknown>;
    // Each field is replaced in place by its value. JSON.parse made every
    // field an own property, so assigning to one named "__proto__" sets that
    // property, not the prototype.
    for (const name of Object.keys(record)) {
      const json = record[name];
      if (typeof json !== 'string') return undefined;
      record[name] = JSON.parse(json);
    }
    return record;
  } catch {
    return undefined;
  }
}

/**
 * @internal The patch script's arguments for `delta` after the expiry: the
 * number of fields to set, that many name/value token pairs, then the name
 * tokens to remove. Tokens are exactly what `encode` writes
 * (`JSON.stringify(name)`, `JSON.stringify(JSON.stringify(value))`), so the
 * script can splice them in byte for byte; a value without JSON is removed.
 */
export function deltaArgs(delta: SessionDelta): string[] {
  const sets: string[] = [];
  const unsets = delta.unset.map((name) => JSON.stringify(name));
  for (const [name, value] of Object.entries(delta.set)) {
    const json = JSON.stringify(value);
    if (json === undefined) unsets.push(JSON.stringify(name));
    else sets.push(JSON.stringify(name), JSON.stringify(json));
  }
  return [String(sets.length / 2), ...sets, ...unsets];
}

/** @internal A TTL as Redis takes it: whole seconds as EX (as most clients do), anything else PX, at least 1 ms. */
export function expiry(ttlSeconds: number): ['EX' | 'PX', number] {
  if (!Number.isFinite(ttlSeconds)) {
    throw new RangeError(messages.redisOption('ttlSeconds', 'a finite number', ttlSeconds));
  }
  if (Number.isInteger(ttlSeconds) && ttlSeconds > 0) return ['EX', ttlSeconds];
  return ['PX', Math.max(1, Math.round(ttlSeconds * 1000))];
}
