// Starts and stops a throwaway 3-master Redis Cluster on spare loopback ports,
// for the Cluster conformance suite. Plain JavaScript like redis-server.js.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRedis } from './redis-server.js';

/**
 * Starts `masters` cluster-enabled redis-servers, joins them with
 * `redis-cli --cluster create` (no replicas) and resolves once every node
 * reports `cluster_state:ok`. `stop()` kills them and removes their files.
 */
export async function startRedisCluster(masters = 3) {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const servers = [];
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i += 1) {
      const port = await freePort();
      servers.push(
        await startRedis(port, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
        ]),
      );
    }
    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0) {
      throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
    }
    for (let attempt = 0; ; attempt += 1) {
      const states = servers.map(
        (server) =>
          spawnSync(
            'redis-cli',
            ['-h', '127.0.0.1', '-p', String(server.port), 'cluster', 'info'],
            {
              encoding: 'utf8',
            },
          ).stdout,
      );
      if (states.every((info) => info.includes('cluster_state:ok'))) break;
      if (attempt > 200) throw new Error('Redis Cluster did not reach cluster_state:ok');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes: servers.map((server) => ({ host: '127.0.0.1', port: server.port })),
    stop,
  };
}
