// What the PostgreSQL tests share: where the server is, a schema of each
// file's own, and the failure (never a skip) when there is no server.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_HELP =
  'PostgreSQL is required for these tests and none answered: start the local cluster ' +
  '(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start; Debian: ' +
  'apt-get install postgresql) or point DATABASE_URL at a server you may create schemas on ' +
  '(postgres://postgres@127.0.0.1:5432/test).';

/** The test database: DATABASE_URL when set, else the local server. */
export function databaseUrl(): string {
  return process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
}

/** A schema name no other test file uses (lower case: a plain SQL identifier). */
export function uniqueSchema(file: string): string {
  return `test_${file.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(4).toString('hex')}`.toLowerCase();
}

/**
 * A pool on the test database, checked with one query: with no server, this
 * fails with POSTGRES_HELP (and the cause) rather than the bare connection error.
 */
export async function adminPool(url = databaseUrl()): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 3000 });
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end();
    throw new Error(`${POSTGRES_HELP} (${(error as Error).message})`, { cause: error });
  }
  return pool;
}

/** Drops `schema` with everything in it. */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
