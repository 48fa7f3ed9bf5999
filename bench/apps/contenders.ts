// The contenders of `npm run bench`, shared by the app entry and the driver
// (the driver reads the compiled copy).
export type ContenderKind = 'bare' | 'express-session' | 'ours';

export interface Contender {
  kind: ContenderKind;
  store: 'none' | 'memory' | 'redis' | 'postgres';
  rolling: boolean;
  /** `touchAfter` in seconds (ours, with rolling); default 0. */
  touchAfter?: number;
  label: string;
  /** The express-session contender this one is compared with. */
  baseline?: string;
}

export const CONTENDERS = {
  bare: { kind: 'bare', store: 'none', rolling: false, label: 'Nest, no sessions' },
  'bare-interceptor': {
    kind: 'bare',
    store: 'none',
    rolling: false,
    label: 'Nest, no sessions, one no-op global interceptor',
  },
  'es-memory': {
    kind: 'express-session',
    store: 'memory',
    rolling: false,
    label: 'express-session + MemoryStore',
  },
  'es-redis': {
    kind: 'express-session',
    store: 'redis',
    rolling: false,
    label: 'express-session + connect-redis',
  },
  'es-redis-rolling': {
    kind: 'express-session',
    store: 'redis',
    rolling: true,
    label: 'express-session + connect-redis, rolling',
  },
  'es-pg': {
    kind: 'express-session',
    store: 'postgres',
    rolling: false,
    label: 'express-session + connect-pg-simple',
  },
  'ours-memory': {
    kind: 'ours',
    store: 'memory',
    rolling: false,
    label: 'ours, MemoryBackend',
    baseline: 'es-memory',
  },
  'ours-redis': {
    kind: 'ours',
    store: 'redis',
    rolling: false,
    label: 'ours, RedisBackend',
    baseline: 'es-redis',
  },
  'ours-redis-rolling': {
    kind: 'ours',
    store: 'redis',
    rolling: true,
    label: 'ours, RedisBackend, rolling',
    baseline: 'es-redis-rolling',
  },
  'ours-redis-lazy': {
    kind: 'ours',
    store: 'redis',
    rolling: true,
    touchAfter: 60,
    label: 'ours, RedisBackend, rolling, touchAfter 60 s',
    baseline: 'es-redis-rolling',
  },
  'ours-pg': {
    kind: 'ours',
    store: 'postgres',
    rolling: false,
    label: 'ours, PostgresBackend',
    baseline: 'es-pg',
  },
} satisfies Record<string, Contender>;

export type ContenderName = keyof typeof CONTENDERS;
