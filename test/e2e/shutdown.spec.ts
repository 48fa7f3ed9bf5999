import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(process.cwd());
const SCRIPT = join(ROOT, 'test/support/fixtures/shutdown-app.mjs');

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(args: string[], timeoutMs: number): Promise<Outcome> {
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, timedOut, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe('shutdown', () => {
  let dir: string;
  let library: string;

  beforeAll(() => {
    // A fresh build of src/ in a scratch directory, so dist/ is neither needed nor touched.
    dir = mkdtempSync(join(tmpdir(), 'session-shutdown-'));
    const out = join(dir, 'lib');
    const tsc = spawnSync(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(ROOT, 'tsconfig.build.json'),
        '--outDir',
        out,
        '--declaration',
        'false',
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    library = join(out, 'index.js');
    if (!existsSync(library))
      throw new Error(`could not build the library:\n${tsc.stdout}${tsc.stderr}`);
    writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lets an app using MemoryBackend exit by itself after app.close()', async () => {
    const outcome = await run([SCRIPT, library, 'close'], 5000);
    expect(outcome.stderr).toBe('');
    expect(JSON.parse(outcome.stdout)).toEqual({ status: 200, cookie: true, stored: 1 });
    expect(outcome.timedOut).toBe(false);
    expect(outcome.code).toBe(0);
  }, 10_000);

  it('never lets the MemoryBackend sweep timer keep the process alive, even without app.close()', async () => {
    const outcome = await run([SCRIPT, library, 'server-only'], 5000);
    expect(outcome.stderr).toBe('');
    expect(JSON.parse(outcome.stdout)).toEqual({ status: 200, cookie: true, stored: 1 });
    expect(outcome.timedOut).toBe(false);
    expect(outcome.code).toBe(0);
  }, 10_000);
});
