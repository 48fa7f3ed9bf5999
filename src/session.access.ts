import { SessionValueError } from './session.errors.js';
import { messages } from './session.messages.js';
import { deleteValue, readLive, setValue, STATE, type SessionState } from './session.state.js';

/**
 * @internal Names that property access never takes as data keys: the
 * session's own methods and accessors, those of `Object.prototype`, and
 * `then` (a session with a `then` key would look like a promise to `await`).
 * Such keys are still reachable through `get` / `set`.
 */
export function reservedNames(prototype: object): ReadonlySet<string> {
  const names = new Set<string>(['then']);
  for (let proto: object | null = prototype; proto; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) names.add(name);
  }
  return names;
}

type Target = { [STATE]: SessionState };

/**
 * @internal The one handler shared by every session's proxy: data keys read
 * and write the session's data (express-session style), everything else
 * (methods, accessors, symbols) goes to the session itself.
 */
export function accessHandler(reserved: ReadonlySet<string>): ProxyHandler<Target> {
  const own = (key: string | symbol): key is symbol => typeof key === 'symbol' || reserved.has(key);
  return {
    get(target, key, receiver) {
      if (key === STATE) return target[STATE];
      if (own(key)) return Reflect.get(target, key, receiver) as unknown;
      return readLive(target[STATE], key);
    },
    set(target, key, value) {
      if (typeof key === 'symbol') return Reflect.set(target, key, value);
      if (reserved.has(key)) throw new SessionValueError(messages.reservedProperty(key));
      setValue(target[STATE], key, value, true);
      return true;
    },
    deleteProperty(target, key) {
      if (own(key)) return Reflect.deleteProperty(target, key);
      deleteValue(target[STATE], key);
      return true;
    },
    has(target, key) {
      return own(key) ? Reflect.has(target, key) : Object.hasOwn(target[STATE].data, key);
    },
    ownKeys(target) {
      const keys: (string | symbol)[] = [];
      for (const name of Object.keys(target[STATE].data)) if (!reserved.has(name)) keys.push(name);
      for (const symbol of Object.getOwnPropertySymbols(target)) {
        if (symbol !== STATE) keys.push(symbol);
      }
      return keys;
    },
    getOwnPropertyDescriptor(target, key) {
      if (own(key)) {
        return key === STATE ? undefined : Reflect.getOwnPropertyDescriptor(target, key);
      }
      const state = target[STATE];
      if (!Object.hasOwn(state.data, key)) return undefined;
      const value = readLive(state, key);
      return { value, writable: true, enumerable: true, configurable: true };
    },
    defineProperty(target, key, descriptor) {
      if (typeof key === 'symbol') return Reflect.defineProperty(target, key, descriptor);
      if (reserved.has(key)) throw new SessionValueError(messages.reservedProperty(key));
      if (!('value' in descriptor)) throw new SessionValueError(messages.accessorProperty(key));
      setValue(target[STATE], key, descriptor.value, true);
      return true;
    },
    setPrototypeOf: () => false,
    preventExtensions: () => false,
  };
}
