import { Logger } from '@nestjs/common';
import type { Pool, PoolConfig } from 'pg';
import { messages } from '../session.messages.js';
import { decode, deltaParams, encode, seconds, type Applied } from './postgres.codec.js';
import { PostgresConnection } from './postgres.connection.js';
import { addLimited, hasEntry, indexedSessionOf, type IndexRow } from './postgres.index.js';
import type { PostgresSql } from './postgres.sql.js';
import { postgresSettings, postgresSqlOf } from './postgres.settings.js';
import { PostgresStatements } from './postgres.statements.js';
import {
  SessionBackend,
  type IndexedSession,
  type IndexEntryDetails,
  type LimitedAdd,
  type SessionData,
  type SessionDelta,
  type SessionLimit,
} from './session-backend.js';

/**
 * Options of {@link PostgresBackend}. Pass `pool`, or connection settings
 * (`connectionString`, or `host` / `port` / `user` / `password` /
 * `database`), not both; with neither, pg's defaults and `PG*` environment
 * variables apply.
 */
export interface PostgresBackendOptions {
  /** A `postgres://` URL. Ignored with `pool`. */
  connectionString?: string;
  /** Ignored with `connectionString` or `pool`. */
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /**
   * An existing `pg.Pool`. The backend uses it as configured (add
   * `statement_timeout` there) and leaves it open on `close()`: its owner
   * ends it.
   */
  pool?: Pool;
  /** The sessions table; the user index lives beside it, in `table + '_user_index'`. Default `'session'`. */
  table?: string;
  /** The schema of both tables. Default `'public'`. */
  schema?: string;
  /**
   * Create the tables and their indexes when missing, on first use (safe when
   * several instances start at once). Default `true`. Turn it off when
   * migrations create them, with the SQL of {@link PostgresBackend.schemaSql}.
   */
  createTable?: boolean;
  /**
   * Seconds between deletions of expired rows, in the background, by one
   * instance at a time (an advisory lock). Default 900; `0` turns it off.
   * Expired rows are never served either way.
   */
  pruneIntervalSeconds?: number;
  /**
   * Longest a statement may run, in milliseconds, set on the connections the
   * backend opens (`statement_timeout`); every query also gives up on the
   * client side shortly after. Default 1500.
   */
  statementTimeout?: number;
  /** Longest wait for a connection of the pool the backend opens, in milliseconds. Default 2000. */
  connectionTimeout?: number;
  /** Further pg pool options (`ssl`, `max`...) for the pool the backend opens. */
  poolOptions?: PoolConfig;
}

/**
 * Sessions in PostgreSQL through pg (node-postgres), in the database the
 * application already runs. One row per session (the storage key, the data
 * as jsonb, and `expires_at`), so a read, a write or a touch is one
 * statement, and changes made by overlapping requests are merged atomically
 * in one UPDATE (`patch`) without losing either. A user index (for
 * `userKey`) lives in a second table; listing a user's sessions is one query.
 *
 * Expired rows are never served; they are deleted in the background every
 * `pruneIntervalSeconds` by one instance at a time. When PostgreSQL is down,
 * calls reject within `statementTimeout` (the module answers 503) and the
 * pool reconnects by itself once it is back. A pool the backend opened is
 * ended on application shutdown; a `pool` passed in is left open. A record
 * the backend cannot decode is logged (without its content) and removed, and
 * reads as missing. Importing this entry requires `pg` (`npm i pg`).
 *
 * @example
 * import { PostgresBackend } from 'pselfastapise-async/backends/postgres';
 * SessionModule.forRoot({
 *   secretKey,
 *   backend: new PostgresBackend({ connectionString: process.env.DATABASE_URL }),
 * })
 */
export class PostgresBackend extends SessionBackend {
  private readonly logger = new Logger(PostgresBackend.name);
  private readonly statements: PostgresStatements;
  private readonly sql: PostgresSql;
  private readonly connection: PostgresConnection;
  private readonly pruner: NodeJS.Timeout | undefined;
  private pruning: Promise<number> | undefined;

  constructor(options: PostgresBackendOptions = {}) {
    super();
    // Names and numbers are checked first, so a bad option never leaves a pool open.
    const { sql, createTable, pruneIntervalSeconds } = postgresSettings(options);
    this.connection = new PostgresConnection(options, this.logger);
    this.statements = new PostgresStatements(sql, this.connection, createTable);
    this.sql = sql;
    if (pruneIntervalSeconds > 0) {
      this.pruner = setInterval(() => this.pruneInBackground(), pruneIntervalSeconds * 1000);
      this.pruner.unref();
    }
  }

  /**
   * The SQL that creates the tables and indexes for these options (`schema`
   * and `table`; the rest is ignored), every statement `IF NOT EXISTS`: for
   * applications that manage their schema with migrations (then pass
   * `createTable: false`).
   *
   * @example
   * await queryRunner.query(PostgresBackend.schemaSql({ table: 'session' }));
   */
  static schemaSql(options: Pick<PostgresBackendOptions, 'schema' | 'table'> = {}): string {
    return postgresSqlOf(options).schemaSql();
  }

  /** The record, or null when missing or expired; an unreadable one is logged, removed and read as null. */
  async read(id: string): Promise<SessionData | null> {
    return this.load(id, await this.statements.run<{ data: string }>('read', [id]));
  }

  /** `read` and `touch` in one statement (UPDATE ... RETURNING). */
  override async readAndTouch(id: string, ttlSeconds: number): Promise<SessionData | null> {
    const rows = await this.statements.run<{ data: string }>('readAndTouch', [
      id,
      seconds(ttlSeconds),
    ]);
    return this.load(id, rows);
  }

  async write(id: string, data: SessionData, ttlSeconds: number): Promise<void> {
    await this.statements.run('write', [id, encode(data), seconds(ttlSeconds)]);
  }

  /** Moves the expiry of a live record; the data is not rewritten. */
  override async touch(id: string, ttlSeconds: number): Promise<void> {
    await this.statements.run('touch', [id, seconds(ttlSeconds)]);
  }

  async destroy(id: string): Promise<void> {
    await this.statements.run('destroy', [id]);
  }

  /**
   * One UPDATE: the changed members of the stored jsonb are replaced,
   * removed or added server-side, never decoding a session value; the row
   * lock makes overlapping patches apply one after the other. Resolves false
   * for a missing or expired record (nothing is created), and for an
   * unreadable one, which the same statement removes.
   */
  override async patch(id: string, delta: SessionDelta, ttlSeconds: number): Promise<boolean> {
    const params = [id, seconds(ttlSeconds), ...deltaParams(delta)];
    return this.applied(id, await this.statements.run<Applied>('patch', params));
  }

  /**
   * Moves the record of `oldId` to `newId` with `delta` applied to what is
   * stored, in one statement (a DELETE ... RETURNING feeding an INSERT), only
   * if `oldId` has a live record; resolves whether it did.
   */
  override async move(
    oldId: string,
    newId: string,
    delta: SessionDelta,
    ttlSeconds: number,
  ): Promise<boolean> {
    const params = [oldId, seconds(ttlSeconds), ...deltaParams(delta), newId];
    return this.applied(oldId, await this.statements.run<Applied>('move', params));
  }

  /** Removes every row of this backend's two tables (and nothing else). */
  async clear(): Promise<void> {
    await this.statements.run('clear');
  }

  /**
   * User index: a row per (owner, storage key) in `table + '_user_index'`,
   * with the session's creation time and a deadline `ttlSeconds` from now.
   * The same statement drops the owner's entries past their deadline.
   */
  override async indexAdd(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details?: IndexEntryDetails,
  ): Promise<void> {
    await this.statements.run('indexAdd', [
      owner,
      id,
      createdAt,
      seconds(ttlSeconds),
      details?.seenAt ?? Date.now(),
      details?.info ?? null,
    ]);
  }

  /**
   * `indexAdd` under `maxSessionsPerUser`: one transaction (one round trip)
   * that locks the owner, counts and ends sessions past the limit (records
   * and entries) or refuses, and adds the entry.
   */
  override indexAddLimited(
    owner: string,
    id: string,
    createdAt: number,
    ttlSeconds: number,
    details: IndexEntryDetails,
    limit: SessionLimit,
  ): Promise<LimitedAdd> {
    const args = { owner, id, createdAt, ttlSeconds: seconds(ttlSeconds), details, limit };
    return addLimited(this.statements, this.sql, args);
  }

  /** Whether `id` is still indexed for `owner`, read under the owner's lock (see `indexAddLimited`). */
  override indexHas(owner: string, id: string): Promise<boolean> {
    return hasEntry(this.statements, this.sql, owner, id);
  }

  override async indexRemove(owner: string, id: string): Promise<void> {
    await this.statements.run('indexRemove', [owner, id]);
  }

  /**
   * The live sessions of `owner`, in one query joining the sessions table;
   * entries whose session is missing or expired are left out (and left in
   * place: the module indexes a session just before writing it).
   */
  override async indexList(owner: string): Promise<IndexedSession[]> {
    const rows = await this.statements.run<IndexRow>('indexList', [owner]);
    return rows.map(indexedSessionOf);
  }

  /** Ends sessions `ids` of `owner` and drops their entries, in one statement. */
  override async indexDestroy(owner: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.statements.run('indexDestroy', [owner, [...ids]]);
  }

  /**
   * Deletes expired sessions and index entries past their deadline, if no
   * other instance is pruning this table right now (an advisory lock, never
   * waited for). Resolves how many sessions it deleted: 0 when another
   * instance held the lock. Runs in batches, each one statement well within
   * `statementTimeout`. The background pruning calls this.
   */
  prune(): Promise<number> {
    return this.statements.prune();
  }

  /** Stops the background pruning; ends the pool if the backend opened it (a `pool` passed in is left open). */
  override async close(): Promise<void> {
    clearInterval(this.pruner);
    await this.pruning;
    await this.connection.close();
  }

  private pruneInBackground(): void {
    if (this.pruning) return;
    this.pruning = this.prune()
      .catch((error: unknown) => {
        this.logger.warn(messages.postgresPruneFailed((error as Error).message));
        return 0;
      })
      .finally(() => {
        this.pruning = undefined;
      });
  }

  /** Decodes a fetched record; an unreadable one is logged and removed (unless rewritten meanwhile). */
  private async load(id: string, rows: { data: string }[]): Promise<SessionData | null> {
    if (rows.length === 0) return null;
    const data = decode(rows[0].data);
    if (data !== undefined) return data;
    this.logger.warn(messages.corruptRecord(id));
    await this.statements.run('removeUnreadable', [id, rows[0].data]);
    return null;
  }

  private applied(id: string, [result]: Applied[]): boolean {
    if (result.unreadable) this.logger.warn(messages.corruptRecord(id));
    return result.done;
  }
}
