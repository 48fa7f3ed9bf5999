// The package's promise about its optional dependency: importing the root
// entry never loads ioredis and its declarations never mention it, in both
// builds; the Redis entry loads it.
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
import { dirname, join, relative } from 'node:path';
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

/** Whether ioredis is in Node's module cache after loading `entry` (ESM or CJS). */
function loadsIoredis(entry: string, format: 'esm' | 'cjs'): boolean {
  const check = `Object.keys(require('node:module')._cache).some((f) => /[\\\\/]ioredis[\\\\/]/.test(f))`;
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
  it('does not load ioredis when the root entry is imported', () => {
    expect(loadsIoredis(join(dir, format, 'index.js'), format)).toBe(false);
    expect(loadsIoredis(join(dir, format, 'backends/memory.backend.js'), format)).toBe(false);
  });

  it('loads ioredis for the Redis entry', () => {
    expect(loadsIoredis(join(dir, format, 'backends/redis.backend.js'), format)).toBe(true);
  });

  it('refers to ioredis types in no declaration but the Redis entry’s', () => {
    const leaking = declarations(join(dir, format))
      .filter((file) => /['"]ioredis['"]/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(join(dir, format), file))
      .sort();
    expect(leaking).toEqual(['backends/redis.backend.d.ts']);
  });
});
