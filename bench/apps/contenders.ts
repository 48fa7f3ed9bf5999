// The contenders of `npm run bench`, shared by the app entry and the driver
// (the driver reads the compiled copy). A variant is one more entry: `options`
// go to SessionModule.forRoot as they are, `workloads` limits what it is
// measured on, and `baseline` names the express-session contender its CPU and
// req/s ratios (and targets) are taken against.
export type ContenderKind = 'bare' | 'express-session' | 'ours';

export const WORKLOADS = ['/none', '/read', '/write', '/login'] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface Contender {
  kind: ContenderKind;
  store: 'none' | 'memory' | 'redis' | 'postgres';
  rolling: boolean;
  label: string;
  /** The express-session contender this one is compared with. */
  baseline?: string;
  /** Extra SessionModule options (ours only). */
  options?: Record<string, unknown>;
  /** What it is measured on; default every workload. */
  workloads?: readonly Workload[];
}

/**
 * `/none` runs the same code whatever the store (ours: none at all;
 * express-session: its middleware, without a store call): measured once per
 * library, on memory.
 */
const SESSION_WORKLOADS = ['/read', '/write', '/login'] as const;

export const CONTENDERS = {
  bare: {
    kind: 'bare',
    store: 'none',
    rolling: false,
    label: 'Nest, no sessions',
    // Every workload's requests (the same cookie on /read and /write), answered as /none.
  },
  'bare-interceptor': {
    kind: 'bare',
    store: 'none',
    rolling: false,
    label: 'Nest, no sessions, one no-op global interceptor',
    // What Nest's interceptor machinery costs a route, next to bare.
    workloads: ['/none'],
  },
  'bare-decorator': {
    kind: 'bare',
    store: 'none',
    rolling: false,
    label:
      'Nest, no sessions, each route taking a no-op parameter decorator that binds a no-op interceptor',
    // What `@Session()` costs a route before any session work: the floor of ours, on each workload's requests.
    workloads: SESSION_WORKLOADS,
  },
  'bare-redis': {
    kind: 'bare',
    store: 'redis',
    rolling: false,
    label:
      "Nest, no sessions, routes shaped as bare-decorator's whose interceptor makes a session's Redis round trips: GET before the handler (/read, /write), SET after it (/write, /login)",
    // The floor of ours on Redis: the round trips the targets allow, with no session work around them.
    workloads: SESSION_WORKLOADS,
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
    workloads: SESSION_WORKLOADS,
  },
  'es-redis-rolling': {
    kind: 'express-session',
    store: 'redis',
    rolling: true,
    label: 'express-session + connect-redis, rolling',
    workloads: SESSION_WORKLOADS,
  },
  'es-pg': {
    kind: 'express-session',
    store: 'postgres',
    rolling: false,
    label: 'express-session + connect-pg-simple',
    workloads: SESSION_WORKLOADS,
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
    workloads: SESSION_WORKLOADS,
  },
  'ours-redis-rolling': {
    kind: 'ours',
    store: 'redis',
    rolling: true,
    label: 'ours, RedisBackend, rolling',
    baseline: 'es-redis-rolling',
    workloads: SESSION_WORKLOADS,
  },
  'ours-redis-lazy': {
    kind: 'ours',
    store: 'redis',
    rolling: true,
    label: 'ours, RedisBackend, rolling, touchAfter 60 s',
    baseline: 'es-redis-rolling',
    options: { touchAfter: 60 },
    // Only reads differ from ours-redis-rolling: a change saves (and extends) as before.
    workloads: ['/read'],
  },
  'ours-pg': {
    kind: 'ours',
    store: 'postgres',
    rolling: false,
    label: 'ours, PostgresBackend',
    baseline: 'es-pg',
    workloads: SESSION_WORKLOADS,
  },
} satisfies Record<string, Contender>;

export type ContenderName = keyof typeof CONTENDERS;
