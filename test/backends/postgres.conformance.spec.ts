import type pg from 'pg';
import { PostgresBackend } from '../../src/backends/postgres.backend.js';
import { describeSessionBackend } from '../../src/testing/index.js';
import { adminPool, databaseUrl, dropSchema, uniqueSchema } from '../support/postgres.js';

describeSessionBackend(
  'PostgresBackend',
  async () => {
    const schema = uniqueSchema('postgres-conformance');
    const admin: pg.Pool = await adminPool();
    const backend = new PostgresBackend({
      connectionString: databaseUrl(),
      schema,
      pruneIntervalSeconds: 0,
    });
    // Another backend's table in the same schema: clear() must spare it.
    const other = new PostgresBackend({
      connectionString: databaseUrl(),
      schema,
      table: 'session_other',
      pruneIntervalSeconds: 0,
    });
    return {
      backend,
      foreign: {
        put: () => other.write('foreign', { keep: true }, 60),
        survives: async () => (await other.read('foreign')) !== null,
      },
      // Valid jsonb, but not this backend's format (a value that is no [position, json] pair).
      corrupt: async (id) => {
        await backend.read(id); // the tables exist from here on
        await admin.query(
          `INSERT INTO "${schema}".session (id, data, expires_at)
           VALUES ($1, '{"userId": "\\"ann"}', now() + interval '1 minute')`,
          [id],
        );
      },
      stored: async (id) =>
        (await admin.query(`SELECT 1 FROM "${schema}".session WHERE id = $1`, [id])).rowCount === 1,
      teardown: async () => {
        await other.close();
        await dropSchema(admin, schema);
        await admin.end();
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
