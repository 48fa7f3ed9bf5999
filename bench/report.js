// Turns the benchmark's samples into medians, ratios, the targets check, a
// text table and BENCHMARKS.md.

const WORKLOADS = ['/none', '/read', '/write', '/login'];

/** Everything after this line of BENCHMARKS.md is kept when the file is regenerated. */
export const NOTES_MARKER =
  '<!-- notes: everything below is kept when the benchmark rewrites this file -->';

export function median(values) {
  const list = values.filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (list.length === 0) return null;
  const mid = list.length >> 1;
  return list.length % 2 ? list[mid] : (list[mid - 1] + list[mid]) / 2;
}

/** One row per contender and workload: medians over rounds, ratios taken within each round first. */
export function summarize(samples, contenders) {
  const find = (round, contender, workload) =>
    samples.find((s) => s.round === round && s.contender === contender && s.workload === workload);
  const rows = [];
  for (const workload of WORKLOADS) {
    for (const name of Object.keys(contenders)) {
      const own = samples.filter((s) => s.contender === name && s.workload === workload);
      if (own.length === 0) continue;
      const ratio = (other, field) =>
        median(
          own.map((s) => {
            const o = other(s.round);
            return o && o[field] ? s[field] / o[field] : null;
          }),
        );
      const bare = (round) => find(round, 'bare', '/none');
      const baseline = contenders[name].baseline;
      const base = (round) => (baseline ? find(round, baseline, workload) : undefined);
      rows.push({
        contender: name,
        workload,
        rounds: own.length,
        rps: median(own.map((s) => s.rps)),
        p50: median(own.map((s) => s.p50)),
        p99: median(own.map((s) => s.p99)),
        cpu: median(own.map((s) => s.cpuPerRequest)),
        store: median(own.map((s) => s.storePerRequest)),
        bad: own.reduce((sum, s) => sum + s.bad, 0),
        bareRps: name === 'bare' ? null : ratio(bare, 'rps'),
        bareCpu: name === 'bare' ? null : ratio(bare, 'cpuPerRequest'),
        baseline,
        baseRps: baseline ? ratio(base, 'rps') : null,
        baseCpu: baseline ? ratio(base, 'cpuPerRequest') : null,
      });
    }
  }
  return rows;
}

/** The issue's targets, checked against the medians. Informational: the benchmark never fails on them. */
export function evaluateTargets(rows, skipped) {
  const row = (contender, workload) =>
    rows.find((r) => r.contender === contender && r.workload === workload);
  const skippedNames = new Set(skipped.map((s) => s.name));
  const out = [];
  const check = (target, contender, workload, value, ok, shown) => {
    const r = row(contender, workload);
    if (!r || value(r) === null) {
      out.push({
        target,
        contender,
        workload,
        status: skippedNames.has(contender) ? 'not run (skipped)' : 'not run',
      });
      return;
    }
    const v = value(r);
    out.push({ target, contender, workload, measured: shown(v), status: ok(v) ? 'met' : 'MISSED' });
  };
  const times = (v) => `${v.toFixed(2)}x`;
  for (const c of ['ours-memory', 'ours-redis', 'ours-redis-rolling']) {
    check(
      'req/s >= 0.95x bare',
      c,
      '/none',
      (r) => r.bareRps,
      (v) => v >= 0.95,
      times,
    );
    check(
      'CPU per request <= 1.05x bare',
      c,
      '/none',
      (r) => r.bareCpu,
      (v) => v <= 1.05,
      times,
    );
  }
  for (const w of WORKLOADS) {
    check(
      'req/s >= 1.2x express-session + MemoryStore',
      'ours-memory',
      w,
      (r) => r.baseRps,
      (v) => v >= 1.2,
      times,
    );
  }
  for (const [c, min] of [
    ['ours-redis', 1.3],
    ['ours-redis-rolling', 1.5],
    ['ours-redis-lazy', 1.5],
  ]) {
    check(
      '1 Redis command per request',
      c,
      '/read',
      (r) => r.store,
      (v) => v <= 1.01,
      (v) => v.toFixed(2),
    );
    check(
      `req/s >= ${min}x express-session + connect-redis`,
      c,
      '/read',
      (r) => r.baseRps,
      (v) => v >= min,
      times,
    );
    check(
      'CPU per request <= 1.3x bare /none',
      c,
      '/read',
      (r) => r.bareCpu,
      (v) => v <= 1.3,
      times,
    );
  }
  check(
    'at most 1 PostgreSQL statement per request',
    'ours-pg',
    '/read',
    (r) => r.store,
    (v) => v <= 1.01,
    (v) => v.toFixed(2),
  );
  for (const w of ['/read', '/write']) {
    check(
      'req/s >= 1.3x express-session + connect-pg-simple',
      'ours-pg',
      w,
      (r) => r.baseRps,
      (v) => v >= 1.3,
      times,
    );
  }
  for (const c of ['ours-redis', 'ours-redis-rolling']) {
    for (const w of ['/write', '/login']) {
      check(
        'req/s >= 1.3x express-session + connect-redis',
        c,
        w,
        (r) => r.baseRps,
        (v) => v >= 1.3,
        times,
      );
    }
  }
  return out;
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
  'req/s',
  'p50 ms',
  'p99 ms',
  'CPU µs/req',
  'store calls/req',
  'req/s vs bare',
  'CPU vs bare',
  'req/s vs e-s',
  'CPU vs e-s',
  'non-2xx',
];

function cells(r) {
  return [
    r.workload,
    r.contender,
    fmt.int(r.rps),
    fmt.ms(r.p50),
    fmt.ms(r.p99),
    fmt.int(r.cpu),
    fmt.calls(r.store),
    fmt.x(r.bareRps),
    fmt.x(r.bareCpu),
    fmt.x(r.baseRps),
    fmt.x(r.baseCpu),
    String(r.bad),
  ];
}

export function textTable(rows, targets, skipped) {
  const table = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((line) => line[i].length)));
  const lines = table.map((line) =>
    line.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  for (const { name, reason } of skipped) lines.push(`${name}: skipped, ${reason}`);
  lines.push('', 'targets (informational):');
  for (const t of targets) {
    lines.push(
      `  ${t.status.padEnd(17)} ${t.contender} ${t.workload} ${t.target}${t.measured ? `: ${t.measured}` : ''}`,
    );
  }
  return lines.join('\n');
}

export function markdownReport({
  rows,
  targets,
  skipped,
  host,
  args,
  command,
  previous,
  CONTENDERS,
}) {
  const notesAt = previous.indexOf(NOTES_MARKER);
  const notes = notesAt === -1 ? '\n' : previous.slice(notesAt + NOTES_MARKER.length);
  const md = [];
  md.push('# Benchmarks', '');
  md.push(
    'Generated by `npm run bench` (bench/run.js): each contender is a small Nest app in its own process on',
    '127.0.0.1, driven by autocannon with ' +
      `50 connections; ${args.rounds} round(s) of ${args.duration} s per measurement after a ${args.warmup} s warm-up,`,
    'contenders alternated within each round; every number is the median over rounds.',
    '',
  );
  md.push('## Machine', '');
  md.push(`- nproc: ${host.nproc}; CPU: ${host.cpu}`);
  md.push(
    `- Node ${host.node}; ${host.os}; Redis ${host.redis}; PostgreSQL ${host.postgres ?? 'not used'}; autocannon ${host.autocannon}`,
  );
  md.push(`- pinning: ${host.pinning}`);
  md.push(`- command: \`${command}\``, '');
  md.push('## Contenders', '');
  for (const [name, c] of Object.entries(CONTENDERS)) {
    const skip = skipped.find((s) => s.name === name);
    md.push(`- \`${name}\`: ${c.label}${skip ? ` — **skipped: ${skip.reason}**` : ''}`);
  }
  md.push(
    '',
    'express-session runs with `resave: false, saveUninitialized: false`; connect-redis 8 and our',
    'RedisBackend each get their own ioredis client; connect-pg-simple 10 and our PostgresBackend each get',
    "their own pg pool from the same connection string (pg's default of 10 connections), in a database of",
    "the benchmark's own; connect-pg-simple's table is created once before the run from its table.sql.",
    'All apps use a 14-day `maxAge` and `logger: false`.',
    '',
  );
  md.push('## Results', '');
  md.push(
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
  );
  for (const r of rows)
    md.push(
      `| ${cells(r)
        .map((c, i) => (i === 1 ? `\`${c}\`` : c))
        .join(' | ')} |`,
    );
  md.push('');
  for (const { name, reason } of skipped) md.push(`\`${name}\`: skipped, ${reason}.`, '');
  md.push('## How to read it', '');
  md.push(
    '- **Workloads**: `/none` does not touch the session and sends no cookie; `/read` reads one key with a',
    '  valid cookie (from one `/login` just before the measurement); `/write` increments a counter in that',
    '  session (all 50 connections share it); `/login` creates a new session on every request (no cookie sent).',
    '- **req/s**: completed requests per second; **p50/p99**: autocannon latency percentiles.',
    "- **CPU µs/req**: the server process's own `process.cpuUsage()` (user + system, read through",
    '  `/__cpu` before and after the measurement) divided by the requests served. Lower is better; it is',
    '  the number that matters when the server is not the only thing on its machine.',
    '- **store calls/req**: for Redis, `INFO commandstats` deltas over the measurement (all `calls` except',
    '  `INFO` itself) divided by requests; for PostgreSQL, the statements the app process sent (every pg',
    "  client's `query` counted in the process) divided by requests. Each is a round trip: latency and store CPU.",
    "- **vs bare**: ratio to the bare app's `/none` of the same round (req/s: higher is better; CPU: lower is better).",
    '- **vs e-s**: ratio to the matching express-session contender on the same workload in the same round',
    '  (`ours-memory` ↔ `es-memory`, `ours-redis` ↔ `es-redis`, `ours-redis-rolling` ↔ `es-redis-rolling`,',
    '  `ours-pg` ↔ `es-pg`).',
    '- Ratios are computed per round and then the median is taken, so slow drift of the machine cancels out.',
    '- The server has one core to itself; autocannon and Redis share the other. PostgreSQL, a server the',
    '  benchmark does not start, is not pinned: its work can land on either core. On a two-core machine',
    '  the load generator can itself become the limit for the fastest contenders, which compresses',
    '  req/s ratios toward 1; the CPU-per-request column is not affected by that.',
    '- `non-2xx` should be 0; anything else means the row measured errors, not sessions.',
    '',
  );
  md.push(
    '## Targets',
    '',
    'From the issue; informational, the benchmark does not fail on them.',
    '',
  );
  md.push('| status | contender | workload | target | measured |', '|---|---|---|---|---:|');
  for (const t of targets)
    md.push(
      `| ${t.status} | \`${t.contender}\` | ${t.workload} | ${t.target} | ${t.measured ?? '-'} |`,
    );
  md.push('', NOTES_MARKER);
  return md.join('\n') + notes;
}
