// Test helpers that start and stop throwaway redis-server processes on
// loopback ports. Plain JavaScript so Jest's globalSetup can load it as is.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_HELP =
  'Redis is required for these tests: install redis-server (Debian: apt-get install redis-server) ' +
  'or point REDIS_URL at a running server (redis://127.0.0.1:6379).';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves true when something at host:port answers PING with +PONG within `timeoutMs`. */
export function redisAnswers(host, port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let reply = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

export function hasRedisServer() {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Starts `redis-server` on 127.0.0.1:`port` (in the foreground, as a child) and
 * resolves once it answers. `extraArgs` are passed through (cluster flags...).
 */
export async function startRedis(port, extraArgs = []) {
  const dir = mkdtempSync(join(tmpdir(), `redis-${port}-`));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...extraArgs,
    ],
    { stdio: 'ignore', detached: false },
  );
  child.unref();
  for (let i = 0; i < 100; i += 1) {
    if (await redisAnswers('127.0.0.1', port, 200)) {
      return {
        port,
        pid: child.pid,
        url: `redis://127.0.0.1:${port}`,
        async stop() {
          // The child is unref'd so it never holds a test run open; while
          // waiting for it to exit, it must, or Node may quit mid-wait.
          child.ref();
          child.kill('SIGKILL');
          await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on port ${port}`);
}
