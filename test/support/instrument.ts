import type { SessionBackend } from '../../src/backends/session-backend.js';

/** The backend methods the module calls. */
export const BACKEND_METHODS = [
  'read',
  'write',
  'destroy',
  'clear',
  'touch',
  'readAndTouch',
  'patch',
  'move',
  'indexAdd',
  'indexRemove',
  'indexList',
  'indexDestroy',
  'indexAddLimited',
  'close',
] as const;

export type BackendMethod = (typeof BACKEND_METHODS)[number];

export interface InstrumentOptions {
  /** Methods that reject with `store down (<method>)`, once counted. */
  fail?: Iterable<BackendMethod>;
  /** Methods that wait `delayMs` before they run. */
  slow?: Iterable<BackendMethod>;
  /** Default 0. */
  delayMs?: number;
}

/** What an instrumented backend adds to the backend it wraps. */
export interface Instruments {
  /** Calls per method, since the start or the last `resetCalls()`. */
  readonly calls: Record<BackendMethod, number>;
  /** Every call, in order, with its arguments. */
  readonly log: { method: BackendMethod; args: unknown[] }[];
  /** Reads, whichever method the module chose to do it with. */
  readonly reads: number;
  /** Writes of session data, whichever method the module chose to do it with. */
  readonly writes: number;
  /** Every call to a backend method. */
  readonly total: number;
  resetCalls(): void;
  /** Methods that reject; change it at any time. */
  readonly fail: Set<BackendMethod>;
  /** Methods that take `delayMs`; change either at any time. */
  readonly slow: Set<BackendMethod>;
  delayMs: number;
}

export type Instrumented<B extends SessionBackend> = B & Instruments;

const INSTRUMENT_KEYS = [
  'calls',
  'log',
  'reads',
  'writes',
  'total',
  'resetCalls',
  'fail',
  'slow',
  'delayMs',
] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `backend` behind a Proxy that counts and logs every call the module makes
 * to it, and on demand makes chosen methods fail or slow. The methods run
 * with the Proxy as `this`, as in a subclass overriding them, so calls a
 * backend makes to itself count too. Only methods the backend has are
 * wrapped: its capabilities stay what they were (an inherited default `touch`
 * still reads as the default).
 *
 * @example
 * const backend = instrument(new MemoryBackend(), { fail: ['write'] });
 * // ... a request ...
 * expect(backend.calls.write).toBe(1);
 * backend.fail.clear();
 */
export function instrument<B extends SessionBackend>(
  backend: B,
  options: InstrumentOptions = {},
): Instrumented<B> {
  const clash = INSTRUMENT_KEYS.filter((key) => key in backend);
  if (clash.length > 0) throw new Error(`instrument: the backend already has ${clash.join(', ')}`);

  const calls = Object.fromEntries(BACKEND_METHODS.map((m) => [m, 0])) as Record<
    BackendMethod,
    number
  >;
  const controls: Instruments = {
    calls,
    log: [],
    get reads() {
      return calls.read + calls.readAndTouch;
    },
    get writes() {
      return calls.write + calls.patch + calls.move;
    },
    get total() {
      return Object.values(calls).reduce((sum, n) => sum + n, 0);
    },
    resetCalls() {
      for (const method of BACKEND_METHODS) calls[method] = 0;
      controls.log.length = 0;
    },
    fail: new Set(options.fail),
    slow: new Set(options.slow),
    delayMs: options.delayMs ?? 0,
  };

  const wrappers = new Map<PropertyKey, unknown>();
  const proxy = new Proxy(backend, {
    get(target, key, receiver) {
      if (wrappers.has(key)) return wrappers.get(key);
      if ((INSTRUMENT_KEYS as readonly PropertyKey[]).includes(key)) {
        return controls[key as keyof Instruments];
      }
      return Reflect.get(target, key, receiver);
    },
    set(target, key, value, receiver) {
      if (key === 'delayMs') {
        controls.delayMs = value as number;
        return true;
      }
      return Reflect.set(target, key, value, receiver);
    },
    has(target, key) {
      return (INSTRUMENT_KEYS as readonly PropertyKey[]).includes(key) || Reflect.has(target, key);
    },
  }) as Instrumented<B>;
  for (const method of BACKEND_METHODS) {
    const original = (backend as unknown as Record<string, unknown>)[method];
    if (typeof original !== 'function') continue;
    const wrapper = async function (...args: unknown[]): Promise<unknown> {
      calls[method] += 1;
      controls.log.push({ method, args });
      if (controls.slow.has(method)) await sleep(controls.delayMs);
      if (controls.fail.has(method)) throw new Error(`store down (${method})`);
      return original.apply(proxy, args);
    };
    // Keeps markers such as the one of the inherited default `touch`.
    for (const key of Object.getOwnPropertySymbols(original)) {
      Object.defineProperty(wrapper, key, Object.getOwnPropertyDescriptor(original, key)!);
    }
    wrappers.set(method, wrapper);
  }

  return proxy;
}
