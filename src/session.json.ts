import { SessionValueError } from './session.errors.js';
import { messages } from './session.messages.js';

/**
 * @internal Throws a `SessionValueError` naming `key` (and the path inside the
 * value) when `value` cannot round-trip through JSON: functions, symbols,
 * BigInts, non-finite numbers, `undefined` and cycles. Objects with `toJSON`
 * (such as `Date`) are accepted and stored as what `toJSON` returns.
 */
export function assertJsonValue(key: string, value: unknown): void {
  walk(key, value, key, []);
}

function walk(key: string, value: unknown, path: string, stack: object[]): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(key, path, `the number ${value}`);
      return;
    case 'undefined':
    case 'function':
    case 'symbol':
    case 'bigint':
      fail(key, path, `a value of type ${typeof value}`);
      return;
  }
  if (value === null) return;
  const object = value as Record<string, unknown>;
  if (typeof object.toJSON === 'function') return;
  if (stack.includes(object)) fail(key, path, 'a circular reference');
  stack.push(object);
  if (Array.isArray(object)) {
    object.forEach((item, index) => walk(key, item, `${path}[${index}]`, stack));
  } else {
    for (const [name, item] of Object.entries(object)) {
      // JSON.stringify drops undefined and function members of objects, so a
      // round trip silently loses them: refuse rather than lose data.
      walk(key, item, `${path}.${name}`, stack);
    }
  }
  stack.pop();
}

function fail(key: string, path: string, what: string): never {
  throw new SessionValueError(messages.notJson(key, path, what));
}

/** @internal A deep copy of a JSON value (values in a session are always JSON-clean). */
export function copyJson<T>(value: T): T {
  return value !== null && typeof value === 'object'
    ? (JSON.parse(JSON.stringify(value)) as T)
    : value;
}
