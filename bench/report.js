// Turns the benchmark's samples into medians, ratios, the targets check, a
// text table and BENCHMARKS.md.

/** Everything after this line of BENCHMARKS.md is kept when the file is regenerated. */
export const NOTES_MARKER =
  '<!-- notes: everything below is kept when the benchmark rewrites this file -->';

export function median(values) {
  const list = values.filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (list.length === 0) return null;
  const mid = list.length >> 1;
  return list.length % 2 ? list[mid] : (list[mid - 1] + list[mid]) / 2;
}

/** `ours-memory@before` → `ours-memory`. */
export function baseName(id) {
  return id.split('@')[0];
}

/**
 * One row per system, contender and workload: medians over rounds, ratios
 * taken within each round first (to bare on the same workload, to the express-session
 * baseline, and for this build to the `@before` build when one ran).
 */
export function summarize(samples, contenders, systems) {
  const find = (system, round, contender, workload) =>
    samples.find(
      (s) =>
        s.system === system &&
        s.round === round &&
        s.contender === contender &&
        s.workload === workload,
    );
  const rows = [];
  const ids = [...new Set(samples.map((s) => s.contender))];
  const workloads = [...new Set(samples.map((s) => s.workload))];
  for (const system of systems) {
    for (const workload of workloads) {
      for (const id of ids) {
        const own = samples.filter(
          (s) => s.system === system && s.contender === id && s.workload === workload,
        );
        if (own.length === 0) continue;
        const ratio = (other, field) =>
          median(
            own.map((s) => {
              const o = other(s.round);
              return o && o[field] ? s[field] / o[field] : null;
            }),
          );
        // Per round, `a`'s CPU per request over (or above) `b`'s.
        const cpuOf = (a, b, op) =>
          median(
            own.map((s) => {
              const x = a(s.round)?.cpuPerRequest;
              const y = b(s.round)?.cpuPerRequest;
              return x && y ? op(x, y) : null;
            }),
          );
        const over = (x, y) => x / y;
        const minus = (x, y) => x - y;
        const name = baseName(id);
        const baseline = contenders[name]?.baseline;
        // bare on the same workload (its requests, answered without a session), else its /none.
        const bare = (round) =>
          find(system, round, 'bare', workload) ?? find(system, round, 'bare', '/none');
        const base = (round) => (baseline ? find(system, round, baseline, workload) : undefined);
        const before = (round) => find(system, round, `${id}@before`, workload);
        const self = (round) => find(system, round, id, workload);
        const floor = (round) => find(system, round, 'bare-decorator', workload);
        // On Redis, the same routes with the round trips a session may make (bare-redis).
        const trips = (round) =>
          contenders[name]?.store === 'redis'
            ? find(system, round, 'bare-redis', workload)
            : undefined;
        rows.push({
          system,
          contender: id,
          name,
          backend: contenders[name]?.store,
          workload,
          rounds: own.length,
          rps: median(own.map((s) => s.rps)),
          p50: median(own.map((s) => s.p50)),
          p99: median(own.map((s) => s.p99)),
          cpu: median(own.map((s) => s.cpuPerRequest)),
          store: median(own.map((s) => s.storePerRequest)),
          bad: own.reduce((sum, s) => sum + s.bad, 0),
          bareRps: id === 'bare' ? null : ratio(bare, 'rps'),
          bareCpu: id === 'bare' ? null : ratio(bare, 'cpuPerRequest'),
          baseline,
          baseRps: baseline ? ratio(base, 'rps') : null,
          baseCpu: baseline ? ratio(base, 'cpuPerRequest') : null,
          // Nest's floor for a route shaped as `@Session()` shapes it: the app
          // whose routes take a no-op parameter decorator binding a no-op
          // interceptor, and no sessions, against the baseline.
          floorCpu: baseline ? cpuOf(floor, base, over) : null,
          // CPU µs per request above that floor (ours), and above bare (the baseline).
          aboveFloor: baseline ? cpuOf(self, floor, minus) : null,
          baseAboveBare: baseline ? cpuOf(base, bare, minus) : null,
          tripsFloorCpu: baseline ? cpuOf(trips, base, over) : null,
          aboveTripsFloor: baseline ? cpuOf(self, trips, minus) : null,
          beforeCpu: ratio(before, 'cpuPerRequest'),
          beforeRps: ratio(before, 'rps'),
        });
      }
    }
  }
  return rows;
}

/**
 * Server CPU per request, same run, for every module system: the limit on
 * `CPU vs e-s` per store, and the store round trips per workload.
 */
const CPU_VS_BASELINE = { memory: 0.85, redis: 0.8 };
const ROUND_TRIPS = {
  redis: { '/read': 1, '/write': 2, '/login': 1 },
  postgres: { '/read': 1 },
};
const NONE_VS_BARE = 1.03;

/**
 * The targets, checked against the medians of every `ours-*` contender of
 * this build (so a new variant is checked as soon as it is listed).
 * Informational: the benchmark never fails on them.
 */
export function evaluateTargets(rows) {
  const out = [];
  const times = (v) => `${v.toFixed(2)}x`;
  for (const r of rows) {
    if (!r.name.startsWith('ours-') || r.contender !== r.name) continue;
    const store = r.backend;
    const check = (target, value, limit, shown, beside, floor) =>
      out.push({
        system: r.system,
        contender: r.contender,
        workload: r.workload,
        target,
        measured: value === null ? '-' : shown(value),
        beside,
        status: value === null ? 'not run' : value <= limit ? 'MET' : 'MISSED',
        floor,
      });
    if (r.workload === '/none') {
      check(
        `CPU <= ${NONE_VS_BARE}x bare`,
        r.bareCpu,
        NONE_VS_BARE,
        times,
        r.bareRps === null ? '' : `req/s ${times(r.bareRps)} bare`,
      );
      continue;
    }
    const limit = CPU_VS_BASELINE[store];
    if (limit !== undefined)
      check(
        `CPU <= ${limit}x ${r.baseline}`,
        r.baseCpu,
        limit,
        times,
        r.baseRps === null ? '' : `req/s ${times(r.baseRps)}`,
        floorOf(r, limit),
      );
    // Up to 5 % over: requests in flight when a measurement ends count on one side only.
    const trips = ROUND_TRIPS[store]?.[r.workload];
    if (trips !== undefined)
      check(`${trips} ${store} round trip(s) per request`, r.store, trips + 0.05, (v) =>
        v.toFixed(2),
      );
  }
  return out;
}

/**
 * Where a CPU target stands against its floors, each null when its app did
 * not run: `decorator`, what the app whose routes take a no-op parameter
 * decorator binding a no-op interceptor (and no sessions) costs against the
 * same baseline, and the baseline's CPU above bare (µs per request);
 * `redis`, the same routes making a session's Redis round trips
 * (bare-redis). Each says whether it alone is over the limit, and our CPU
 * above it. Null when neither ran.
 */
function floorOf(r, limit) {
  const at = (ratio, ours) => (ratio === null ? null : { ratio, above: ratio > limit, ours });
  const decorator = at(r.floorCpu, r.aboveFloor);
  const redis = at(r.tripsFloorCpu, r.aboveTripsFloor);
  if (!decorator && !redis) return null;
  return { decorator: decorator && { ...decorator, baseline: r.baseAboveBare }, redis };
}

/** `0.92x`, with `over` after it when that floor alone is over the limit. */
const floorRatio = (floor, over) => `${floor.ratio.toFixed(2)}x${floor.above ? over : ''}`;

/**
 * `; no-op decorator and interceptor alone 0.92x (over the limit); ours +81 µs over it,
 * express-session +95 µs over bare; with its Redis round trips 0.95x (over the limit), ours +20 µs
 * over that`.
 */
function floorText(floor) {
  if (!floor) return '';
  const us = (v) => `${v >= 0 ? '+' : ''}${Math.round(v)} µs`;
  const { decorator, redis } = floor;
  const parts = [];
  if (decorator) {
    parts.push(
      `no-op decorator and interceptor alone ${floorRatio(decorator, ' (over the limit)')}`,
      `ours ${us(decorator.ours)} over it, express-session ${us(decorator.baseline)} over bare`,
    );
  }
  if (redis) {
    parts.push(
      `with its Redis round trips ${floorRatio(redis, ' (over the limit)')}, ours ${us(redis.ours)} over that`,
    );
  }
  return parts.map((part) => `; ${part}`).join('');
}

/** A floor's table cells: its ratio, then its µs figures `keys`; blank when it did not run. */
function floorCells(floor, ...keys) {
  if (!floor) return ['', ...keys.map(() => '')];
  return [floorRatio(floor, ' (over)'), ...keys.map((key) => `${Math.round(floor[key])} µs`)];
}

const fmt = {
  int: (v) => (v === null ? '-' : Math.round(v).toLocaleString('en-US')),
  ms: (v) => (v === null ? '-' : v < 10 ? v.toFixed(1) : v.toFixed(0)),
  x: (v) => (v === null ? '-' : `${v.toFixed(2)}x`),
  calls: (v) => (v === null ? '-' : v.toFixed(2)),
};

const HEADER = [
  'workload',
  'contender',
  'CPU µs/req',
  'CPU vs e-s',
  'req/s vs e-s',
  'CPU vs bare',
  'req/s',
  'p50 ms',
  'p99 ms',
  'round trips/req',
  'non-2xx',
];

function cells(r) {
  return [
    r.workload,
    r.contender,
    fmt.int(r.cpu),
    fmt.x(r.baseCpu),
    fmt.x(r.baseRps),
    fmt.x(r.bareCpu),
    fmt.int(r.rps),
    fmt.ms(r.p50),
    fmt.ms(r.p99),
    fmt.calls(r.store),
    String(r.bad),
  ];
}

/** Rows of this build that ran next to an `@before` build: the before/after comparison. */
function beforeAfter(rows) {
  return rows
    .filter((r) => r.beforeCpu !== null)
    .map((r) => {
      const before = rows.find(
        (b) =>
          b.system === r.system &&
          b.workload === r.workload &&
          b.contender === `${r.contender}@before`,
      );
      return [
        r.system,
        r.workload,
        r.contender,
        fmt.int(before.cpu),
        fmt.int(r.cpu),
        fmt.x(r.beforeCpu),
        fmt.x(before.baseCpu),
        fmt.x(r.baseCpu),
        fmt.x(r.beforeRps),
      ];
    });
}

const BEFORE_AFTER_HEADER = [
  'system',
  'workload',
  'contender',
  'CPU µs/req before',
  'after',
  'after ÷ before',
  'CPU vs e-s before',
  'after',
  'req/s after ÷ before',
];

function aligned(table) {
  const widths = table[0].map((_, i) => Math.max(...table.map((line) => line[i].length)));
  const lines = table.map((line) =>
    line.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines;
}

export function textTable(rows, targets, systems) {
  const lines = [];
  for (const system of Object.keys(systems)) {
    const own = rows.filter((r) => r.system === system);
    if (own.length === 0) continue;
    lines.push(`${system} (${systems[system].label})`, ...aligned([HEADER, ...own.map(cells)]), '');
  }
  const comparison = beforeAfter(rows);
  if (comparison.length)
    lines.push('before / after:', ...aligned([BEFORE_AFTER_HEADER, ...comparison]), '');
  lines.push('targets (CPU per request, same run):');
  for (const t of targets) {
    lines.push(
      `  ${t.status.padEnd(7)} ${t.system} ${t.contender} ${t.workload} ${t.target}: ${t.measured}${t.beside ? ` (${t.beside})` : ''}${floorText(t.floor)}`,
    );
  }
  return lines.join('\n');
}

/**
 * The servers' start and settling, as the method line says it: runs that
 * restart them for every round say so (earlier results kept one process per
 * contender for all rounds).
 */
function settled(args) {
  if (args.freshServers) {
    return args.settle > 0
      ? ` each round on freshly started servers, each of which first served each of its workloads for ${args.settle} s;`
      : ' each round on freshly started servers;';
  }
  return args.settle > 0
    ? ` each server first served each of its workloads for ${args.settle} s, then`
    : '';
}

function markdownTable(header, body, left = 2) {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < left ? '---' : '---:')).join('|')}|`,
    ...body.map((line) => `| ${line.join(' | ')} |`),
  ];
}

export function markdownReport({
  rows,
  targets,
  host,
  args,
  command,
  previous,
  CONTENDERS,
  SYSTEMS,
}) {
  const notesAt = previous.indexOf(NOTES_MARKER);
  const notes = notesAt === -1 ? '\n' : previous.slice(notesAt + NOTES_MARKER.length);
  const systems = [...new Set(rows.map((r) => r.system))];
  const md = [];
  md.push('# Benchmarks', '');
  md.push(
    'Generated by `npm run bench` (bench/run.js): each contender is a small Nest app in its own process on',
    `127.0.0.1, driven by autocannon with 50 connections;${settled(args)}`,
    `${args.rounds} round(s) of ${args.duration} s per measurement after a ${args.warmup} s warm-up; each measurement is taken in`,
    `${args.slices ?? 1} slice(s), the contenders of a workload alternating`,
    'slice by slice, so that load from elsewhere falls on all of them; every number is the median over rounds.',
    'Every contender runs in each module system: ' +
      systems.map((s) => `${SYSTEMS[s].label} (\`${s}\`)`).join('; ') +
      '.',
    '',
    '![Server CPU per request, ours against express-session](docs/benchmarks.svg)',
    '',
  );
  md.push('## Machine', '');
  md.push(`- nproc: ${host.nproc}; CPU: ${host.cpu}`);
  md.push(
    `- Node ${host.node}; ${host.os}; Redis ${host.redis}; PostgreSQL ${host.postgres ?? 'not used'}; autocannon ${host.autocannon}`,
  );
  md.push(`- pinning: ${host.pinning}`);
  if (host.asyncScope)
    md.push(
      `- binding an interceptor's next step to its async context, on the server's core (bench/async-scope.js):`,
      `  Node's \`AsyncResource.bind()\` (Nest 11, twice per request for one interceptor) ${host.asyncScope.bind.toFixed(1)} µs per call;`,
      `  \`new AsyncResource()\` and a closure (Nest 12) ${host.asyncScope.resource.toFixed(2)} µs`,
    );
  md.push(`- command: \`${command}\``, '');
  const alone = Object.entries(host.inProcess ?? {});
  if (alone.length) {
    md.push('## Our code alone', '');
    md.push(
      "CPU µs per request of our own code, without HTTP and without Nest's request pipeline",
      '(`bench/apps/in-process.ts`: `SessionInterceptor` called as Nest calls it, around the same handler',
      "bodies, memory backend, on the server's core; median of 5 runs of 20,000 requests). The rest of",
      "`ours-memory`'s cost above `bare-decorator` is spent outside our code.",
      '',
    );
    const workloads = Object.keys(alone[0][1]);
    md.push(
      ...markdownTable(
        ['system', ...workloads],
        alone.map(([system, values]) => [
          `\`${system}\``,
          ...workloads.map((w) => values[w].toFixed(1)),
        ]),
        1,
      ),
      '',
    );
  }
  md.push('## Contenders', '');
  const ran = new Set(rows.map((r) => r.name));
  for (const [name, c] of Object.entries(CONTENDERS))
    md.push(`- \`${name}\`: ${c.label}${ran.has(name) ? '' : ' (not in this run)'}`);
  md.push(
    '',
    'Every session holds `{ user: { id, name, roles: [3 strings] }, cart: { items: [2 × { sku, qty }], currency } }`.',
    'express-session runs with `resave: false, saveUninitialized: false`; connect-redis 8 and our',
    'RedisBackend each get their own ioredis client; connect-pg-simple 10 and our PostgresBackend each get',
    "their own pg pool from the same connection string (pg's default of 10 connections), in a database of",
    "the benchmark's own; connect-pg-simple's table is created once before the run from its table.sql.",
    'All apps use a 14-day `maxAge` and `logger: false`.',
    '',
  );
  md.push(
    '## Targets',
    '',
    'Server CPU per request, same run; the throughput ratio beside it. **floor**: what the app without',
    'sessions whose routes take a no-op parameter decorator that binds a no-op interceptor',
    '(`bare-decorator`, on the same requests) costs against the same express-session contender in the',
    'same round: a route shaped as `@Session()` shapes it (SPEC) cannot cost less. "(over)" marks a',
    'limit the floor alone exceeds. **ours over floor**: our CPU per request above `bare-decorator`;',
    "**e-s over bare**: express-session's above `bare`. **Redis floor** (Redis rows): the same routes",
    'whose interceptor also makes the Redis round trips the target allows, with no session work',
    '(`bare-redis`: a GET of a record holding the same session, without our metadata field, before the',
    'handler on `/read` and `/write`, a SET of one after it on `/write` and `/login`), against the same',
    'express-session contender; **ours over it**:',
    'our CPU per request above `bare-redis`.',
    '',
  );
  md.push(
    ...markdownTable(
      [
        'status',
        'system',
        'contender',
        'workload',
        'target',
        'measured',
        'req/s ratio',
        'floor',
        'ours over floor',
        'e-s over bare',
        'Redis floor',
        'ours over it',
      ],
      targets.map((t) => [
        t.status,
        t.system,
        `\`${t.contender}\``,
        t.workload,
        t.target,
        t.measured,
        t.beside ? t.beside.replace(/^req\/s /, '') : '',
        ...floorCells(t.floor?.decorator, 'ours', 'baseline'),
        ...floorCells(t.floor?.redis, 'ours'),
      ]),
      5,
    ),
    '',
  );
  md.push('## Results', '');
  for (const system of systems) {
    md.push(`### ${SYSTEMS[system].label} (\`${system}\`)`, '');
    md.push(
      ...markdownTable(
        HEADER,
        rows
          .filter((r) => r.system === system)
          .map((r) => cells(r).map((c, i) => (i === 1 ? `\`${c}\`` : c))),
      ),
      '',
    );
  }
  const comparison = beforeAfter(rows);
  if (comparison.length) {
    md.push('## Before and after (same run)', '');
    md.push(...markdownTable(BEFORE_AFTER_HEADER, comparison, 3), '');
  }
  md.push('## How to read it', '');
  md.push(
    '- **Workloads**: `/none` does not use the session (no `@Session()`) and sends no cookie; `/read` reads',
    '  the user with a valid cookie (from one `/login` just before the measurement); `/write` adds one to a',
    '  quantity in the cart of that session (all 50 connections share it); `/login` creates a new session',
    '  on every request (no cookie sent).',
    "- **CPU µs/req**: the server process's own `process.cpuUsage()` (user + system, read through",
    '  `/__cpu` before and after the measurement) divided by the requests it received. Lower is better; it',
    '  is the number that matters when the server is not the only thing on its machine.',
    '- **vs e-s**: ratio to the matching express-session contender on the same workload in the same round',
    '  (`ours-memory` ↔ `es-memory`, `ours-redis` ↔ `es-redis`, `ours-redis-rolling` ↔ `es-redis-rolling`,',
    '  `ours-pg` ↔ `es-pg`). CPU: lower is better; req/s: higher is better.',
    '- **vs bare**: ratio to the bare app (no sessions) on the same workload in the same round: the same',
    '  requests, cookie included, answered as `/none` is.',
    '- **req/s**: completed requests per second; **p50/p99**: autocannon latency percentiles.',
    '- **round trips/req**: Redis commands (every ioredis command the app process sends) or PostgreSQL',
    "  statements (every pg client's `query`) divided by the requests the server received.",
    '- Ratios are computed per round and then the median is taken, so slow drift of the machine cancels out;',
    '  within a round, the contenders of a workload take turns in short slices, so a burst of load from',
    '  elsewhere is shared by them rather than landing on one.',
    '- The server has one core to itself; autocannon and Redis share the other. PostgreSQL, a server the',
    '  benchmark does not start, is not pinned. On a two-core machine the load generator can itself become',
    '  the limit for the fastest contenders, which compresses req/s ratios toward 1; the CPU-per-request',
    '  column is not affected by that.',
    '- `non-2xx` should be 0; anything else means the row measured errors, not sessions.',
    '',
    NOTES_MARKER,
  );
  return md.join('\n') + notes;
}
