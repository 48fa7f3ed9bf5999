// Builds a backend entry point into a scratch package, as `tsc` would for each
// build (ESM and CJS), with only the node_modules packages given, and loads it
// in a child Node process: how the entry specs check that a missing optional
// peer (ioredis, pg) fails at once with a message saying what to install.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve('.');

/** A scratch package holding `sources` (paths under src/) in esm/ and cjs/, with `packages` linked. */
export function scratchPackage(sources: readonly string[], packages: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'entry-'));
  mkdirSync(join(dir, 'node_modules'));
  for (const name of packages) {
    symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
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

/** Loads `file` (under esm/ or cjs/) with require() or import() and prints `typeof` its export `name`. */
export function loadEntry(dir: string, how: 'require' | 'import', file: string, name: string) {
  const script =
    how === 'require'
      ? `const m = require('./cjs/${file}'); console.log(typeof m.${name})`
      : `const m = await import('./esm/${file}'); console.log(typeof m.${name})`;
  const args = how === 'require' ? ['-e', script] : ['--input-type=module', '-e', script];
  return spawnSync(process.execPath, args, {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
}
