import { RedisBackend } from '../../src/backends/redis.backend.js';
import { describeSessionBackend } from '../../src/testing/index.js';
import { adminClient, redisUrl, uniquePrefix } from '../support/redis-clients.js';

describeSessionBackend(
  'RedisBackend (single node)',
  () => {
    const url = redisUrl();
    const prefix = uniquePrefix('redis-conformance');
    const admin = adminClient(url);
    // Shares the backend's prefix as its start, so a MATCH without the final
    // separator, or an unescaped glob, would catch it.
    const foreignKey = `${prefix.slice(0, -1)}-other:foreign`;
    return {
      backend: new RedisBackend({ url, prefix }),
      foreign: {
        put: async () => {
          await admin.set(foreignKey, 'keep me', 'EX', 60);
        },
        survives: async () => (await admin.exists(foreignKey)) === 1,
      },
      corrupt: async (id) => {
        await admin.set(prefix + id, '{"userId":"\\"ann', 'EX', 60);
      },
      stored: async (id) => (await admin.exists(prefix + id)) === 1,
      teardown: async () => {
        await admin.del(foreignKey);
        admin.disconnect();
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
