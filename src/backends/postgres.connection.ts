import type { Logger } from '@nestjs/common';
import type { Pool, PoolConfig, QueryConfig, QueryResultRow } from 'pg';
import { messages } from '../session.messages.js';
import type { PostgresBackendOptions } from './postgres.backend.js';
import { loadPg } from './postgres.loader.js';

// Loaded when the PostgreSQL entry is imported (it imports this file): a
// missing pg fails there, with a message that says `npm i pg`, rather than at
// the first request.
const pg = loadPg();

const DEFAULT_STATEMENT_TIMEOUT = 1500;
const DEFAULT_CONNECTION_TIMEOUT = 2000;
/** How much longer the client waits for a reply than the server lets a statement run. */
const CLIENT_MARGIN = 500;

function positive(name: keyof PostgresBackendOptions, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(messages.postgresOption(name, 'a positive number of ms', value));
  }
  return value;
}

/**
 * @internal The pool of a PostgresBackend, and who owns it. With `pool` in
 * the options the pool is borrowed: used as its owner configured it, and left
 * open on `close()`. Otherwise this opens one (`owned`) whose connections
 * carry `statement_timeout`, with a bounded wait for a connection, errors of
 * idle connections logged once per outage (never thrown: the pool replaces
 * them), and `close()` ends it. Either way every query also has a client-side
 * timeout, so a request never waits on a server that stopped answering.
 */
export class PostgresConnection {
  readonly pool: Pool;
  private readonly owned: boolean;
  private readonly queryTimeout: number;
  private failing = false;
  private closed = false;

  constructor(
    options: PostgresBackendOptions,
    private readonly logger: Logger,
  ) {
    const statementTimeout = positive(
      'statementTimeout',
      options.statementTimeout ?? DEFAULT_STATEMENT_TIMEOUT,
    );
    const connectionTimeout = positive(
      'connectionTimeout',
      options.connectionTimeout ?? DEFAULT_CONNECTION_TIMEOUT,
    );
    if (options.pool !== undefined && !isPool(options.pool)) {
      throw new TypeError(messages.postgresOption('pool', 'a pg Pool', options.pool));
    }
    this.queryTimeout = statementTimeout + CLIENT_MARGIN;
    this.owned = !options.pool;
    this.pool = options.pool ?? this.open(options, statementTimeout, connectionTimeout);
  }

  /** Runs one statement (one round trip): a pooled connection, never a transaction of several. */
  async query<R extends QueryResultRow>(
    text: string,
    values?: unknown[],
    name?: string,
  ): Promise<R[]> {
    const { rows } = (await this.send(text, values, name)) as { rows: R[] };
    return rows;
  }

  /**
   * Runs several statements in one round trip (the simple query protocol:
   * PostgreSQL runs them as one transaction, each with its own snapshot).
   * No parameters: the text must hold its values as literals. Resolves the
   * rows of the last statement.
   */
  async script<R extends QueryResultRow>(text: string): Promise<R[]> {
    const results = await this.send(text);
    const last = (Array.isArray(results) ? results.at(-1) : results) as { rows: R[] };
    return last.rows;
  }

  private async send(text: string, values?: unknown[], name?: string): Promise<unknown> {
    if (this.closed) throw new Error(messages.postgresClosed());
    // query_timeout is read by pg's Client, though its types leave it out.
    const config = { text, values, name, query_timeout: this.queryTimeout } as QueryConfig;
    try {
      const result: unknown = await this.pool.query(config);
      this.recovered();
      return result;
    } catch (error) {
      this.failed(error);
      throw error;
    }
  }

  /** Ends the pool if this opened it; a `pool` passed in is left open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) await this.pool.end();
  }

  private open(
    options: PostgresBackendOptions,
    statementTimeout: number,
    connectionTimeout: number,
  ) {
    const { connectionString, host, port, user, password, database, poolOptions } = options;
    const config: PoolConfig = {
      // The pool never keeps the process alive by itself.
      allowExitOnIdle: true,
      application_name: 'pselfastapise-async',
      ...poolOptions,
      ...(connectionString !== undefined && { connectionString }),
      ...(host !== undefined && { host }),
      ...(port !== undefined && { port }),
      ...(user !== undefined && { user }),
      ...(password !== undefined && { password }),
      ...(database !== undefined && { database }),
      statement_timeout: statementTimeout,
      connectionTimeoutMillis: connectionTimeout,
    };
    const pool = new pg.Pool(config);
    // An idle connection that breaks (PostgreSQL restarted) is dropped by the
    // pool; without a listener its error would end the process.
    pool.on('error', (error: Error) => this.failed(error));
    return pool;
  }

  private failed(error: unknown): void {
    if (this.failing || !isConnectionError(error)) return;
    this.failing = true;
    this.logger.warn(messages.postgresError((error as Error).message));
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.logger.log(messages.postgresRestored());
  }
}

/** Whether `value` looks like a pg Pool (one built against another copy of pg counts too). */
function isPool(value: unknown): value is Pool {
  const pool = value as Partial<Pool> | null;
  return (
    pool !== null &&
    typeof pool === 'object' &&
    typeof pool.query === 'function' &&
    typeof pool.end === 'function'
  );
}

/**
 * Errors of the connection rather than of a statement: no SQLSTATE (refused,
 * reset, timed out on the client), or an admin shutdown / cannot-connect class.
 */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') || code.startsWith('57P');
}
