import { setOwn } from './backends/session-backend.js';
import { SessionValueError } from './session.errors.js';
import { messages } from './session.messages.js';

/**
 * @internal How many objects and arrays a session value may nest. Deeper
 * values are refused at `set`: `JSON.stringify`, which every backend uses,
 * overflows the call stack not far beyond this (about 4 000 levels with
 * Node's default stack), and a value that cannot be saved must fail where it
 * is set, not at save time as a 503.
 */
export const MAX_JSON_DEPTH = 2500;

/** Where the walk is, for error messages: the session key and the path inside its value. */
interface Walk {
  readonly key: string;
  /** Property names and array indexes from the session key down to the current value. */
  readonly path: (string | number)[];
  /** The objects and arrays being copied, outermost first (cycle and depth checks). */
  readonly open: object[];
}

/**
 * @internal A JSON-clean copy of `value`, exactly what storing it as JSON
 * and reading it back yields, or a `SessionValueError` naming `key` and the
 * path inside the value.
 *
 * Accepted: strings, finite numbers, booleans, null, arrays without holes,
 * plain objects (prototype `Object.prototype` or null), and objects with a
 * `toJSON` method whose result is itself such a value. As `JSON.stringify`
 * does, `toJSON(key)` is called once and its result is not asked for
 * `toJSON` again. Everything else is refused rather than silently changed:
 * a `Map`, `Set` or class instance without `toJSON` (JSON would store `{}`
 * or a bag of indexes), an array hole or nested `undefined` (`null`, or a
 * lost key), functions, symbols, BigInts, non-finite numbers, cycles, and
 * nesting deeper than `MAX_JSON_DEPTH`. A `"__proto__"` property (as
 * `JSON.parse` makes one) is copied as plain data.
 */
export function toJsonValue(key: string, value: unknown): unknown {
  // Most values are primitives: no walk state needed.
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) return value === 0 ? 0 : value;
      break;
  }
  if (value === null) return null;
  const walk: Walk = { key, path: [], open: [] };
  try {
    return copy(walk, value, key);
  } catch (error) {
    // The depth limit keeps ordinary deep values from getting here; a caller
    // already deep in its own stack may still run out first.
    if (isStackOverflow(error)) fail(walk, 'a value nested too deeply for the call stack');
    throw error;
  }
}

// One frame per level of nesting, so that deep values get as far as the
// stack allows; failures are formatted outside this hot path.
function copy(walk: Walk, input: unknown, name: string | number): unknown {
  let value = input;
  let from: object | undefined;
  if (typeof value === 'object' && value !== null) {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      // As JSON.stringify does: call it once, with the property name, and
      // take its result as plain JSON (its own toJSON is not called).
      from = value;
      value = toJSON.call(value, String(name));
    }
  }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) return value === 0 ? 0 : value;
      return fail(walk, returned(`the number ${value}`, from));
    case 'object':
      if (value === null) return null;
      break;
    default:
      return fail(walk, returned(`a value of type ${typeof value}`, from));
  }
  const { open, path } = walk;
  if (open.includes(value)) return fail(walk, 'a circular reference');
  if (open.length >= MAX_JSON_DEPTH) {
    return fail(walk, `a value nested too deeply (more than ${MAX_JSON_DEPTH} levels)`);
  }
  if (Array.isArray(value)) {
    open.push(value);
    const out: unknown[] = [];
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      path.push(index);
      if (item === undefined && !(index in value)) {
        fail(walk, 'an empty array slot (JSON would store null): fill it, for example with null');
      }
      out.push(copy(walk, item, index));
      path.pop();
    }
    open.pop();
    return out;
  }
  if (!isPlainObject(value)) return fail(walk, notPlain(value, from));
  open.push(value);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    path.push(key);
    const item = copy(walk, (value as Record<string, unknown>)[key], key);
    // Plain assignment of "__proto__" would set the copy's prototype instead of a property.
    if (key === '__proto__') setOwn(out, key, item);
    else out[key] = item;
    path.pop();
  }
  open.pop();
  return out;
}

const OBJECT_SOURCE = Function.prototype.toString.call(Object);

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as { constructor?: unknown } | null;
  if (proto === Object.prototype || proto === null) return true;
  // Object.prototype of another realm (a vm context, such as Jest's sandbox).
  return (
    Object.getPrototypeOf(proto) === null &&
    Object.hasOwn(proto, 'constructor') &&
    typeof proto.constructor === 'function' &&
    Function.prototype.toString.call(proto.constructor) === OBJECT_SOURCE
  );
}

function describe(value: object): string {
  let name: unknown;
  try {
    name = Object.getPrototypeOf(value)?.constructor?.name;
  } catch {
    // A hostile proxy or getter: fall back to the generic description.
  }
  if (typeof name !== 'string' || name === '' || name === 'Object') {
    return 'an object with a custom prototype';
  }
  return /^[AEIOU]/.test(name) ? `an ${name}` : `a ${name}`;
}

function notPlain(value: object, from: object | undefined): string {
  return from
    ? returned(describe(value), from)
    : `${describe(value)}, which is not a plain object or array: convert it (Object.fromEntries, Array.from…) or give its class a toJSON() method`;
}

function returned(what: string, from: object | undefined): string {
  return from ? `${what} returned by toJSON() of ${describe(from)}` : what;
}

function isStackOverflow(error: unknown): boolean {
  // By name, not instanceof: the RangeError may come from another realm.
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as Error).name === 'RangeError' &&
    /call stack/i.test(String((error as Error).message))
  );
}

function fail(walk: Walk, what: string): never {
  throw new SessionValueError(messages.notJson(walk.key, formatPath(walk), what));
}

function formatPath(walk: Walk): string {
  const steps = walk.path.length > 12 ? walk.path.slice(0, 8) : walk.path;
  let path = walk.key;
  for (const step of steps) path += typeof step === 'number' ? `[${step}]` : `.${step}`;
  if (steps !== walk.path) path += `… (${walk.path.length} levels down)`;
  return path;
}

/** @internal A deep copy of a JSON value (values in a session are always JSON-clean). */
export function copyJson<T>(value: T): T {
  return value !== null && typeof value === 'object'
    ? (JSON.parse(JSON.stringify(value)) as T)
    : value;
}
