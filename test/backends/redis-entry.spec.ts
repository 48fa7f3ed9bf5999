// The Redis entry point loads in both builds compiled from the one source,
// and, when ioredis is not installed, fails with a message that says
// `npm i ioredis`. The sources are transpiled as `tsc` would for each build
// into a scratch package whose node_modules has @nestjs but (in one case) no
// ioredis, and loaded by a child Node process with require() and import().
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve('.');
const sources = [
  'backends/peer.loader.ts',
  'backends/redis.backend.ts',
  'backends/redis.codec.ts',
  'backends/redis.connection.ts',
  'backends/redis.index.ts',
  'backends/redis.keys.ts',
  'backends/redis.loader.ts',
  'backends/redis.scripts.ts',
  'backends/session-backend.ts',
  'session.constants.ts',
  'session.messages.ts',
];

function scratchPackage(withIORedis: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'redis-entry-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(join(root, 'node_modules/@nestjs'), join(dir, 'node_modules/@nestjs'));
  if (withIORedis) {
    symlinkSync(join(root, 'node_modules/ioredis'), join(dir, 'node_modules/ioredis'));
  }
  const builds = [
    ['esm', ts.ModuleKind.ES2022, 'module'],
    ['cjs', ts.ModuleKind.CommonJS, 'commonjs'],
  ] as const;
  for (const [name, module, type] of builds) {
    for (const file of sources) {
      const { outputText } = ts.transpileModule(readFileSync(join(root, 'src', file), 'utf8'), {
        compilerOptions: { module, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        fileName: file,
      });
      const out = join(dir, name, file.replace(/\.ts$/, '.js'));
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, outputText);
    }
    writeFileSync(join(dir, name, 'package.json'), JSON.stringify({ type }));
  }
  return dir;
}

function load(dir: string, how: 'require' | 'import') {
  const script =
    how === 'require'
      ? "const m = require('./cjs/backends/redis.backend.js'); console.log(typeof m.RedisBackend)"
      : "const m = await import('./esm/backends/redis.backend.js'); console.log(typeof m.RedisBackend)";
  const args = how === 'require' ? ['-e', script] : ['--input-type=module', '-e', script];
  return spawnSync(process.execPath, args, {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
}

describe('the pselfastapise-async/backends/redis entry', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  describe.each(['require', 'import'] as const)('loaded with %s()', (how) => {
    it('exports RedisBackend when ioredis is installed', () => {
      const dir = scratchPackage(true);
      dirs.push(dir);
      const result = load(dir, how);
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('function');
    });

    it('fails with a message saying `npm i ioredis` when ioredis is missing', () => {
      const dir = scratchPackage(false);
      dirs.push(dir);
      const result = load(dir, how);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('RedisBackend needs the ioredis package');
      expect(result.stderr).toContain('npm i ioredis');
    });
  });
});
