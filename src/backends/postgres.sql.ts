import { createHash } from 'node:crypto';
import { messages } from '../session.messages.js';
import { patched, readable } from './postgres.jsonb.js';

/** Identifiers PostgresBackend accepts for `schema` and `table`: plain SQL names. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** PostgreSQL truncates names past 63 bytes; the longest derived name adds 24 to `table`. */
const MAX_SCHEMA = 63;
const MAX_TABLE = 39;

/** @internal The statements of a PostgresBackend, one round trip each. */
export const STATEMENTS = [
  'read',
  'readAndTouch',
  'write',
  'touch',
  'destroy',
  'removeUnreadable',
  'patch',
  'move',
  'clear',
  'indexAdd',
  'indexRemove',
  'indexList',
  'indexDestroy',
  'prune',
] as const;

/** @internal */
export type Statement = (typeof STATEMENTS)[number];

/** Most rows one prune statement deletes, so each stays well within `statementTimeout`. */
export const PRUNE_BATCH = 1000;

/** @internal `name` double-quoted, as PostgreSQL reads an identifier exactly (case kept). */
function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function checkIdentifier(option: 'schema' | 'table', name: unknown, max: number): string {
  if (typeof name !== 'string' || !IDENTIFIER.test(name) || name.length > max) {
    throw new TypeError(
      messages.postgresOption(
        option,
        `a name of letters, digits and underscores, not starting with a digit, at most ${max} characters`,
        name,
      ),
    );
  }
  return name;
}

/** @internal A signed 64-bit advisory lock key for `purpose` on this table, as SQL. */
export function lockKey(purpose: string, qualified: string): string {
  const digest = createHash('sha256')
    .update(`pselfastapise-async:${purpose}:${qualified}`)
    .digest();
  return `${digest.readBigInt64BE(0)}`;
}

/** `$n` seconds from now (a double: fractions of a second are kept). */
const fromNow = (n: number) => `now() + make_interval(secs => $${n}::float8)`;

/** @internal */
export const toMs = (column: string) => `round(extract(epoch FROM ${column}) * 1000)::float8`;

/**
 * @internal The SQL of a PostgresBackend: the tables it keeps (named after
 * `schema` and `table`, validated and quoted) and one statement per
 * operation. Every statement is a single round trip; those that touch both
 * tables or several rows do it in one statement with data-modifying CTEs,
 * which PostgreSQL runs atomically.
 */
export class PostgresSql {
  readonly sessions: string;
  readonly entries: string;
  private readonly schema: string;
  private readonly table: string;

  constructor(schema: unknown, table: unknown) {
    this.schema = checkIdentifier('schema', schema, MAX_SCHEMA);
    this.table = checkIdentifier('table', table, MAX_TABLE);
    this.sessions = `${quote(this.schema)}.${quote(this.table)}`;
    this.entries = `${quote(this.schema)}.${quote(`${this.table}_user_index`)}`;
  }

  /** Every statement's text, built once (the backend keeps this). */
  statements(): Readonly<Record<Statement, string>> {
    return Object.freeze(
      Object.fromEntries(STATEMENTS.map((name) => [name, this[name]])) as Record<Statement, string>,
    );
  }

  /** The advisory lock that pruning takes on this table (a signed 64-bit key). */
  get pruneLockKey(): string {
    return lockKey('prune', this.sessions);
  }

  /** The CREATE statements of both tables and their indexes, each IF NOT EXISTS. */
  schemaSql(): string {
    const { sessions, entries, table, schema } = this;
    const lines: string[] = [];
    // The public schema exists, and CREATE SCHEMA needs a privilege on the database.
    if (schema !== 'public') lines.push(`CREATE SCHEMA IF NOT EXISTS ${quote(schema)};`);
    lines.push(
      `CREATE TABLE IF NOT EXISTS ${sessions} (`,
      `  id text PRIMARY KEY,`,
      `  data jsonb NOT NULL,`,
      `  expires_at timestamptz NOT NULL`,
      `);`,
      `CREATE INDEX IF NOT EXISTS ${quote(`${table}_expires_at_idx`)} ON ${sessions} (expires_at);`,
      `CREATE TABLE IF NOT EXISTS ${entries} (`,
      `  owner text NOT NULL,`,
      `  id text NOT NULL,`,
      `  created_at timestamptz NOT NULL,`,
      `  deadline timestamptz NOT NULL,`,
      `  seen_at timestamptz,`,
      `  info text,`,
      `  PRIMARY KEY (owner, id)`,
      `);`,
      // Tables made by earlier versions get the columns added since.
      `ALTER TABLE ${entries} ADD COLUMN IF NOT EXISTS seen_at timestamptz, ADD COLUMN IF NOT EXISTS info text;`,
      `CREATE INDEX IF NOT EXISTS ${quote(`${table}_user_index_deadline_idx`)} ON ${entries} (deadline);`,
    );
    return `${lines.join('\n')}\n`;
  }

  /**
   * `schemaSql` run only when a table is missing, under a transaction-scoped
   * advisory lock, as one statement: instances starting at once create the
   * tables one after the other, and the later ones find them there.
   * (Concurrent CREATE ... IF NOT EXISTS can otherwise fail on a catalog
   * unique index.) Tables that exist are left alone without a CREATE, so a
   * role without the CREATE privilege works on tables a migration made.
   */
  createSql(): string {
    const key = lockKey('schema', this.sessions);
    const missing =
      `to_regclass('${this.sessions}') IS NULL OR to_regclass('${this.entries}') IS NULL OR NOT EXISTS ` +
      `(SELECT FROM pg_attribute WHERE attrelid = to_regclass('${this.entries}') AND attname = 'info' AND NOT attisdropped)`;
    return `DO $create$
BEGIN
  IF ${missing} THEN
    PERFORM pg_advisory_xact_lock(${key});
    ${this.schemaSql().trimEnd().split('\n').join('\n    ')}
  END IF;
END
$create$`;
  }

  get read(): string {
    return `SELECT data::text AS data FROM ${this.sessions} WHERE id = $1 AND expires_at > now()`;
  }

  get readAndTouch(): string {
    return `UPDATE ${this.sessions} SET expires_at = ${fromNow(2)}
      WHERE id = $1 AND expires_at > now() RETURNING data::text AS data`;
  }

  get write(): string {
    return `INSERT INTO ${this.sessions} (id, data, expires_at) VALUES ($1, $2::jsonb, ${fromNow(3)})
      ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`;
  }

  get touch(): string {
    return `UPDATE ${this.sessions} SET expires_at = ${fromNow(2)} WHERE id = $1 AND expires_at > now()`;
  }

  get destroy(): string {
    return `DELETE FROM ${this.sessions} WHERE id = $1`;
  }

  /** Removes a record found unreadable, unless it was rewritten meanwhile. */
  get removeUnreadable(): string {
    return `DELETE FROM ${this.sessions} WHERE id = $1 AND data = $2::jsonb`;
  }

  /**
   * $1 id, $2 ttl seconds, $3 names to remove, $4 / $5 names and JSON texts
   * to set. Updates a live, readable record in place (the row lock orders
   * overlapping patches: each applies to what the one before it wrote);
   * removes an unreadable one. Creates nothing.
   */
  get patch(): string {
    const { sessions } = this;
    return `WITH patched AS (
      UPDATE ${sessions} AS s SET data = ${patched('s.data')}, expires_at = ${fromNow(2)}
      WHERE s.id = $1 AND s.expires_at > now() AND ${readable('s.data')}
      RETURNING 1
    ), unreadable AS (
      DELETE FROM ${sessions} WHERE id = $1 AND NOT ${readable('data')} RETURNING 1
    )
    SELECT EXISTS (SELECT FROM patched) AS done, EXISTS (SELECT FROM unreadable) AS unreadable`;
  }

  /**
   * As `patch`, plus $6 the new id: deletes the old row (whatever it holds)
   * and, if it was live and readable, inserts it patched under the new id.
   * Of concurrent moves of one record, the first DELETE wins; the others find
   * nothing to move.
   */
  get move(): string {
    const { sessions } = this;
    return `WITH old AS (
      DELETE FROM ${sessions} WHERE id = $1
      RETURNING data, expires_at > now() AS live, ${readable('data')} AS readable
    ), moved AS (
      INSERT INTO ${sessions} (id, data, expires_at)
      SELECT $6, ${patched('old.data')}, ${fromNow(2)} FROM old WHERE live AND readable
      ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at
      RETURNING 1
    )
    SELECT EXISTS (SELECT FROM moved) AS done,
      EXISTS (SELECT FROM old WHERE live AND NOT readable) AS unreadable`;
  }

  /**
   * Removes every row of both tables (never another table's). One statement,
   * so a concurrent reader sees both tables full or both empty.
   */
  get clear(): string {
    return `WITH entries AS (DELETE FROM ${this.entries}) DELETE FROM ${this.sessions}`;
  }

  /**
   * $1 owner, $2 id, $3 createdAt (ms since the epoch), $4 ttl seconds, $5
   * seenAt (ms), $6 the description (null keeps the one stored): adds (or
   * renews) the entry and drops the owner's entries past their deadline.
   */
  get indexAdd(): string {
    const { entries } = this;
    return `WITH ended AS (
      DELETE FROM ${entries} WHERE owner = $1 AND deadline <= now() AND id <> $2
    )
    INSERT INTO ${entries} AS e (owner, id, created_at, deadline, seen_at, info)
    VALUES ($1, $2, to_timestamp($3::float8 / 1000), ${fromNow(4)}, to_timestamp($5::float8 / 1000), $6::text)
    ON CONFLICT (owner, id) DO UPDATE SET created_at = excluded.created_at,
      deadline = excluded.deadline, seen_at = excluded.seen_at, info = coalesce(excluded.info, e.info)`;
  }

  get indexRemove(): string {
    return `DELETE FROM ${this.entries} WHERE owner = $1 AND id = $2`;
  }

  /** The owner's entries whose session is live, with the session's expiry; the others stay. */
  get indexList(): string {
    return `SELECT i.id, ${toMs('i.created_at')} AS created_at, ${toMs('s.expires_at')} AS expires_at,
        ${toMs('coalesce(i.seen_at, i.created_at)')} AS seen_at, i.info
      FROM ${this.entries} AS i JOIN ${this.sessions} AS s ON s.id = i.id
      WHERE i.owner = $1 AND s.expires_at > now()
      ORDER BY i.created_at, i.id`;
  }

  /** $1 owner, $2 ids: deletes those sessions and the owner's entries for them. */
  get indexDestroy(): string {
    return `WITH entries AS (DELETE FROM ${this.entries} WHERE owner = $1 AND id = ANY($2::text[]))
      DELETE FROM ${this.sessions} WHERE id = ANY($2::text[])`;
  }

  /**
   * Deletes up to PRUNE_BATCH expired sessions and as many index entries past
   * their deadline, only while holding this table's prune lock (taken for the
   * statement's transaction, never waited for): of several instances pruning
   * at once, one does the work. Rows a request holds are skipped, not waited
   * for.
   */
  get prune(): string {
    const { sessions, entries } = this;
    return `WITH lock AS (SELECT pg_try_advisory_xact_lock(${this.pruneLockKey}) AS held),
    sessions AS (
      DELETE FROM ${sessions} WHERE id IN (
        SELECT id FROM ${sessions} WHERE expires_at <= now() AND (SELECT held FROM lock)
        LIMIT ${PRUNE_BATCH} FOR UPDATE SKIP LOCKED)
      RETURNING 1
    ), entries AS (
      DELETE FROM ${entries} WHERE (owner, id) IN (
        SELECT owner, id FROM ${entries} WHERE deadline <= now() AND (SELECT held FROM lock)
        LIMIT ${PRUNE_BATCH} FOR UPDATE SKIP LOCKED)
      RETURNING 1
    )
    SELECT (SELECT held FROM lock) AS held,
      (SELECT count(*) FROM sessions)::int AS sessions,
      (SELECT count(*) FROM entries)::int AS entries`;
  }
}
