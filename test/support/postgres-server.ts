// A throwaway PostgreSQL cluster for tests that stop and start their server:
// initdb into a temporary folder, pg_ctl on a spare loopback port, removed at
// the end. PostgreSQL refuses to run as root, so as root both run as the
// `postgres` OS user (runuser), in a folder that user owns.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';

export const POSTGRES_SERVER_HELP =
  'This test starts a PostgreSQL server of its own: install PostgreSQL ' +
  '(Debian: apt-get install postgresql) so that initdb and pg_ctl are found ' +
  'in /usr/lib/postgresql/<version>/bin or on PATH.';

/** A PostgreSQL cluster of the test's own, started by {@link startPostgres}. */
export interface PostgresServer {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  /** Stops the server at once (`-m immediate`), as a crash or an outage would. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data, resolving once it accepts connections. */
  start(): Promise<void>;
  /**
   * Pauses every process of the server (SIGSTOP): connections are still
   * accepted by the kernel but nothing answers, as with a hung host or a
   * network that drops packets. `thaw` resumes them.
   */
  freeze(): void;
  thaw(): void;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

/** The folder holding initdb and pg_ctl, or undefined without PostgreSQL. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length) return join(root, versions[0], 'bin');
  }
  const found = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path.replace(/\/initdb$/, '') : undefined;
}

export function hasPostgresServer(): boolean {
  return postgresBinDir() !== undefined;
}

const asRoot = process.getuid?.() === 0;

function postgresUid(): { uid: number; gid: number } {
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0)
    throw new Error('running as root needs a `postgres` OS user to run PostgreSQL as');
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/** Runs a PostgreSQL program, as `postgres` when we are root; throws with its output on failure. */
function runProgram(bin: string, program: string, args: string[]): void {
  const path = join(bin, program);
  const [command, commandArgs] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', path, ...args]]
    : [path, args];
  const result = spawnSync(command, commandArgs, { encoding: 'utf8', cwd: tmpdir() });
  if (result.status !== 0)
    throw new Error(`${program} failed (${result.status}): ${result.stderr || result.stdout}`);
}

/**
 * initdb + pg_ctl start on 127.0.0.1:`port` (a free one when not given), trust
 * authentication, no fsync (a test's data need not survive the machine).
 */
export async function startPostgres(port?: number): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(POSTGRES_SERVER_HELP);
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), `pg-${chosen}-`));
  if (asRoot) {
    const { uid, gid } = postgresUid();
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  runProgram(bin, 'initdb', [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
    '-E',
    'UTF8',
  ]);
  const options = [
    `-p ${chosen}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    // Throwaway data, so no fsync; but every commit is written before it is
    // acknowledged (synchronous_commit stays on), so an immediate stop, like
    // a crash of PostgreSQL alone, loses nothing that was committed.
    '-c fsync=off',
    '-c full_page_writes=off',
  ].join(' ');
  const start = async () => {
    runProgram(bin, 'pg_ctl', [
      'start',
      '-w',
      '-t',
      '30',
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-o',
      options,
    ]);
  };
  const stop = async () => {
    if (existsSync(join(data, 'postmaster.pid')))
      runProgram(bin, 'pg_ctl', ['stop', '-w', '-m', 'immediate', '-D', data]);
  };
  /** The postmaster and the processes it forked (ours: started by pg_ctl above). */
  const processes = (): number[] => {
    const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)], {
      encoding: 'utf8',
    });
    return [postmaster, ...children.stdout.split('\n').filter(Boolean).map(Number)];
  };
  await start();
  return {
    port: chosen,
    url: `postgres://postgres@127.0.0.1:${chosen}/postgres`,
    start,
    stop,
    freeze() {
      for (const pid of processes()) process.kill(pid, 'SIGSTOP');
    },
    thaw() {
      for (const pid of processes()) process.kill(pid, 'SIGCONT');
    },
    async destroy() {
      if (existsSync(join(data, 'postmaster.pid'))) {
        try {
          for (const pid of processes()) process.kill(pid, 'SIGCONT');
        } catch {
          // Already gone.
        }
      }
      await stop().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
