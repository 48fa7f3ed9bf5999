// `npm run bench [-- options]`: builds the library and the contender apps,
// starts every contender as its own Nest process on 127.0.0.1, drives each
// with autocannon, and prints (and, in full mode, writes BENCHMARKS.md) a
// table of medians over several rounds.
//
// Options:
//   --quick              1 round, 1 s per measurement (a smoke test)
//   --rounds N           rounds (default 3)
//   --duration S         seconds per measurement (default 4)
//   --warmup S           seconds of warm-up before each measurement (default 1)
//   --only a,b           contenders to run (bare is always added)
//   --no-build           reuse dist/ and .bench/build/
//   --no-write           don't write BENCHMARKS.md (--quick never writes it)
//   --profile NAME       instead of the table: run contender NAME under
//                        `node --cpu-prof`, drive --workload (default /read)
//                        and print the top self-time functions
//
// REDIS_URL points at a Redis to use; without it a throwaway redis-server is
// started on a free loopback port and stopped at the end. DATABASE_URL points
// at a PostgreSQL to use (default postgres://postgres@127.0.0.1:5432/test); the
// PostgreSQL contenders work in a database of their own, created there at the
// start and dropped at the end.
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, URL } from 'node:url';
import { freePort, hasRedisServer, startRedis } from '../test/support/redis-server.js';
import { evaluateTargets, markdownReport, summarize, textTable } from './report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = join(ROOT, '.bench', 'build');
const APP = join(BUILD, 'apps', 'main.js');
const REDIS_BACKEND_JS = join(ROOT, 'dist', 'esm', 'backends', 'redis.backend.js');
const POSTGRES_BACKEND_JS = join(ROOT, 'dist', 'esm', 'backends', 'postgres.backend.js');
const BENCH_DATABASE = 'pselfastapise_bench';
/** Where connect-pg-simple's table goes; bench/apps/main.ts passes the same schemaName. */
const PG_SIMPLE_SCHEMA = 'connect_pg_simple';
const WORKLOADS = ['/none', '/read', '/write', '/login'];
const CONNECTIONS = 50;

const args = parseArgs(process.argv.slice(2));
const log = (line) => process.stderr.write(`${line}\n`);

function parseArgs(argv) {
  const out = {
    quick: false,
    build: true,
    write: true,
    rounds: 3,
    duration: 4,
    warmup: 1,
    only: undefined,
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
    else if (arg === '--only') out.only = value().split(',');
    else if (arg === '--profile') out.profile = value();
    else if (arg === '--workload') out.workload = value();
    else throw new Error(`unknown option ${arg}`);
  }
  if (out.quick) {
    out.rounds = argv.includes('--rounds') ? out.rounds : 1;
    out.duration = argv.includes('--duration') ? out.duration : 1;
    out.warmup = argv.includes('--warmup') ? out.warmup : 0.5;
    out.write = false;
  }
  for (const key of ['rounds', 'duration', 'warmup']) {
    if (!(out[key] > 0) || out[key] > 60) throw new Error(`--${key} must be in (0, 60]`);
  }
  return out;
}

function run(command, commandArgs) {
  const result = spawnSync(command, commandArgs, {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (result.status !== 0) throw new Error(`${command} ${commandArgs.join(' ')} failed`);
}

function build() {
  log('building the library (npm run build) and the contender apps (bench/tsconfig.json)');
  run('npm', ['run', 'build']);
  rmSync(BUILD, { recursive: true, force: true });
  run(process.execPath, [
    join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    join(ROOT, 'bench', 'tsconfig.json'),
  ]);
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

function startServer(name, port, urls, pinned, extraNodeArgs = []) {
  const nodeArgs = [...extraNodeArgs, APP];
  const [command, commandArgs] = pinned
    ? ['taskset', ['-c', '1', process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(command, commandArgs, {
    cwd: ROOT,
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
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${name} did not print READY within 30 s`)),
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
      fail(new Error(`${name} exited (${code}) before READY: ${output.trim()}`)),
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

/** The server's CPU time, and the PostgreSQL statements it has sent when it counts them. */
async function serverCounters(port) {
  const { body } = await get(port, '/__cpu');
  const { cpu, statements, received } = JSON.parse(body);
  return { cpu, statements, received };
}

/** A valid session cookie from one GET /login. */
async function login(port) {
  const res = await get(port, '/login');
  const cookie = [res.headers['set-cookie'] ?? []].flat()[0];
  if (res.status !== 200 || !cookie)
    throw new Error(`/login on port ${port} gave no cookie (${res.status})`);
  return cookie.split(';')[0];
}

/** Commands Redis has executed, all of them except our own INFO calls. */
async function redisCalls(redis) {
  if (!redis) return 0;
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match && match[1] !== 'info') calls += Number(match[2]);
  }
  return calls;
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

async function measure(server, workload, redis, { warmup, duration }) {
  const headers =
    workload === '/read' || workload === '/write' ? { cookie: await login(server.port) } : {};
  await cannon(server.port, workload, headers, warmup);
  await sleep(200); // let the warm-up's last requests finish before the counters are read
  const before = await serverCounters(server.port);
  const calls0 = await redisCalls(redis);
  const result = await cannon(server.port, workload, headers, duration);
  // PostgreSQL statements are divided by the requests the server received,
  // so requests still in flight when autocannon stops count on both sides.
  if (before.statements !== null) await sleep(300);
  const after = await serverCounters(server.port);
  const calls1 = await redisCalls(redis);
  const requests = result.requests.total;
  // Redis commands from the Redis server, per request autocannon completed;
  // PostgreSQL statements from the app process itself (it counts what its pg
  // clients send), per request it received (the last /__cpu left out).
  const storePerRequest =
    after.statements !== null
      ? (after.statements - before.statements) / (after.received - before.received - 1)
      : redis && requests
        ? (calls1 - calls0) / requests
        : null;
  return {
    contender: server.name,
    workload,
    requests,
    rps: requests / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    // The two /__cpu requests themselves are a rounding error next to `requests`.
    cpuPerRequest: requests ? (after.cpu - before.cpu) / requests : NaN,
    storePerRequest,
    bad: result.non2xx + result.errors + result.timeouts,
  };
}

function machine(redisVersion, postgresVersion, pin) {
  const cpus = os.cpus();
  return {
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

function contenderList(all) {
  const names = Object.keys(all).filter(
    (name) => !args.only || name === 'bare' || args.only.includes(name),
  );
  const unknown = (args.only ?? []).filter((name) => !(name in all));
  if (unknown.length) throw new Error(`unknown contenders: ${unknown.join(', ')}`);
  const skipped = [];
  const redisBackend = existsSync(REDIS_BACKEND_JS);
  const postgresBackend = existsSync(POSTGRES_BACKEND_JS);
  const runnable = names.filter((name) => {
    if (all[name].kind === 'ours' && all[name].store === 'redis' && !redisBackend) {
      skipped.push({
        name,
        reason: 'RedisBackend not built (dist/esm/backends/redis.backend.js is missing)',
      });
      return false;
    }
    if (all[name].kind === 'ours' && all[name].store === 'postgres' && !postgresBackend) {
      skipped.push({
        name,
        reason: 'PostgresBackend not built (dist/esm/backends/postgres.backend.js is missing)',
      });
      return false;
    }
    return true;
  });
  return { runnable, skipped };
}

async function benchmark(CONTENDERS, pin) {
  const { runnable, skipped } = contenderList(CONTENDERS);
  for (const { name, reason } of skipped) log(`${name}: skipped, ${reason}`);
  const usesRedis = runnable.some((name) => CONTENDERS[name].store === 'redis');
  const usesPostgres = runnable.some((name) => CONTENDERS[name].store === 'postgres');
  const body = async (redisUrl, databaseUrl, postgresVersion = 'not used') => {
    const redis = redisUrl ? new Redis(redisUrl, { maxRetriesPerRequest: 1 }) : undefined;
    const servers = [];
    const stopAll = async () => {
      await Promise.all(servers.map((s) => s.stop()));
      redis?.disconnect();
    };
    const onSignal = () => void stopAll().finally(() => process.exit(130));
    process.once('SIGINT', onSignal);
    try {
      const redisVersion = redis
        ? /redis_version:(\S+)/.exec(await redis.info('server'))?.[1]
        : 'not used';
      for (const name of runnable) {
        const urls = { redis: redisUrl, database: databaseUrl };
        const server = await startServer(name, await freePort(), urls, pin.pinned);
        servers.push({ ...server, store: CONTENDERS[name].store });
        log(`${name}: ready on port ${server.port}`);
      }
      const samples = [];
      const plan = WORKLOADS.flatMap((w) =>
        servers.filter((s) => w === '/none' || !s.name.startsWith('bare')).map(() => w),
      );
      const estimate = Math.ceil(
        (args.rounds * plan.length * (args.warmup + args.duration + 0.4)) / 60,
      );
      log(`${args.rounds} round(s) x ${plan.length} measurements, ~${estimate} min`);
      for (let round = 1; round <= args.rounds; round += 1) {
        for (const workload of WORKLOADS) {
          for (const server of servers) {
            if (workload !== '/none' && server.name.startsWith('bare')) continue;
            const sample = await measure(server, workload, redis, args);
            samples.push({ round, ...sample });
            log(
              `round ${round} ${workload.padEnd(6)} ${server.name.padEnd(18)} ${sample.rps.toFixed(0).padStart(6)} req/s` +
                ` p99 ${sample.p99} ms  cpu ${sample.cpuPerRequest.toFixed(0)} us/req` +
                (sample.storePerRequest === null
                  ? ''
                  : `  ${server.store} ${sample.storePerRequest.toFixed(2)}/req`) +
                (sample.bad ? `  ${sample.bad} non-2xx/errors` : ''),
            );
          }
        }
      }
      return { samples, skipped, machine: machine(redisVersion, postgresVersion, pin) };
    } finally {
      process.off('SIGINT', onSignal);
      await stopAll();
    }
  };
  const withDatabase = (redisUrl) =>
    usesPostgres
      ? withPostgres((databaseUrl, version) => body(redisUrl, databaseUrl, version))
      : body(redisUrl, undefined);
  return usesRedis ? withRedis(withDatabase) : withDatabase(undefined);
}

/** Top self-time functions of a .cpuprofile. */
function profileSummary(file, top = 25) {
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
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]);
  const pct = (v) => `${((100 * v) / total).toFixed(1).padStart(5)}%`;
  const ours = rows.filter(([key]) => key.includes('dist/esm/'));
  const oursTotal = ours.reduce((sum, [, v]) => sum + v, 0);
  return [
    `top ${top} self-time functions (of ${(total / 1000).toFixed(0)} ms sampled):`,
    ...rows.slice(0, top).map(([key, v]) => `  ${pct(v)}  ${key}`),
    `our code (dist/esm) in total: ${pct(oursTotal)} self time; its top functions:`,
    ...ours.slice(0, 15).map(([key, v]) => `  ${pct(v)}  ${key}`),
  ].join('\n');
}

async function profile(CONTENDERS, pin) {
  const name = args.profile;
  const workload = args.workload ?? '/read';
  if (!(name in CONTENDERS)) throw new Error(`unknown contender ${name}`);
  if (!WORKLOADS.includes(workload))
    throw new Error(`--workload must be one of ${WORKLOADS.join(', ')}`);
  const dir = join(ROOT, '.bench', 'profiles');
  mkdirSync(dir, { recursive: true });
  const body = async (urls) => {
    const before = new Set(readdirSync(dir));
    const server = await startServer(name, await freePort(), urls, pin.pinned, [
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
    ]);
    try {
      const sample = await measure(server, workload, undefined, args);
      log(
        `${name} ${workload}: ${sample.rps.toFixed(0)} req/s, ${sample.cpuPerRequest.toFixed(0)} us CPU per request`,
      );
    } finally {
      await server.stop();
    }
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile was written');
    console.log(`${name} ${workload} (${join('.bench', 'profiles', file)})`);
    console.log(profileSummary(join(dir, file)));
  };
  const { store } = CONTENDERS[name];
  if (store === 'redis') return withRedis((redis) => body({ redis }));
  if (store === 'postgres') return withPostgres((database) => body({ database }));
  return body({});
}

async function main() {
  if (args.build) build();
  const { CONTENDERS } = await import(join(BUILD, 'apps', 'contenders.js'));
  const pin = pinning();
  log(`pinning: ${pin.note}`);
  if (args.profile) return profile(CONTENDERS, pin);
  const { samples, skipped, machine: host } = await benchmark(CONTENDERS, pin);
  const rows = summarize(samples, CONTENDERS);
  const targets = evaluateTargets(rows, skipped);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  console.log(textTable(rows, targets, skipped));
  mkdirSync(join(ROOT, '.bench'), { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(
    join(ROOT, '.bench', `results-${stamp}.json`),
    JSON.stringify({ args, host, samples, rows }, null, 2),
  );
  if (args.write) {
    const file = join(ROOT, 'BENCHMARKS.md');
    const previous = existsSync(file) ? readFileSync(file, 'utf8') : '';
    writeFileSync(
      file,
      markdownReport({ rows, targets, skipped, host, args, command, previous, CONTENDERS }),
    );
    log('wrote BENCHMARKS.md');
  }
}

main().catch((error) => {
  log(error instanceof Error ? error.stack : String(error));
  process.exit(1);
});
