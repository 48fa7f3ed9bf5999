// What the PostgreSQL e2e specs share beside test/support/postgres.ts: a look
// at the rows a spec's schema holds, and a pool that counts the statements
// sent through it (round trips).
import pg from 'pg';

export function quoted(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

/**
 * Every row of `schema.table` as JSON text, sorted: what the store holds,
 * whatever its columns are called.
 */
export async function rowsOf(admin: pg.Pool, schema: string, table = 'session'): Promise<string[]> {
  const result = await admin.query<{ row: string }>(
    `SELECT row_to_json(t)::text AS row FROM ${quoted(schema)}.${quoted(table)} t`,
  );
  return result.rows.map((r) => r.row).sort();
}

/** The rows of `schema.table` that mention `text` (a storage key, say). */
export async function rowsWith(
  admin: pg.Pool,
  schema: string,
  text: string,
  table = 'session',
): Promise<string[]> {
  return (await rowsOf(admin, schema, table)).filter((row) => row.includes(text));
}

/** A pg.Pool that records the text of every statement any of its clients sends. */
export interface CountingPool extends pg.Pool {
  readonly statements: string[];
  /** The statements sent while `action` ran. */
  during(action: () => Promise<unknown>): Promise<string[]>;
}

export function countingPool(config: pg.PoolConfig): CountingPool {
  const pool = new pg.Pool(config) as CountingPool;
  const statements: string[] = [];
  Object.defineProperty(pool, 'statements', { value: statements });
  // Every statement, pool.query's included, goes through a client's query.
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const first = args[0] as string | { text?: string; name?: string };
      statements.push(typeof first === 'string' ? first : (first.text ?? first.name ?? '?'));
      return query(...args);
    };
  });
  pool.during = async (action) => {
    const from = statements.length;
    await action();
    return statements.slice(from);
  };
  return pool;
}
