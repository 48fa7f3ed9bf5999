// `npm run bench [-- options]`: builds the library, sets up each module
// system's contender apps (a Nest 11 app on the CommonJS build, a Nest 12 app
// on the ESM build), starts every contender as its own Nest process on
// 127.0.0.1, drives each with autocannon, and prints (and, in full mode,
// writes BENCHMARKS.md and docs/benchmarks.svg) a table of medians.
//
// Options:
//   --quick              1 round of 0.5 s measurements, no warm-up (a smoke
//                        test, about 2 minutes)
//   --rounds N           rounds (default 3)
//   --duration S         seconds per measurement (default 4)
//   --warmup S           seconds of warm-up before each measurement (default 1)
//   --settle S           before each round (which starts every server
//                        afresh), seconds of load each server gets on each
//                        workload it serves (default 5; 0 with
//                        --quick): V8 compiles a route's code over its first
//                        10,000 to 20,000 requests, at several times the CPU
//                        per request of a settled server (a slow contender
//                        gets fewer requests in those seconds); not used by
//                        --profile, which has its own warm-up
//   --slices N           each measurement is taken in N slices, the contenders
//                        of a workload alternating slice by slice, so that a
//                        burst of load from elsewhere falls on all of them
//                        (default 4; 1 with --quick)
//   --only a,b           contenders to run (bare is always added)
//   --systems a,b        module systems: nest11-cjs, nest12-esm (default both)
//   --workloads a,b      workloads to run, e.g. /write (default all), by the
//                        contenders that serve them; a partial run never
//                        writes BENCHMARKS.md (implies --no-write, and
//                        --from-results refuses its results); not with
//                        --profile, which takes --workload
//   --before DIR         also run our contenders on the library built in DIR
//                        (a checkout with dist/ built, e.g. a git worktree of
//                        an older commit), as `<name>@before`, in the same rounds
//   --no-build           reuse dist/ and .bench/
//   --from-results FILE  measure nothing: write BENCHMARKS.md and the chart
//                        from a .bench/results-*.json an earlier run saved
//   --no-write           don't write BENCHMARKS.md (--quick never writes it)
//   --profile NAME       instead of the table: run contender NAME under
//                        `node --cpu-prof` (on --system, default nest12-esm),
//                        drive --workload (default /read) and print the top
//                        self-time functions
//   --preload FILE       start every server with `node --import FILE`: a
//                        what-if (bench/bind-without-deprecation.mjs), never
//                        written to BENCHMARKS.md (implies --no-write); the
//                        side measurements (bench/async-scope.js, our code
//                        in process) run without it
//
// Nest 11 is installed once into .bench/nest11-cjs/node_modules (npm install,
// from the registry or npm's cache); everything else comes from this
// checkout's node_modules. REDIS_URL points at a Redis to use; without it a
// throwaway redis-server is started on a free loopback port and stopped at the
// end. DATABASE_URL points at a PostgreSQL to use (default
// postgres://postgres@127.0.0.1:5432/test); the PostgreSQL contenders work in a
// database of their own, created there at the start and dropped at the end.
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, URL } from 'node:url';
import { freePort, hasRedisServer, startRedis } from '../test/support/redis-server.js';
import { chartSvg } from './chart.js';
import { evaluateTargets, markdownReport, median, summarize, textTable } from './report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = join(ROOT, '.bench');
const BENCH_DATABASE = 'pselfastapise_bench';
/** Where connect-pg-simple's table goes; bench/apps/main.ts passes the same schemaName. */
const PG_SIMPLE_SCHEMA = 'connect_pg_simple';
const CONNECTIONS = 50;

/**
 * The module systems: where each one's apps are set up, the package type
 * they compile to, and what they install beyond this checkout's node_modules.
 */
const SYSTEMS = {
  'nest11-cjs': {
    label: 'Nest 11, CommonJS build',
    type: 'commonjs',
    module: 'node16',
    dependencies: {
      '@nestjs/common': '^11.1.0',
      '@nestjs/core': '^11.1.0',
      '@nestjs/platform-express': '^11.1.0',
      'reflect-metadata': '^0.2.2',
      rxjs: '^7.8.1',
    },
  },
  'nest12-esm': {
    label: 'Nest 12, ESM build',
    type: 'module',
    module: 'nodenext',
    dependencies: {},
  },
};

const args = parseArgs(process.argv.slice(2));
/** The node flags that load --preload's what-if into every server (none without it). */
const PRELOAD_FLAGS = args.preload ? ['--import', args.preload] : [];
const log = (line) => process.stderr.write(`${line}\n`);

function parseArgs(argv) {
  const out = {
    quick: false,
    build: true,
    write: true,
    rounds: 3,
    duration: 4,
    warmup: 1,
    settle: 5,
    // Recorded in the results: every round starts its servers afresh.
    freshServers: true,
    slices: 4,
    only: undefined,
    systems: Object.keys(SYSTEMS),
    before: undefined,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--quick') out.quick = true;
    else if (arg === '--no-build') out.build = false;
    else if (arg === '--no-write') out.write = false;
    else if (arg === '--rounds') out.rounds = Number(value());
    else if (arg === '--duration') out.duration = Number(value());
    else if (arg === '--warmup') out.warmup = Number(value());
    else if (arg === '--settle') out.settle = Number(value());
    else if (arg === '--slices') out.slices = Number(value());
    else if (arg === '--only') out.only = value().split(',');
    else if (arg === '--systems') out.systems = value().split(',');
    else if (arg === '--workloads') out.workloads = value().split(',');
    else if (arg === '--system') out.system = value();
    else if (arg === '--before') out.before = resolve(value());
    else if (arg === '--from-results') out.fromResults = resolve(value());
    else if (arg === '--profile') out.profile = value();
    else if (arg === '--workload') out.workload = value();
    else if (arg === '--preload') out.preload = resolve(value());
    else throw new Error(`unknown option ${arg}`);
  }
  if (out.quick) {
    // A smoke test: one short round, no warm-up or settling, unless asked for.
    const quick = { rounds: 1, duration: 0.5, warmup: 0, settle: 0, slices: 1 };
    for (const [key, value] of Object.entries(quick)) {
      if (!argv.includes(`--${key}`)) out[key] = value;
    }
    out.write = false;
  }
  for (const key of ['rounds', 'duration']) {
    if (!(out[key] > 0) || out[key] > 60) throw new Error(`--${key} must be in (0, 60]`);
  }
  for (const key of ['warmup', 'settle']) {
    if (!(out[key] >= 0) || out[key] > 60) throw new Error(`--${key} must be in [0, 60]`);
  }
  if (!Number.isInteger(out.slices) || out.slices < 1 || out.slices > 20)
    throw new Error('--slices must be an integer in [1, 20]');
  const unknown = [...out.systems, out.system ?? 'nest12-esm'].filter((s) => !(s in SYSTEMS));
  if (unknown.length)
    throw new Error(`unknown system ${unknown[0]}: one of ${Object.keys(SYSTEMS).join(', ')}`);
  if (out.workloads) {
    const odd = out.workloads.find((w) => !w.startsWith('/'));
    if (odd !== undefined) throw new Error(`--workloads: ${odd} is not a path (e.g. /write)`);
    if (out.profile) throw new Error('--workloads does not apply to --profile: use --workload');
    out.write = false; // BENCHMARKS.md reports every workload
  }
  if (out.preload) {
    if (!existsSync(out.preload)) throw new Error(`--preload ${out.preload}: no such file`);
    out.write = false; // a what-if never stands for the product's figures
  }
  if (out.before && !existsSync(join(out.before, 'dist', 'cjs', 'index.js')))
    throw new Error(`--before ${out.before}: no dist/ there (run npm run build in it first)`);
  return out;
}

function run(command, commandArgs, cwd = ROOT) {
  const result = spawnSync(command, commandArgs, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error(`${command} ${commandArgs.join(' ')} failed`);
}

/** The directory of one system's apps on one library build (`current`, or `before`). */
function appDir(system, lib) {
  return join(BENCH, system, lib);
}

/**
 * Sets up a system: its package.json (and, once, its own dependencies), and
 * for each library build a copy of the package in node_modules, as npm would
 * install it, next to the apps compiled from bench/apps for that system.
 */
function setUp(system, libs) {
  const spec = SYSTEMS[system];
  const dir = join(BENCH, system);
  mkdirSync(dir, { recursive: true });
  const pkg = JSON.stringify(
    { name: `bench-${system}`, private: true, type: spec.type, dependencies: spec.dependencies },
    null,
    2,
  );
  const pkgFile = join(dir, 'package.json');
  const installed = existsSync(pkgFile) && readFileSync(pkgFile, 'utf8') === pkg;
  writeFileSync(pkgFile, pkg);
  if (
    Object.keys(spec.dependencies).length &&
    !(installed && existsSync(join(dir, 'node_modules')))
  ) {
    log(`${system}: npm install ${Object.keys(spec.dependencies).join(' ')}`);
    run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock'],
      dir,
    );
  }
  for (const [lib, source] of Object.entries(libs)) {
    const out = appDir(system, lib);
    rmSync(out, { recursive: true, force: true });
    const pkgDir = join(out, 'node_modules', 'pselfastapise-async');
    mkdirSync(pkgDir, { recursive: true });
    cpSync(join(source, 'package.json'), join(pkgDir, 'package.json'));
    cpSync(join(source, 'dist'), join(pkgDir, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'bench', 'apps'), join(out, 'src'), { recursive: true });
    writeFileSync(
      join(out, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: spec.module,
          moduleResolution: spec.module,
          lib: ['ES2022'],
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
          strict: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          useDefineForClassFields: false,
          esModuleInterop: true,
          skipLibCheck: true,
          rootDir: 'src',
          outDir: 'apps',
        },
        include: ['src'],
      }),
    );
    run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', out]);
  }
}

function build() {
  log('building the library (npm run build)');
  run('npm', ['run', 'build']);
}

/** The library builds to run: this checkout, and --before's. */
function libraries() {
  return args.before ? { current: ROOT, before: args.before } : { current: ROOT };
}

/** Server on core 1, everything else (this driver, autocannon, Redis) on core 0, when there are two cores. */
function pinning() {
  const cores = os.availableParallelism();
  const taskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  if (cores < 2 || !taskset)
    return {
      pinned: false,
      note: cores < 2 ? 'one core: nothing pinned' : 'taskset missing: nothing pinned',
    };
  const self = spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], {
    stdio: 'ignore',
  });
  if (self.status !== 0) return { pinned: false, note: 'taskset failed: nothing pinned' };
  return {
    pinned: true,
    note: 'server on core 1 (taskset -c 1); driver, autocannon and Redis on core 0',
  };
}

function startServer(name, port, urls, pinned, app, extraNodeArgs = []) {
  const nodeArgs = [...extraNodeArgs, join(app.dir, 'apps', 'main.js')];
  const [command, commandArgs] = pinned
    ? ['taskset', ['-c', '1', process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(command, commandArgs, {
    cwd: app.dir,
    env: {
      ...process.env,
      BENCH_CONTENDER: name,
      PORT: String(port),
      REDIS_URL: urls.redis ?? '',
      DATABASE_URL: urls.database ?? '',
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const id = app.lib === 'current' ? name : `${name}@${app.lib}`;
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${id} did not print READY within 30 s`)),
      30_000,
    );
    const fail = (error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (output.includes('READY')) {
        clearTimeout(timer);
        resolve({
          name,
          id,
          lib: app.lib,
          port,
          child,
          async stop() {
            if (child.exitCode !== null) return;
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            const forced = setTimeout(() => child.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(forced);
          },
        });
      }
    });
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('exit', (code) =>
      fail(new Error(`${id} exited (${code}) before READY: ${output.trim()}`)),
    );
  });
}

function get(port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, headers, agent: false, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** The server's CPU time, its store round trips and the requests it has received. */
async function serverCounters(port) {
  const { body } = await get(port, '/__cpu');
  const { cpu, roundTrips, received } = JSON.parse(body);
  return { cpu, roundTrips, received };
}

/** A valid session cookie from one GET /login. */
async function login(port) {
  const res = await get(port, '/login');
  const cookie = [res.headers['set-cookie'] ?? []].flat()[0];
  if (res.status !== 200 || !cookie)
    throw new Error(`/login on port ${port} gave no cookie (${res.status})`);
  return cookie.split(';')[0];
}

function cannon(port, path, headers, duration) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}${path}`,
        connections: CONNECTIONS,
        duration,
        headers,
        timeout: 10,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A cookie header shaped like a session cookie, for apps without sessions
 * measured on `/read` and `/write`: they get requests of the same size.
 */
const NO_SESSION_COOKIE = `session=${'a'.repeat(43)}.${'b'.repeat(43)}`;

/** Ready to measure: the cookie `/read` and `/write` send, then the warm-up. */
async function prepare(server, workload, { warmup }) {
  const cookie =
    workload !== '/read' && workload !== '/write'
      ? undefined
      : server.kind === 'bare'
        ? NO_SESSION_COOKIE
        : await login(server.port);
  const headers = cookie ? { cookie } : {};
  if (warmup > 0) await cannon(server.port, workload, headers, warmup);
  return headers;
}

/** One slice of a measurement: the server's counters around `duration` seconds of load. */
async function slice(server, workload, headers, duration) {
  const pause = args.quick ? 50 : 100;
  await sleep(pause); // let the previous load's last requests finish before the counters are read
  const before = await serverCounters(server.port);
  const result = await cannon(server.port, workload, headers, duration);
  // Round trips are divided by the requests the server received, so requests
  // still in flight when autocannon stops count on both sides.
  await sleep(pause);
  const after = await serverCounters(server.port);
  return {
    requests: result.requests.total,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    received: after.received - before.received - 1, // the last /__cpu left out
    cpu: after.cpu - before.cpu,
    roundTrips: after.roundTrips - before.roundTrips,
    bad: result.non2xx + result.errors + result.timeouts,
  };
}

/**
 * Measures `servers` on `workload`: each is prepared, then measured in
 * `slices` slices of `duration / slices` seconds, the servers alternating
 * slice by slice (each slice in a rotated order). CPU and requests add up
 * over a server's slices; latencies are the median of its slices.
 */
async function measureTogether(servers, workload, { warmup, duration, slices }) {
  const headers = [];
  for (const server of servers) headers.push(await prepare(server, workload, { warmup }));
  const parts = servers.map(() => []);
  for (let k = 0; k < slices; k += 1) {
    for (let j = 0; j < servers.length; j += 1) {
      const i = (j + k) % servers.length;
      parts[i].push(await slice(servers[i], workload, headers[i], duration / slices));
    }
  }
  return servers.map((server, i) => {
    const sum = (field) => parts[i].reduce((total, part) => total + part[field], 0);
    const received = sum('received');
    return {
      contender: server.id,
      workload,
      requests: sum('requests'),
      rps: sum('requests') / sum('seconds'),
      p50: median(parts[i].map((part) => part.p50)),
      p99: median(parts[i].map((part) => part.p99)),
      cpuPerRequest: received > 0 ? sum('cpu') / received : NaN,
      storePerRequest: server.store === 'none' ? null : sum('roundTrips') / received,
      bad: sum('bad'),
    };
  });
}

/**
 * CPU µs per call of Nest 11's and Nest 12's way of binding an interceptor's
 * next step to its async context (bench/async-scope.js), on the server's core.
 */
function asyncScopeCost(pin) {
  const script = join(ROOT, 'bench', 'async-scope.js');
  const [command, commandArgs] = pin.pinned
    ? ['taskset', ['-c', '1', process.execPath, script]]
    : [process.execPath, [script]];
  const run = spawnSync(command, commandArgs, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`bench/async-scope.js failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/**
 * CPU µs per request of our code alone on `system` (bench/apps/in-process.ts:
 * the interceptor and the handler bodies, no HTTP, memory backend), on the
 * server's core.
 */
function ourCodeAlone(system, pin) {
  const dir = appDir(system, 'current');
  const script = join(dir, 'apps', 'in-process.js');
  const [command, commandArgs] = pin.pinned
    ? ['taskset', ['-c', '1', process.execPath, script]]
    : [process.execPath, [script]];
  const run = spawnSync(command, commandArgs, { cwd: dir, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`apps/in-process.js failed on ${system}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

function machine(redisVersion, postgresVersion, pin) {
  const cpus = os.cpus();
  return {
    asyncScope: asyncScopeCost(pin),
    nproc: os.cpus().length,
    cpu: cpus[0]?.model ?? 'unknown',
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    redis: redisVersion,
    postgres: postgresVersion,
    autocannon: JSON.parse(
      readFileSync(join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8'),
    ).version,
    pinning: pin.note,
  };
}

async function withRedis(fn) {
  if (process.env.REDIS_URL) return fn(process.env.REDIS_URL);
  if (!hasRedisServer())
    throw new Error('redis-server is not installed: install it or set REDIS_URL');
  const server = await startRedis(await freePort());
  log(`started a throwaway redis-server on ${server.url}`);
  try {
    return await fn(server.url);
  } finally {
    await server.stop();
  }
}

/**
 * A fresh database of the benchmark's own on the PostgreSQL at DATABASE_URL
 * (or the local one), with connect-pg-simple's table created once (in
 * schema connect_pg_simple); `fn` gets its URL and the server version.
 * Dropped at the end.
 */
async function withPostgres(fn) {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const admin = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL does not answer at ${url} (${error.message}): start it ` +
        '(pg_ctlcluster --skip-systemctl-redirect <version> main start) or set DATABASE_URL',
      { cause: error },
    );
  }
  const bench = new URL(url);
  bench.pathname = `/${BENCH_DATABASE}`;
  try {
    const version = (await admin.query('SHOW server_version')).rows[0].server_version;
    await admin.query(`DROP DATABASE IF EXISTS ${BENCH_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${BENCH_DATABASE}`);
    const db = new pg.Client({ connectionString: bench.toString() });
    await db.connect();
    try {
      // In a schema of its own: its default table name, session, is ours too.
      await db.query(`CREATE SCHEMA ${PG_SIMPLE_SCHEMA}; SET search_path TO ${PG_SIMPLE_SCHEMA}`);
      await db.query(
        readFileSync(join(ROOT, 'node_modules', 'connect-pg-simple', 'table.sql'), 'utf8'),
      );
    } finally {
      await db.end();
    }
    log(`PostgreSQL ${version}: database ${BENCH_DATABASE} created`);
    return await fn(bench.toString(), version);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${BENCH_DATABASE} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

/** The contenders to run: --only's (and bare), those that serve one of `WORKLOADS`. */
function contenderList(all, WORKLOADS) {
  const names = Object.keys(all).filter(
    (name) =>
      (!args.only || name === 'bare' || args.only.includes(name)) &&
      workloadsOf(all[name], WORKLOADS).some((w) => WORKLOADS.includes(w)),
  );
  const unknown = (args.only ?? []).filter((name) => !(name in all));
  if (unknown.length) throw new Error(`unknown contenders: ${unknown.join(', ')}`);
  return names;
}

function workloadsOf(contender, WORKLOADS) {
  return contender.workloads ?? WORKLOADS;
}

/**
 * Every contender of one system, alternated within each round; samples carry
 * the system. Each round starts every server afresh and settles it: two
 * processes of one build can differ by a tenth in CPU per request for as long
 * as they run (how V8 happened to compile them), so a contender's rounds are
 * one process per round, not one process measured round after round.
 */
async function benchmark(system, CONTENDERS, WORKLOADS, pin, urls) {
  const names = contenderList(CONTENDERS, WORKLOADS);
  const apps = Object.keys(libraries()).map((lib) => ({ lib, dir: appDir(system, lib) }));
  const jobs = apps.flatMap((app) =>
    names
      .filter((name) => app.lib === 'current' || CONTENDERS[name].kind === 'ours')
      .map((name) => ({ app, name })),
  );
  const samples = [];
  for (let round = 1; round <= args.rounds; round += 1) {
    const servers = [];
    const stopAll = () => Promise.all(servers.map((s) => s.stop()));
    const onSignal = () => void stopAll().finally(() => process.exit(130));
    process.once('SIGINT', onSignal);
    try {
      // Started together: their startup is not measured.
      const ports = new Set();
      while (ports.size < jobs.length) ports.add(await freePort());
      const free = [...ports];
      const starting = jobs.map(async ({ app, name }, i) => {
        const server = await startServer(name, free[i], urls, pin.pinned, app, PRELOAD_FLAGS);
        servers.push({ ...server, store: CONTENDERS[name].store, kind: CONTENDERS[name].kind });
        return server;
      });
      const started = await Promise.allSettled(starting);
      const failed = started.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
      // In table order, whatever order they became ready in.
      const order = (s) => names.indexOf(s.name) + (s.lib === 'current' ? 0 : names.length);
      servers.sort((a, b) => order(a) - order(b));
      log(`${system} round ${round}: ${servers.map((s) => s.id).join(', ')} ready`);
      const plan = WORKLOADS.map((w) => [
        w,
        servers.filter((s) => workloadsOf(CONTENDERS[s.name], WORKLOADS).includes(w)),
      ]);
      if (round === 1) {
        const measurements = plan.reduce((n, [, list]) => n + list.length, 0);
        const perMeasurement = args.warmup + args.duration + 0.5 * args.slices;
        const estimate = Math.ceil(
          (measurements * args.rounds * (args.settle + perMeasurement)) / 60,
        );
        log(
          `${system}: ${args.rounds} round(s) x ${measurements} measurements in ${args.slices} slice(s), fresh servers each round, ~${estimate} min`,
        );
      }
      if (args.settle > 0) {
        log(
          `${system} round ${round}: settling each server on each of its workloads for ${args.settle} s`,
        );
        for (const [workload, list] of plan) {
          for (const server of list) await prepare(server, workload, { warmup: args.settle });
        }
      }
      for (const [workload, list] of plan) {
        const measured = await measureTogether(list, workload, args);
        list.forEach((server, i) => {
          const sample = measured[i];
          samples.push({ system, round, ...sample });
          log(
            `${system} round ${round} ${workload.padEnd(6)} ${server.id.padEnd(26)} ${sample.rps.toFixed(0).padStart(6)} req/s` +
              ` p99 ${sample.p99} ms  cpu ${sample.cpuPerRequest.toFixed(0)} us/req` +
              (sample.storePerRequest === null
                ? ''
                : `  ${server.store} ${sample.storePerRequest.toFixed(2)}/req`) +
              (sample.bad ? `  ${sample.bad} non-2xx/errors` : ''),
          );
        });
      }
    } finally {
      await stopAll();
      process.off('SIGINT', onSignal);
    }
  }
  return samples;
}

/** Runs `fn(urls, versions)` with the Redis and PostgreSQL the contenders need. */
async function withStores(needs, fn) {
  const withDatabase = (redisUrl, redisVersion) =>
    needs.postgres
      ? withPostgres((database, version) =>
          fn({ redis: redisUrl, database }, { redis: redisVersion, postgres: version }),
        )
      : fn({ redis: redisUrl }, { redis: redisVersion, postgres: 'not used' });
  if (!needs.redis) return withDatabase(undefined, 'not used');
  return withRedis(async (url) => {
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1];
      return await withDatabase(url, version);
    } finally {
      redis.disconnect();
    }
  });
}

/** Top self-time functions of a .cpuprofile. */
function profileSummary(file, top = 15) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    const where = url
      ? `${url.replace(/^file:\/\//, '').replace(ROOT + '/', '')}:${lineNumber + 1}`
      : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  // Samples with our code on the stack, except those under Node's HTTP
  // writing (the response our hook lets through is written either way).
  const parent = new Map();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const writing = (url) => url === 'node:_http_outgoing' || url === 'node:_http_server';
  let underOurs = 0;
  profile.samples.forEach((id, i) => {
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const { url } = byId.get(at).callFrame;
      if (writing(url)) return;
      if (url.includes('pselfastapise-async/dist/')) {
        underOurs += profile.timeDeltas[i] ?? 0;
        return;
      }
    }
  });
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]);
  // Self time per package (node_modules/<name>, our dist, Node itself).
  const byPackage = new Map();
  for (const [key, v] of self) {
    const where = key.split(' ').pop();
    const pkg =
      /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where)?.[1] ??
      (where.startsWith('node:') ? 'node' : where.includes(':') ? 'other' : key);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + v);
  }
  const packages = [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  const pct = (v) => `${((100 * v) / total).toFixed(1).padStart(5)}%`;
  const ours = rows.filter(([key]) => key.includes('pselfastapise-async/dist/'));
  const oursTotal = ours.reduce((sum, [, v]) => sum + v, 0);
  return [
    `top ${top} self-time functions (of ${(total / 1000).toFixed(0)} ms sampled):`,
    ...rows.slice(0, top).map(([key, v]) => `  ${pct(v)}  ${key}`),
    'self time per package:',
    ...packages.map(([key, v]) => `  ${pct(v)}  ${key}`),
    `our code: ${pct(underOurs)} of the samples with it on the stack (Node's HTTP writes excluded), ${pct(oursTotal)} self time; its top functions:`,
    ...ours.slice(0, 15).map(([key, v]) => `  ${pct(v)}  ${key}`),
  ].join('\n');
}

async function profile(CONTENDERS, WORKLOADS, pin) {
  const name = args.profile;
  const workload = args.workload ?? '/read';
  const system = args.system ?? 'nest12-esm';
  if (!(name in CONTENDERS)) throw new Error(`unknown contender ${name}`);
  const served = workloadsOf(CONTENDERS[name], WORKLOADS);
  if (!served.includes(workload))
    throw new Error(`--workload must be one of ${name}'s: ${served.join(', ')}`);
  const dir = join(BENCH, 'profiles');
  mkdirSync(dir, { recursive: true });
  const { store, kind } = CONTENDERS[name];
  await withStores({ redis: store === 'redis', postgres: store === 'postgres' }, async (urls) => {
    const before = new Set(readdirSync(dir));
    const app = { lib: 'current', dir: appDir(system, 'current') };
    const server = await startServer(name, await freePort(), urls, pin.pinned, app, [
      ...PRELOAD_FLAGS,
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
    ]);
    try {
      const [sample] = await measureTogether([{ ...server, store, kind }], workload, args);
      log(
        `${name} ${workload} (${system}): ${sample.rps.toFixed(0)} req/s, ${sample.cpuPerRequest.toFixed(0)} us CPU per request`,
      );
    } finally {
      await server.stop();
    }
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile was written');
    console.log(`${name} ${workload} (${join('.bench', 'profiles', file)})`);
    console.log(profileSummary(join(dir, file)));
  });
}

/** BENCHMARKS.md and docs/benchmarks.svg from one run's rows. */
function writeReport({ rows, host, args: runArgs, command, CONTENDERS }) {
  const targets = evaluateTargets(rows);
  const file = join(ROOT, 'BENCHMARKS.md');
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : '';
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  writeFileSync(join(ROOT, 'docs', 'benchmarks.svg'), chartSvg(rows, SYSTEMS, CONTENDERS));
  writeFileSync(
    file,
    markdownReport({ rows, targets, host, args: runArgs, command, previous, CONTENDERS, SYSTEMS }),
  );
  log('wrote BENCHMARKS.md and docs/benchmarks.svg');
}

async function main() {
  if (args.fromResults) {
    const saved = JSON.parse(readFileSync(args.fromResults, 'utf8'));
    if (saved.args?.preload) throw new Error(`${args.fromResults} is a what-if run (--preload)`);
    // BENCHMARKS.md reports full runs only.
    if (saved.args?.workloads)
      throw new Error(`${args.fromResults} is a partial run (--workloads)`);
    if (saved.args?.quick) throw new Error(`${args.fromResults} is a smoke test (--quick)`);
    const { CONTENDERS } = await import(
      join(appDir('nest12-esm', 'current'), 'apps', 'contenders.js')
    );
    // The rows are made again from the samples: the report's current rules apply.
    const systems = [...new Set(saved.samples.map((sample) => sample.system))];
    const rows = summarize(saved.samples, CONTENDERS, systems);
    return writeReport({ command: 'npm run bench', ...saved, rows, CONTENDERS });
  }
  const systems = args.profile ? [args.system ?? 'nest12-esm'] : args.systems;
  if (args.build) {
    build();
    for (const system of systems) setUp(system, libraries());
  }
  const apps = join(
    appDir(systems.includes('nest12-esm') ? 'nest12-esm' : systems[0], 'current'),
    'apps',
  );
  const { CONTENDERS, WORKLOADS: ALL_WORKLOADS } = await import(join(apps, 'contenders.js'));
  const unknownWorkload = (args.workloads ?? []).find((w) => !ALL_WORKLOADS.includes(w));
  if (unknownWorkload)
    throw new Error(`unknown workload ${unknownWorkload}: one of ${ALL_WORKLOADS.join(', ')}`);
  const WORKLOADS = args.workloads
    ? ALL_WORKLOADS.filter((w) => args.workloads.includes(w))
    : ALL_WORKLOADS;
  const pin = pinning();
  log(`pinning: ${pin.note}`);
  if (args.profile) return profile(CONTENDERS, WORKLOADS, pin);
  const names = contenderList(CONTENDERS, WORKLOADS);
  const needs = {
    redis: names.some((n) => CONTENDERS[n].store === 'redis'),
    postgres: names.some((n) => CONTENDERS[n].store === 'postgres'),
  };
  const started = Date.now();
  const inProcess = {};
  const { samples, versions } = await withStores(needs, async (urls, versions) => {
    const all = [];
    for (const system of systems) {
      all.push(...(await benchmark(system, CONTENDERS, WORKLOADS, pin, urls)));
      inProcess[system] = ourCodeAlone(system, pin);
      log(`${system}: our code alone, in process: ${JSON.stringify(inProcess[system])} µs/req`);
    }
    return { samples: all, versions };
  });
  log(`measured in ${((Date.now() - started) / 60000).toFixed(1)} min`);
  const host = { ...machine(versions.redis, versions.postgres, pin), inProcess };
  const rows = summarize(samples, CONTENDERS, systems);
  const targets = evaluateTargets(rows, systems);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  console.log(textTable(rows, targets, SYSTEMS));
  mkdirSync(BENCH, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(
    join(BENCH, `results-${stamp}.json`),
    JSON.stringify({ args, host, command, samples, rows }, null, 2),
  );
  if (args.write) writeReport({ rows, host, args, command, CONTENDERS });
}

main().catch((error) => {
  log(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
