import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { createServer } from 'node:net';
import pg from 'pg';
import { PostgresBackend } from '../../src/backends/postgres.backend.js';
import { PostgresSql } from '../../src/backends/postgres.sql.js';
import { storageKey } from '../../src/testing/values.js';
import {
  adminPool,
  databaseUrl,
  dropSchema,
  POSTGRES_HELP,
  uniqueSchema,
} from '../support/postgres.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const owner = () => storageKey();

/** A TCP port on 127.0.0.1 where nothing listens. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('PostgresBackend', () => {
  const schema = uniqueSchema('postgres-backend');
  const opened: PostgresBackend[] = [];
  let admin: pg.Pool;
  let backend: PostgresBackend;

  /** A backend on this file's schema, closed after the file. */
  function make(options: ConstructorParameters<typeof PostgresBackend>[0] = {}) {
    const made = new PostgresBackend({
      connectionString: databaseUrl(),
      schema,
      pruneIntervalSeconds: 0,
      ...options,
    });
    opened.push(made);
    return made;
  }

  const rows = async (sql: string, values: unknown[] = []) => (await admin.query(sql, values)).rows;

  beforeAll(async () => {
    admin = await adminPool();
    backend = make();
  });

  afterAll(async () => {
    await Promise.all(opened.map((made) => made.close()));
    if (admin) {
      await dropSchema(admin, schema);
      await admin.end();
    }
  });

  afterEach(() => jest.restoreAllMocks());

  describe('options', () => {
    it.each([
      [{ table: 'bad-name' }, '`table`'],
      [{ table: 'x"; DROP TABLE y; --' }, '`table`'],
      [{ table: '1abc' }, '`table`'],
      [{ table: 'a'.repeat(40) }, '`table`'],
      [{ schema: '' }, '`schema`'],
      [{ schema: 'a.b' }, '`schema`'],
      [{ createTable: 'yes' }, '`createTable`'],
      [{ pruneIntervalSeconds: -1 }, '`pruneIntervalSeconds`'],
      [{ pruneIntervalSeconds: Infinity }, '`pruneIntervalSeconds`'],
      [{ statementTimeout: 0 }, '`statementTimeout`'],
      [{ connectionTimeout: Number.NaN }, '`connectionTimeout`'],
      [{ pool: { query: 1 } }, '`pool`'],
    ])('rejects %p, naming the option', (options, name) => {
      expect(() => new PostgresBackend(options as never)).toThrow(
        `Invalid PostgresBackend option ${name}`,
      );
    });

    it('connects with host, port, user, password and database as well as a URL', async () => {
      const url = new URL(databaseUrl());
      const fields = make({
        connectionString: undefined,
        host: url.hostname,
        port: Number(url.port || 5432),
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database: url.pathname.slice(1),
      });
      const id = storageKey();
      await fields.write(id, { a: 1 }, 60);
      await expect(backend.read(id)).resolves.toEqual({ a: 1 });
    });

    it('rejects a TTL that is not a finite number', async () => {
      await expect(backend.write(storageKey(), {}, Number.NaN)).rejects.toThrow('`ttlSeconds`');
      await expect(backend.touch(storageKey(), Infinity)).rejects.toThrow('`ttlSeconds`');
    });

    it('accepts names of letters, digits and underscores, case kept (quoted)', async () => {
      const mixed = make({ table: 'My_Sessions2' });
      const id = storageKey();
      await mixed.write(id, { a: 1 }, 60);
      await expect(
        rows(`SELECT id FROM "${schema}"."My_Sessions2" WHERE id = $1`, [id]),
      ).resolves.toEqual([{ id }]);
    });
  });

  describe('schemaSql', () => {
    it('creates both tables and their indexes, IF NOT EXISTS, in the schema and table given', () => {
      const sql = PostgresBackend.schemaSql({ schema: 'app', table: 'web_session' });
      expect(sql).toContain('CREATE SCHEMA IF NOT EXISTS "app";');
      expect(sql).toContain('CREATE TABLE IF NOT EXISTS "app"."web_session" (');
      expect(sql).toContain('CREATE TABLE IF NOT EXISTS "app"."web_session_user_index" (');
      expect(sql).toContain(
        'CREATE INDEX IF NOT EXISTS "web_session_expires_at_idx" ON "app"."web_session" (expires_at);',
      );
      expect(sql.match(/CREATE /g)).toHaveLength(5);
      expect(sql).not.toMatch(/advisory/);
    });

    it('leaves the public schema alone by default', () => {
      const sql = PostgresBackend.schemaSql();
      expect(sql).not.toContain('CREATE SCHEMA');
      expect(sql).toContain('CREATE TABLE IF NOT EXISTS "public"."session" (');
    });

    it('validates the names it is given', () => {
      expect(() => PostgresBackend.schemaSql({ table: 'a b' })).toThrow('`table`');
    });

    it('is what a backend with createTable: false works on, run as a migration', async () => {
      const migrated = uniqueSchema('postgres-migrated');
      try {
        await admin.query(PostgresBackend.schemaSql({ schema: migrated, table: 'sess' }));
        const own = make({ schema: migrated, table: 'sess', createTable: false });
        const id = storageKey();
        await own.write(id, { a: 1 }, 60);
        await own.indexAdd(owner(), id, 1, 60);
        await expect(own.read(id)).resolves.toEqual({ a: 1 });
        await own.close();
      } finally {
        await dropSchema(admin, migrated);
      }
    });

    it("names the clash when the table is another library's (connect-pg-simple's session table)", async () => {
      const foreign = uniqueSchema('postgres-foreign');
      try {
        // connect-pg-simple's table.sql, in a schema of its own.
        await admin.query(`CREATE SCHEMA "${foreign}"`);
        await admin.query(
          `CREATE TABLE "${foreign}"."session" (sid varchar NOT NULL PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL)`,
        );
        for (const createTable of [false, true]) {
          const own = make({ schema: foreign, createTable });
          await expect(own.read(storageKey())).rejects.toThrow(
            /exists but is not a PostgresBackend session table .*another `table` or `schema`/,
          );
          await own.close();
        }
      } finally {
        await dropSchema(admin, foreign);
      }
    });

    it('with createTable: false and no tables, fails saying how to create them', async () => {
      const own = make({ table: 'never_created', createTable: false });
      await expect(own.read(storageKey())).rejects.toThrow(
        /"never_created" does not exist: create it with the SQL of PostgresBackend\.schemaSql/,
      );
    });
  });

  describe('createTable', () => {
    it('creates the tables once, on first use, when several instances start at once', async () => {
      const racing = uniqueSchema('postgres-race');
      try {
        const backends = Array.from({ length: 6 }, () => make({ schema: racing }));
        const id = storageKey();
        await Promise.all(backends.map((each, i) => each.write(`${id}${i}`, { i }, 60)));
        const found = await rows(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
          [racing],
        );
        expect(found.map((row) => row.table_name)).toEqual(['session', 'session_user_index']);
        await expect(backends[5].read(`${id}0`)).resolves.toEqual({ i: 0 });
        await Promise.all(backends.map((each) => each.close()));
      } finally {
        await dropSchema(admin, racing);
      }
    });
  });

  describe('createTable with tables a migration made', () => {
    it('works for a role that may not create anything, without trying to', async () => {
      const role = uniqueSchema('role');
      const own = uniqueSchema('postgres-role');
      await admin.query(PostgresBackend.schemaSql({ schema: own }));
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      try {
        await admin.query(`GRANT USAGE ON SCHEMA ${own} TO ${role}`);
        await admin.query(
          `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${own} TO ${role}`,
        );
        const url = new URL(databaseUrl());
        url.username = role;
        url.password = '';
        const limited = make({ connectionString: url.toString(), schema: own });
        const id = storageKey();
        await limited.write(id, { a: 1 }, 60);
        await expect(limited.read(id)).resolves.toEqual({ a: 1 });
        await limited.close();
      } finally {
        await dropSchema(admin, own);
        await admin.query(`DROP ROLE IF EXISTS ${role}`);
      }
    });
  });

  describe('storage format', () => {
    it('stores one row per session: members [position, JSON text] in jsonb, and expires_at', async () => {
      const id = storageKey();
      await backend.write(id, { userId: '123', __session: { c: 1, e: 2 }, list: [] }, 100);
      const [row] = await rows(
        `SELECT data, extract(epoch FROM expires_at - now())::float8 AS ttl
         FROM "${schema}".session WHERE id = $1`,
        [id],
      );
      expect(row.data).toEqual({
        userId: [1, '"123"'],
        __session: [2, '{"c":1,"e":2}'],
        list: [3, '[]'],
      });
      expect(row.ttl).toBeGreaterThan(95);
      expect(row.ttl).toBeLessThanOrEqual(100);
    });

    it('keeps numbers past 2^53 and nested key order as written (the JSON text is stored)', async () => {
      const id = storageKey();
      const data = JSON.parse('{"n":{"z":1,"a":2}}');
      await backend.write(id, data, 60);
      await backend.patch(id, { set: { m: { y: 1, b: 2 } }, unset: [] }, 60);
      const [row] = await rows(
        `SELECT data->'m'->>1 AS m, data->'n'->>1 AS n FROM "${schema}".session WHERE id = $1`,
        [id],
      );
      expect(row).toEqual({ m: '{"y":1,"b":2}', n: '{"z":1,"a":2}' });
      await admin.query(
        `UPDATE "${schema}".session SET data = jsonb_set(data, '{big}', '[9, "123456789012345678901234567890"]') WHERE id = $1`,
        [id],
      );
      const back = await backend.read(id);
      expect(Object.keys(back!)).toEqual(['n', 'm', 'big']);
      expect(JSON.stringify(back!.big)).toBe(
        JSON.stringify(JSON.parse('123456789012345678901234567890')),
      );
    });

    it('escapes NUL and lone surrogates in names and values, which jsonb refuses raw', async () => {
      const id = storageKey();
      await backend.write(id, { 'a\u0000\ud800': 'b\u0000\udc00' }, 60);
      const [row] = await rows(`SELECT data::text AS data FROM "${schema}".session WHERE id = $1`, [
        id,
      ]);
      expect(row.data).toBe('{"a\\\\u0000\\\\ud800": [1, "\\"b\\\\u0000\\\\udc00\\""]}');
      await backend.patch(id, { set: { '\u0000': '\ud83d' }, unset: [] }, 60);
      await expect(backend.read(id)).resolves.toEqual({
        'a\u0000\ud800': 'b\u0000\udc00',
        '\u0000': '\ud83d',
      });
    });

    it('keeps the order of keys through patches: a changed key stays in place, a new one goes last', async () => {
      const id = storageKey();
      await backend.write(id, { b: 1, a: 2, c: 3 }, 60);
      await backend.patch(id, { set: { d: 4, a: 5 }, unset: ['b'] }, 60);
      await backend.patch(id, { set: { e: 6 }, unset: [] }, 60);
      const back = await backend.read(id);
      expect(Object.entries(back!)).toEqual([
        ['a', 5],
        ['c', 3],
        ['d', 4],
        ['e', 6],
      ]);
      const [oldId, newId] = [storageKey(), storageKey()];
      await backend.write(oldId, { z: 1, y: 2 }, 60);
      await backend.move(oldId, newId, { set: { x: 3, z: 0 }, unset: [] }, 60);
      expect(Object.keys((await backend.read(newId))!)).toEqual(['z', 'y', 'x']);
    });

    it('never serves an expired row, whether or not it was pruned', async () => {
      const id = storageKey();
      const who = owner();
      await backend.write(id, { a: 1 }, 60);
      await backend.indexAdd(who, id, 1, 60);
      await admin.query(
        `UPDATE "${schema}".session SET expires_at = now() - interval '1 second' WHERE id = $1`,
        [id],
      );
      await expect(backend.read(id)).resolves.toBeNull();
      await expect(backend.readAndTouch(id, 60)).resolves.toBeNull();
      await backend.touch(id, 60);
      await expect(backend.patch(id, { set: { b: 2 }, unset: [] }, 60)).resolves.toBe(false);
      await expect(backend.indexList(who)).resolves.toEqual([]);
      await expect(backend.move(id, storageKey(), { set: {}, unset: [] }, 60)).resolves.toBe(false);
      // move deleted it: nothing stays reachable under the old id.
      await expect(rows(`SELECT 1 FROM "${schema}".session WHERE id = $1`, [id])).resolves.toEqual(
        [],
      );
    });

    it('lists an entry whose session is missing as nothing, and keeps the entry', async () => {
      const who = owner();
      const id = storageKey();
      await backend.indexAdd(who, id, 1234, 60);
      await expect(backend.indexList(who)).resolves.toEqual([]);
      await expect(
        rows(
          `SELECT id, extract(epoch FROM created_at)::float8 * 1000 AS created FROM "${schema}".session_user_index WHERE owner = $1`,
          [who],
        ),
      ).resolves.toEqual([{ id, created: 1234 }]);
      await backend.write(id, { a: 1 }, 60);
      expect((await backend.indexList(who)).map((entry) => entry.createdAt)).toEqual([1234]);
    });

    it('drops the owner’s entries past their deadline when adding one, and only those', async () => {
      const who = owner();
      const [ended, live, other] = [storageKey(), storageKey(), storageKey()];
      await backend.indexAdd(who, ended, 1, 60);
      await backend.indexAdd(who, live, 1, 60);
      await backend.indexAdd(owner(), other, 1, 60);
      await admin.query(
        `UPDATE "${schema}".session_user_index SET deadline = now() - interval '1 second' WHERE id = ANY($1)`,
        [[ended, other]],
      );
      await backend.indexAdd(who, storageKey(), 1, 60);
      const left = await rows(
        `SELECT id FROM "${schema}".session_user_index WHERE id = ANY($1) ORDER BY id`,
        [[ended, live, other]],
      );
      expect(left.map((row) => row.id).sort()).toEqual([live, other].sort());
    });
  });

  describe('unreadable records', () => {
    const quiet = () => jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);

    it('logs one without its content and removes it, in read', async () => {
      const warn = quiet();
      const id = storageKey();
      await backend.read(id);
      await admin.query(
        `INSERT INTO "${schema}".session VALUES ($1, '{"a": [1, "not json"]}', now() + interval '1 minute')`,
        [id],
      );
      await expect(backend.read(id)).resolves.toBeNull();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toContain(id.slice(0, 8));
      expect(String(warn.mock.calls[0][0])).not.toContain('not json');
      await expect(rows(`SELECT 1 FROM "${schema}".session WHERE id = $1`, [id])).resolves.toEqual(
        [],
      );
    });

    it.each([
      ['a string', '"text"'],
      ['an array', '[[1, "1"]]'],
      ['a number', '7'],
      ['an object with a short pair', '{"a": [1]}'],
      ['an object with the pair reversed', '{"a": ["1", 1]}'],
    ])('removes %s in patch and move, resolving false', async (_what, stored) => {
      quiet();
      for (const call of [
        (id: string) => backend.patch(id, { set: { a: 1 }, unset: [] }, 60),
        (id: string) => backend.move(id, storageKey(), { set: { a: 1 }, unset: [] }, 60),
      ]) {
        const id = storageKey();
        await admin.query(
          `INSERT INTO "${schema}".session VALUES ($1, $2, now() + interval '1 minute')`,
          [id, stored],
        );
        await expect(call(id)).resolves.toBe(false);
        await expect(
          rows(`SELECT 1 FROM "${schema}".session WHERE id = $1`, [id]),
        ).resolves.toEqual([]);
      }
    });

    it('tells a missing record (no warning) from an unreadable one', async () => {
      const warn = quiet();
      await expect(backend.patch(storageKey(), { set: { a: 1 }, unset: [] }, 60)).resolves.toBe(
        false,
      );
      await expect(backend.read(storageKey())).resolves.toBeNull();
      expect(warn).not.toHaveBeenCalled();
    });
  });

  describe('round trips', () => {
    it('sends exactly one statement per operation', async () => {
      const pool = new pg.Pool({ connectionString: databaseUrl(), max: 4 });
      const sent: string[] = [];
      const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
      (pool as unknown as { query: unknown }).query = (config: unknown, ...rest: unknown[]) => {
        sent.push(typeof config === 'string' ? config : (config as { text: string }).text);
        return query(config, ...rest);
      };
      const counted = make({ pool });
      try {
        await counted.read(storageKey()); // creates the tables, once
        expect(sent).toHaveLength(2);
        expect(sent[0]).toMatch(/pg_advisory_xact_lock/);

        const [id, newId, who] = [storageKey(), storageKey(), owner()];
        const count = async (call: () => Promise<unknown>) => {
          sent.length = 0;
          await call();
          return sent.length;
        };
        const delta = { set: { b: 2 }, unset: ['a'] };
        const counts = {
          write: await count(() => counted.write(id, { a: 1 }, 60)),
          read: await count(() => counted.read(id)),
          readAndTouch: await count(() => counted.readAndTouch(id, 60)),
          touch: await count(() => counted.touch(id, 60)),
          patch: await count(() => counted.patch(id, delta, 60)),
          indexAdd: await count(() => counted.indexAdd(who, newId, 1, 60)),
          move: await count(() => counted.move(id, newId, delta, 60)),
          indexList: await count(() => counted.indexList(who)),
          indexRemove: await count(() => counted.indexRemove(who, newId)),
          indexDestroy: await count(() => counted.indexDestroy(who, [newId, id])),
          destroy: await count(() => counted.destroy(id)),
          clear: await count(() => counted.clear()),
          prune: await count(() => counted.prune()),
        };
        expect(counts).toEqual(Object.fromEntries(Object.keys(counts).map((name) => [name, 1])));
        // None is a script of several statements.
        await count(() => counted.patch(id, delta, 60));
        expect(sent[0]).not.toMatch(/;/);
      } finally {
        await counted.close();
        await pool.end();
      }
    });
  });

  describe('pruning', () => {
    const table = 'pruned';
    const prunedRows = async () =>
      Number((await rows(`SELECT count(*) FROM "${schema}".pruned`))[0].count);

    async function expiredRows(on: PostgresBackend, n: number) {
      await Promise.all(Array.from({ length: n }, () => on.write(storageKey(), { a: 1 }, 0.001)));
      await on.indexAdd(owner(), storageKey(), 1, 0.001);
      await sleep(20);
    }

    it('deletes expired rows and past entries only, returning how many sessions it deleted', async () => {
      const pruner = make({ table });
      await pruner.clear();
      const live = storageKey();
      await pruner.write(live, { a: 1 }, 60);
      await expiredRows(pruner, 5);
      await expect(pruner.prune()).resolves.toBe(5);
      await expect(prunedRows()).resolves.toBe(1);
      await expect(
        rows(`SELECT count(*)::int AS n FROM "${schema}".pruned_user_index`),
      ).resolves.toEqual([{ n: 0 }]);
      await expect(pruner.read(live)).resolves.toEqual({ a: 1 });
    });

    it('prunes in batches, however many rows expired', async () => {
      const pruner = make({ table });
      await pruner.clear();
      await admin.query(
        `INSERT INTO "${schema}".pruned SELECT 'x' || i, '{}', now() - interval '1 minute' FROM generate_series(1, 2500) AS i`,
      );
      await expect(pruner.prune()).resolves.toBe(2500);
      await expect(prunedRows()).resolves.toBe(0);
    });

    it('is done by one instance at a time: the others skip while it holds the lock', async () => {
      const [a, b] = [make({ table }), make({ table })];
      await a.clear();
      await expiredRows(a, 4);
      const holder = await admin.connect();
      const key = new PostgresSql(schema, table).pruneLockKey;
      try {
        await holder.query(`SELECT pg_advisory_lock(${key})`);
        await expect(Promise.all([a.prune(), b.prune()])).resolves.toEqual([0, 0]);
        await expect(prunedRows()).resolves.toBe(4);
      } finally {
        await holder.query(`SELECT pg_advisory_unlock(${key})`);
        holder.release();
      }
      const done = await Promise.all([a.prune(), b.prune()]);
      expect(done.reduce((x, y) => x + y)).toBe(4);
      await expect(prunedRows()).resolves.toBe(0);
    });

    it('runs in the background on an unref’d timer, and close() stops it', async () => {
      const background = make({ table, pruneIntervalSeconds: 0.1 });
      await background.clear();
      expect((background as unknown as { pruner: NodeJS.Timeout }).pruner.hasRef()).toBe(false);
      await expiredRows(background, 3);
      // Every 100 ms: done well within 5 s, however busy the machine.
      for (let waited = 0; (await prunedRows()) > 0 && waited < 5000; waited += 50) await sleep(50);
      await expect(prunedRows()).resolves.toBe(0);
      await background.close();
      const other = make({ table });
      await expiredRows(other, 2);
      await sleep(300);
      await expect(prunedRows()).resolves.toBe(2);
    });

    it('logs a failed background prune and tries again at the next interval', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const down = make({
        connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/test`,
        pruneIntervalSeconds: 0.05,
      });
      const failed = () =>
        warn.mock.calls.filter(([text]) =>
          String(text).startsWith('Pruning expired sessions failed'),
        );
      for (let waited = 0; failed().length < 2 && waited < 5000; waited += 50) await sleep(50);
      expect(failed().length).toBeGreaterThanOrEqual(2);
      await down.close();
    });

    it('with pruneIntervalSeconds: 0 starts no timer', () => {
      expect((make({ table }) as unknown as { pruner?: unknown }).pruner).toBeUndefined();
    });
  });

  describe('connections and outages', () => {
    it('leaves a pool it was given open on close(), and ends one it opened', async () => {
      const pool = new pg.Pool({ connectionString: databaseUrl(), max: 1 });
      const borrowing = make({ pool });
      await borrowing.read(storageKey());
      await borrowing.close();
      await expect(pool.query('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
      await pool.end();

      const owning = make();
      await owning.read(storageKey());
      await owning.close();
      await expect(owning.read(storageKey())).rejects.toThrow('PostgresBackend was closed');
      await expect(owning.close()).resolves.toBeUndefined();
    });

    it('sets statement_timeout on its connections: a statement stuck on a lock fails in time', async () => {
      const quick = make({ statementTimeout: 300 });
      const id = storageKey();
      await quick.write(id, { a: 1 }, 60);
      const holder = await admin.connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM "${schema}".session WHERE id = $1 FOR UPDATE`, [id]);
        const started = Date.now();
        await expect(quick.patch(id, { set: { b: 2 }, unset: [] }, 60)).rejects.toMatchObject({
          code: '57014',
        });
        expect(Date.now() - started).toBeLessThan(1500);
      } finally {
        await holder.query('ROLLBACK');
        holder.release();
      }
      await expect(quick.patch(id, { set: { b: 2 }, unset: [] }, 60)).resolves.toBe(true);
    });

    it('times a borrowed pool’s queries out on the client side', async () => {
      jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
      const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
      const borrowing = make({ pool, statementTimeout: 200 });
      const id = storageKey();
      await borrowing.write(id, { a: 1 }, 60);
      const holder = await admin.connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM "${schema}".session WHERE id = $1 FOR UPDATE`, [id]);
        const started = Date.now();
        await expect(borrowing.touch(id, 60)).rejects.toThrow('Query read timeout');
        expect(Date.now() - started).toBeLessThan(1500);
      } finally {
        await holder.query('ROLLBACK');
        holder.release();
      }
      await expect(borrowing.read(id)).resolves.toEqual({ a: 1 });
      await borrowing.close();
      await pool.end();
    });

    it('rejects at once when PostgreSQL does not answer, and logs it once per outage', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const url = new URL(databaseUrl());
      url.hostname = '127.0.0.1';
      url.port = String(await closedPort());
      const down = make({ connectionString: url.toString(), connectionTimeout: 500 });
      for (let i = 0; i < 3; i += 1) {
        const started = Date.now();
        await expect(down.read(storageKey())).rejects.toThrow();
        expect(Date.now() - started).toBeLessThan(1000);
      }
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toContain('PostgreSQL connection error');
    });

    it('(the test helper) fails saying how to get PostgreSQL when none answers', async () => {
      const url = new URL(databaseUrl());
      url.hostname = '127.0.0.1';
      url.port = String(await closedPort());
      await expect(adminPool(url.toString())).rejects.toThrow(POSTGRES_HELP);
    });

    it('creates the tables on the next call when the first attempt failed', async () => {
      jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
      const pool = new pg.Pool({ connectionString: databaseUrl(), max: 1 });
      const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
      let failures = 1;
      (pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
        if (failures-- > 0) {
          return Promise.reject(
            Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
          );
        }
        return query(...args);
      };
      const late = make({ pool, table: 'late' });
      const id = storageKey();
      await expect(late.write(id, { a: 1 }, 60)).rejects.toThrow('ECONNREFUSED');
      await late.write(id, { a: 1 }, 60);
      await expect(late.read(id)).resolves.toEqual({ a: 1 });
      await late.close();
      await pool.end();
    });
  });
});
