// The package's promises about its entry points, in both builds: importing
// the root entry never loads ioredis or pg (nor the test kit) and its
// declarations never mention them; the Redis entry loads ioredis, the
// PostgreSQL entry pg; the test kit loads without a
// test runner's types, and says where it must be called from.
import { spawnSync } from 'node:child_process';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');

let dir: string;

function build(config: string, out: string, type: 'module' | 'commonjs'): void {
  const result = spawnSync(process.execPath, [tsc, '-p', join(ROOT, config), '--outDir', out], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`build failed:\n${result.stdout}${result.stderr}`);
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type }));
}

/** Whether `peer` (ioredis, pg) is in Node's module cache after loading `entry` (ESM or CJS). */
function loadsPeer(entry: string, format: 'esm' | 'cjs', peer: string): boolean {
  const check = `Object.keys(require('node:module')._cache).some((f) => /[\\\\/]${peer}[\\\\/]/.test(f))`;
  const script =
    format === 'esm'
      ? `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);
         await import(${JSON.stringify(entry)}); console.log(${check});`
      : `require(${JSON.stringify(entry)}); console.log(${check});`;
  const result = spawnSync(
    process.execPath,
    format === 'esm' ? ['--input-type=module', '-e', script] : ['-e', script],
    { cwd: dir, encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`could not load ${entry}:\n${result.stderr}`);
  return result.stdout.trim() === 'true';
}

/** Every file the built `entry` imports, directly or not (relative imports only, followed). */
function moduleGraph(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const [, specifier] of text.matchAll(
      /(?:from |import\(|require\()['"](\.{1,2}\/[^'"]+)['"]/g,
    )) {
      visit(resolve(dirname(file), specifier));
    }
  };
  visit(entry);
  return [...seen];
}

/** Runs `script` with Node in the build folder (no test runner around it); its output. */
function run(script: string, format: 'esm' | 'cjs'): { status: number | null; output: string } {
  const result = spawnSync(
    process.execPath,
    format === 'esm' ? ['--input-type=module', '-e', script] : ['-e', script],
    { cwd: dir, encoding: 'utf8' },
  );
  return { status: result.status, output: result.stdout + result.stderr };
}

function declarations(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.d.ts'))
    .map((file) => join(folder, file));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'session-entries-'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  build('tsconfig.build.json', join(dir, 'esm'), 'module');
  build('tsconfig.build.cjs.json', join(dir, 'cjs'), 'commonjs');
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each(['esm', 'cjs'] as const)('the %s build', (format) => {
  it.each(['ioredis', 'pg'])('does not load %s when the root entry is imported', (peer) => {
    expect(loadsPeer(join(dir, format, 'index.js'), format, peer)).toBe(false);
    expect(loadsPeer(join(dir, format, 'backends/memory.backend.js'), format, peer)).toBe(false);
    expect(loadsPeer(join(dir, format, 'testing/index.js'), format, peer)).toBe(false);
  });

  it('does not load the test kit from the root entry', () => {
    const graph = moduleGraph(join(dir, format, 'index.js'));
    expect(graph.length).toBeGreaterThan(5);
    expect(graph.filter((file) => /[\\/]testing[\\/]/.test(file))).toEqual([]);
  });

  it('has every file the exports map and typesVersions name', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const paths: string[] = JSON.stringify([manifest.exports, manifest.typesVersions])
      .match(/\.\/dist\/[^"]+/g)!
      .filter((path: string) => path.startsWith(`./dist/${format}/`));
    expect(paths.length).toBeGreaterThanOrEqual(10);
    const missing = paths.filter((path) => {
      try {
        readFileSync(join(dir, path.slice(`./dist/`.length)));
        return false;
      } catch {
        return true;
      }
    });
    expect(missing).toEqual([]);
  });

  it('loads the test kit without a test runner, which says where to call it from', () => {
    const entry = JSON.stringify(join(dir, format, 'testing/index.js'));
    const call = `describeSessionBackend('Mine', () => ({ backend: {} }))`;
    const script =
      format === 'esm'
        ? `const { describeSessionBackend } = await import(${entry}); ${call};`
        : `const { describeSessionBackend } = require(${entry}); ${call};`;
    const { status, output } = run(script, format);
    expect(status).not.toBe(0);
    expect(output).toContain('describeSessionBackend must be called from a test file run by Jest');
  });

  it('declares the test kit without any test runner types', () => {
    const kit = declarations(join(dir, format, 'testing'));
    expect(kit.map((file) => relative(join(dir, format), file))).toContain('testing/index.d.ts');
    const runnerTypes =
      /['"](jest|@jest\/[^'"]*|@types\/jest|vitest)['"]|reference types=|\bjest\./;
    expect(kit.filter((file) => runnerTypes.test(readFileSync(file, 'utf8')))).toEqual([]);
  });

  it('loads ioredis for the Redis entry, and pg for the PostgreSQL entry (and not the other)', () => {
    const redis = join(dir, format, 'backends/redis.backend.js');
    const postgres = join(dir, format, 'backends/postgres.backend.js');
    expect(loadsPeer(redis, format, 'ioredis')).toBe(true);
    expect(loadsPeer(redis, format, 'pg')).toBe(false);
    expect(loadsPeer(postgres, format, 'pg')).toBe(true);
    expect(loadsPeer(postgres, format, 'ioredis')).toBe(false);
  });

  it('exports PostgresBackend from the PostgreSQL entry, and not from the root entry', () => {
    const entry = (file: string) => JSON.stringify(join(dir, format, file));
    const script =
      format === 'esm'
        ? `const root = await import(${entry('index.js')}); const pg = await import(${entry('backends/postgres.backend.js')});
           console.log(typeof root.PostgresBackend, typeof pg.PostgresBackend, typeof pg.PostgresBackend.schemaSql);`
        : `const root = require(${entry('index.js')}); const pg = require(${entry('backends/postgres.backend.js')});
           console.log(typeof root.PostgresBackend, typeof pg.PostgresBackend, typeof pg.PostgresBackend.schemaSql);`;
    const { status, output } = run(script, format);
    expect([status, output.trim()]).toEqual([0, 'undefined function function']);
  });

  it('refers to ioredis types in no declaration but the Redis entry’s', () => {
    const leaking = declarations(join(dir, format))
      .filter((file) => /['"]ioredis['"]/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(join(dir, format), file))
      .sort();
    expect(leaking).toEqual(['backends/redis.backend.d.ts']);
  });

  it('refers to pg types in no declaration but the PostgreSQL entry’s', () => {
    const leaking = declarations(join(dir, format))
      .filter((file) => /['"]pg['"]/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(join(dir, format), file))
      .sort();
    expect(leaking).toEqual(['backends/postgres.backend.d.ts']);
  });
});

it('type-checks a call to the test kit against either build, without test runner types', () => {
  const consumer = join(dir, 'consumer.ts');
  const lines = (['esm', 'cjs'] as const).flatMap((format) => [
    `import * as ${format}Memory from './${format}/backends/memory.backend.js';`,
    `import * as ${format}Kit from './${format}/testing/index.js';`,
    `const ${format}Target: ${format}Kit.SessionBackendTarget = { backend: new ${format}Memory.MemoryBackend() };`,
    `${format}Kit.describeSessionBackend('M', async () => ${format}Target, { capabilities: ['patch', 'index'] });`,
    `${format}Kit.describeSessionBackend('M', () => new ${format}Memory.MemoryBackend());`,
  ]);
  writeFileSync(consumer, lines.join('\n') + '\n');
  const args = ['--noEmit', '--strict', '--types', 'node', '--module', 'nodenext', consumer];
  const result = spawnSync(process.execPath, [tsc, ...args], { cwd: dir, encoding: 'utf8' });
  expect(result.stdout + result.stderr).toBe('');
}, 60_000);
