// `node bench/instructions.js <contender>[,<contender>...] <workload> [options]`:
// instructions the server executes per request, counted by valgrind's
// callgrind, for contenders an earlier `npm run bench` set up in .bench/.
// Counts do not depend on what else the machine is doing, so they settle a
// difference of a few percent that CPU time on a busy machine cannot. The
// server runs about 50 times slower under valgrind: counts cover JIT-compiled
// code, V8's compiler threads and the garbage collector alike, but not cache
// misses or waiting.
//
// Each contender is started under callgrind, warmed up with --warmup
// requests, then counted over --batches batches of --requests requests (20
// connections); the counters are zeroed after the warm-up and between
// batches, so start-up is not counted. Contenders run one after the other.
//
// Options:
//   --system S     nest12-esm (default) or nest11-cjs
//   --lib L        current (default) or before (the build --before set up)
//   --requests N   requests per batch (default 3000)
//   --warmup N     requests before counting (default 10000: V8 compiles hot
//                  code on its own threads for a while after start-up)
//   --batches N    counted batches (default 3)
//   --keep DIR     keep each contender's callgrind files in
//                  DIR/<system>-<lib>[-<preload>]/<contender>/
//                  (one per batch), for callgrind_annotate: V8's own C++
//                  functions (the garbage collector, runtime calls) are named
//                  there; JIT-compiled JavaScript is not
//   --preload F    start the server with `node --import F` (a what-if, such
//                  as bench/bind-without-deprecation.mjs)
//
// Needs valgrind (Debian package valgrind), and for the Redis and PostgreSQL
// contenders those servers at REDIS_URL / DATABASE_URL (default
// 127.0.0.1:6379 and postgres://postgres@127.0.0.1:5432/test, with the
// connect-pg-simple table `npm run bench` creates). Prints one line per
// contender: the instructions per request of each batch, and their mean.
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/redis-server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NO_SESSION_COOKIE = `session=${'a'.repeat(43)}.${'b'.repeat(43)}`;

const options = {
  system: 'nest12-esm',
  lib: 'current',
  requests: 3000,
  warmup: 10000,
  batches: 3,
  keep: '',
  preload: '',
};
const [names, workload, ...rest] = process.argv.slice(2);
for (let i = 0; i < rest.length; i += 2) {
  const key = rest[i].replace(/^--/, '');
  if (!(key in options) || rest[i + 1] === undefined) throw new Error(`unknown option ${rest[i]}`);
  options[key] = typeof options[key] === 'number' ? Number(rest[i + 1]) : rest[i + 1];
}
if (!names || !['/none', '/read', '/write', '/login'].includes(workload)) {
  throw new Error(
    'usage: node bench/instructions.js <contender>[,...] </none|/read|/write|/login>',
  );
}
for (const key of ['requests', 'warmup', 'batches']) {
  if (!Number.isInteger(options[key]) || options[key] < 1) {
    throw new Error(`--${key} must be a positive whole number`);
  }
}
if (options.preload && !existsSync(options.preload)) {
  throw new Error(`--preload ${options.preload}: no such file`);
}
/** How the preload is named in output paths and lines ('' without one). */
const preloadName = options.preload ? basename(options.preload) : '';
if (spawnSync('callgrind_control', ['--version'], { stdio: 'ignore' }).status !== 0) {
  throw new Error('callgrind_control not found: install valgrind (apt-get install valgrind)');
}
const dir = join(ROOT, '.bench', options.system, options.lib);
if (!existsSync(join(dir, 'apps', 'main.js'))) {
  throw new Error(
    `${dir}/apps/main.js is missing: run npm run bench (with --before for 'before') first`,
  );
}
const { CONTENDERS } = await import(join(dir, 'apps', 'contenders.js'));
for (const name of names.split(',')) {
  const contender = CONTENDERS[name];
  if (!contender) throw new Error(`unknown contender ${name}`);
  if (contender.workloads && !contender.workloads.includes(workload)) {
    throw new Error(`${name} serves ${contender.workloads.join(', ')} only`);
  }
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        res.resume();
        res.on('end', () => resolve(res));
      })
      .on('error', reject);
  });
}

function load(port, headers, amount) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `http://127.0.0.1:${port}${workload}`, connections: 20, amount, headers, timeout: 60 },
      (error, result) => {
        if (error) reject(error);
        else if (result.non2xx > 0 || result.errors > 0) reject(new Error(`${workload} failed`));
        else resolve(result);
      },
    );
  });
}

const callgrind = (pid, command) =>
  spawnSync('callgrind_control', [command, String(pid)], { stdio: 'ignore' });

async function count(name) {
  const out = options.keep
    ? join(
        resolve(options.keep),
        [options.system, options.lib, preloadName].filter(Boolean).join('-'),
        name,
      )
    : mkdtempSync(join(os.tmpdir(), 'instructions-'));
  if (options.keep) {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
  }
  const port = await freePort();
  const child = spawn(
    'valgrind',
    [
      '-q',
      '--tool=callgrind',
      `--callgrind-out-file=${join(out, 'cg.%p')}`,
      process.execPath,
      ...(options.preload ? ['--import', resolve(options.preload)] : []),
      'apps/main.js',
    ],
    {
      cwd: dir,
      env: { ...process.env, BENCH_CONTENDER: name, PORT: String(port), NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    await new Promise((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 300_000);
      child.stdout.on('data', (chunk) => {
        output += chunk;
        if (output.includes('READY')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', () => reject(new Error(`${name} exited`)));
    });
    let cookie;
    if ((workload === '/read' || workload === '/write') && CONTENDERS[name].kind === 'bare') {
      cookie = NO_SESSION_COOKIE;
    } else if (workload === '/read' || workload === '/write') {
      const res = await get(port, '/login');
      cookie = res.headers['set-cookie']?.[0]?.split(';')[0];
      if (res.statusCode !== 200 || !cookie) {
        throw new Error(`${name}: /login gave no cookie (${res.statusCode})`);
      }
    }
    const headers = cookie ? { cookie } : {};
    await load(port, headers, options.warmup);
    callgrind(child.pid, '-z');
    const counts = [];
    for (let batch = 1; batch <= options.batches; batch++) {
      await load(port, headers, options.requests);
      callgrind(child.pid, '-d');
      callgrind(child.pid, '-z');
      const file = readdirSync(out).find((f) => f.endsWith(`.${batch}`));
      const summary = /^summary: (\d+)/m.exec(readFileSync(join(out, file), 'utf8'));
      counts.push(Number(summary[1]) / options.requests);
    }
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    const k = (v) => `${(v / 1000).toFixed(0)}k`;
    console.log(
      `${options.system} ${name}${options.lib === 'current' ? '' : `@${options.lib}`}` +
        `${preloadName ? ` (preload ${preloadName})` : ''} ${workload}: ` +
        `${k(mean)} instructions per request (batches ${counts.map(k).join(', ')})`,
    );
  } finally {
    child.kill('SIGKILL');
    if (!options.keep) rmSync(out, { recursive: true, force: true });
  }
}

for (const name of names.split(',')) await count(name);
