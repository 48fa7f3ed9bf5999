import type { INestApplication } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Redis from 'ioredis';
import type { SessionBackend } from 'pselfastapise-async';
import { createApp } from '../src/app';
import { destroyFlow, regenerateFlow, seedFlow } from './flow';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `compat-nest11-cjs:${process.pid}:${Date.now()}:`;

type RedisBackendClass = new (options: { url: string; prefix: string }) => SessionBackend;

/** RedisBackend through require(), or a message saying why the tarball has none. */
function loadRedisBackend(): RedisBackendClass {
  const packageDir = dirname(require.resolve('pselfastapise-async/package.json'));
  const file = join(packageDir, 'dist/cjs/backends/redis.backend.js');
  if (!existsSync(file)) {
    throw new Error(
      `RedisBackend is not in the packed tarball: ${file} does not exist. ` +
        'Pack the library from a tree that has src/backends/redis.backend.ts.',
    );
  }
  const entry = require('pselfastapise-async/backends/redis') as {
    RedisBackend?: RedisBackendClass;
  };
  if (typeof entry.RedisBackend !== 'function') {
    throw new Error(
      'pselfastapise-async/backends/redis loads but does not export a RedisBackend class',
    );
  }
  return entry.RedisBackend;
}

describe('the seed flow on Nest 11 with RedisBackend', () => {
  let backend: SessionBackend | undefined;
  let app: INestApplication | undefined;
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  });

  afterEach(async () => {
    await backend?.clear();
    await app?.close();
    backend = undefined;
    app = undefined;
  });

  afterAll(async () => {
    if (redis.status === 'ready') expect(await redis.keys(`${prefix}*`)).toEqual([]);
    redis.disconnect();
  });

  it(`runs login, profile, regenerate and logout against Redis at ${url}`, async () => {
    const RedisBackend = loadRedisBackend();
    backend = new RedisBackend({ url, prefix });
    app = await createApp(backend);

    await seedFlow(app);
    await regenerateFlow(app);
    await destroyFlow(app);

    await redis.connect();
    // regenerateFlow left Alice logged in: her session lives in Redis, under the prefix.
    expect((await redis.keys(`${prefix}*`)).length).toBeGreaterThan(0);
  });
});
