import { jest } from '@jest/globals';
import { Cluster, type ClusterOptions } from 'ioredis';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import { describeSessionBackend } from '../../src/testing/index.js';
import { storageKey } from '../../src/testing/values.js';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.js';
import { hasRedisServer, REDIS_HELP } from '../support/redis-server.js';
import { uniquePrefix } from '../support/redis-clients.js';

describe('RedisBackend on a 3-master Cluster', () => {
  let started: RedisCluster | undefined;
  let cluster: Cluster;

  beforeAll(async () => {
    if (!hasRedisServer()) throw new Error(REDIS_HELP);
    started = await startRedisCluster(3);
    cluster = new Cluster(started.nodes, {
      redisOptions: { commandTimeout: 2000, maxRetriesPerRequest: 1 },
    });
  }, 60_000);

  afterAll(async () => {
    cluster?.disconnect();
    await started?.stop();
  }, 30_000);

  describeSessionBackend(
    'RedisBackend (3-master Cluster)',
    () => {
      const prefix = uniquePrefix('redis-cluster-conformance');
      const foreignKey = 'other-prefix:{foreign}';
      return {
        backend: new RedisBackend({ client: cluster, prefix }),
        foreign: {
          put: async () => {
            await cluster.set(foreignKey, 'keep me', 'EX', 60);
          },
          survives: async () => (await cluster.exists(foreignKey)) === 1,
        },
        corrupt: async (id) => {
          await cluster.set(`${prefix}{${id}}`, 'not JSON', 'EX', 60);
        },
        stored: async (id) => (await cluster.exists(`${prefix}{${id}}`)) === 1,
        teardown: async () => {
          await cluster.del(foreignKey);
        },
      };
    },
    {
      capabilities: [
        'readAndTouch',
        'patch',
        'move',
        'close',
        'index',
        'indexDestroy',
        'indexAddLimited',
        'unreadable',
      ],
    },
  );

  describe('keys, slots and masters', () => {
    const prefix = uniquePrefix('redis-cluster');
    let backend: RedisBackend;

    beforeAll(() => {
      backend = new RedisBackend({ client: cluster, prefix });
    });

    afterAll(async () => {
      await backend?.clear();
    });

    /** How many masters hold at least one key under the backend's prefix (by SCAN on each). */
    async function mastersHoldingPrefix(): Promise<number> {
      let holding = 0;
      for (const node of cluster.nodes('master')) {
        let cursor = '0';
        let found = 0;
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          found += keys.length;
          cursor = next;
        } while (cursor !== '0');
        if (found > 0) holding += 1;
      }
      return holding;
    }

    it('refuses a prefix whose first hash tag is empty, which would split a user index over two slots', () => {
      expect(() => new RedisBackend({ client: cluster, prefix: 'app{}:' })).toThrow(
        /Invalid RedisBackend option `prefix`.*empty hash tag/,
      );
      expect(() => new RedisBackend({ client: cluster, prefix: 'app{tenant}:' })).not.toThrow();
    });

    it('wraps the storage key in a hash tag', async () => {
      const id = storageKey();
      await backend.write(id, { a: 1 }, 60);
      await expect(cluster.exists(`${prefix}{${id}}`)).resolves.toBe(1);
    });

    it('clears sessions spread over every master', async () => {
      const ids = Array.from({ length: 60 }, storageKey);
      await Promise.all(ids.map((id) => backend.write(id, { id }, 60)));
      const keys = ids.map((id) => `${prefix}{${id}}`);
      const slots = await Promise.all(keys.map((key) => cluster.cluster('KEYSLOT', key)));
      expect(new Set(slots).size).toBeGreaterThan(50);
      await expect(mastersHoldingPrefix()).resolves.toBe(3);
      await backend.clear();
      await expect(mastersHoldingPrefix()).resolves.toBe(0);
      const left = await Promise.all(keys.map((key) => cluster.exists(key)));
      expect(left.every((n) => n === 0)).toBe(true);
    });

    it('renames across slots (and masters) without CROSSSLOT errors', async () => {
      let oldId = storageKey();
      let newId = storageKey();
      const slotOf = (id: string) => cluster.cluster('KEYSLOT', `${prefix}{${id}}`);
      // `redis-cli --cluster create` gives each of the 3 masters a third of the slots, in order.
      const masterOf = (slot: number) => Math.floor(slot / (16384 / 3));
      while (masterOf(await slotOf(oldId)) === masterOf(await slotOf(newId))) {
        [oldId, newId] = [storageKey(), storageKey()];
      }
      await backend.write(oldId, { user: 'ann' }, 60);
      await expect(
        backend.move(oldId, newId, { set: { renamed: true }, unset: [] }, 60),
      ).resolves.toBe(true);
      await expect(backend.read(oldId)).resolves.toBeNull();
      await expect(backend.read(newId)).resolves.toEqual({ user: 'ann', renamed: true });
      await expect(
        backend.move(oldId, storageKey(), { set: { user: 'ann' }, unset: [] }, 60),
      ).resolves.toBe(false);
    });

    it('keeps the index hash and its sorted set of deadlines in one slot', async () => {
      const owner = storageKey();
      await backend.indexAdd(owner, storageKey(), 1, 60);
      const keys = [`${prefix}user:{${owner}}`, `${prefix}user:{${owner}}:d`];
      await expect(Promise.all(keys.map((key) => cluster.exists(key)))).resolves.toEqual([1, 1]);
      const [hash, sorted] = await Promise.all(keys.map((key) => cluster.cluster('KEYSLOT', key)));
      expect(sorted).toBe(hash);
    });

    it('indexDestroy sends every UNLINK and the index MULTI at once, without waiting in between', async () => {
      const owner = storageKey();
      const ids = Array.from({ length: 20 }, storageKey);
      for (const id of ids) {
        await backend.write(id, { id }, 60);
        await backend.indexAdd(owner, id, 1, 60);
      }
      const unlink = jest.spyOn(cluster, 'unlink');
      const multi = jest.spyOn(cluster, 'multi');
      try {
        const pending = backend.indexDestroy(owner, ids);
        // All sent before the first reply could have arrived.
        expect(unlink).toHaveBeenCalledTimes(20);
        expect(multi).toHaveBeenCalledTimes(1);
        await pending;
      } finally {
        jest.restoreAllMocks();
      }
      const left = await Promise.all(ids.map((id) => cluster.exists(`${prefix}{${id}}`)));
      expect(left.every((n) => n === 0)).toBe(true);
      await expect(cluster.exists(`${prefix}user:{${owner}}`)).resolves.toBe(0);
      await expect(cluster.exists(`${prefix}user:{${owner}}:d`)).resolves.toBe(0);
    });

    describe.each<[string, ClusterOptions, string]>([
      ['in redisOptions', { redisOptions: { keyPrefix: 'kp-nodes:' } }, 'kp-nodes:'],
      ['at the top level', { keyPrefix: 'kp-top:' }, 'kp-top:'],
    ])('with a Cluster client keyPrefix %s', (_where, options, keyPrefix) => {
      it('writes under it, and clear() finds and removes every key on every master', async () => {
        const prefixed = new Cluster(started!.nodes, {
          ...options,
          redisOptions: { ...options.redisOptions, commandTimeout: 2000, maxRetriesPerRequest: 1 },
        });
        const scoped = new RedisBackend({ client: prefixed, prefix });
        try {
          const ids = Array.from({ length: 60 }, storageKey);
          await Promise.all(ids.map((id) => scoped.write(id, { id }, 60)));
          const owner = storageKey();
          await scoped.indexAdd(owner, ids[0], 1, 60);
          const keys = [...ids.map((id) => `${keyPrefix}${prefix}{${id}}`)];
          keys.push(
            `${keyPrefix}${prefix}user:{${owner}}`,
            `${keyPrefix}${prefix}user:{${owner}}:d`,
          );
          const stored = await Promise.all(keys.map((key) => cluster.exists(key)));
          expect(stored.every((n) => n === 1)).toBe(true);
          const unprefixed = storageKey();
          await backend.write(unprefixed, { mine: true }, 60);

          await scoped.clear();
          const left = await Promise.all(keys.map((key) => cluster.exists(key)));
          expect(left.filter((n) => n !== 0)).toEqual([]);
          await expect(backend.read(unprefixed)).resolves.toEqual({ mine: true });
        } finally {
          prefixed.disconnect();
        }
      });
    });
  });
});
