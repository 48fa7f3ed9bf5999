import { createHash } from 'node:crypto';
import { messages } from '../session.messages.js';
import type { PostgresConnection } from './postgres.connection.js';
import { PRUNE_BATCH, type PostgresSql, type Statement } from './postgres.sql.js';

/**
 * @internal Runs a PostgresBackend's statements: prepared, once its tables
 * exist (created on first use unless `createTable` is false), with the
 * errors of a missing or foreign table turned into messages that say what
 * to do.
 */
export class PostgresStatements {
  private readonly texts: Readonly<Record<Statement, string>>;
  /**
   * Each statement runs prepared, under a name unique to its text (another
   * backend on the same pool, with another table, gets other names): it is
   * planned once per connection instead of on every call.
   */
  private readonly names: Readonly<Record<Statement, string>>;
  private schemaReady: Promise<void> | undefined;
  private tablesReady = false;

  constructor(
    private readonly sql: PostgresSql,
    private readonly connection: PostgresConnection,
    private readonly createTable: boolean,
  ) {
    this.texts = sql.statements();
    this.names = Object.fromEntries(
      Object.entries(this.texts).map(([statement, text]) => [
        statement,
        `pselfastapise_${statement}_${createHash('sha1').update(text).digest('hex').slice(0, 12)}`,
      ]),
    ) as Record<Statement, string>;
  }

  /** One statement, one round trip. */
  run<R extends object = object>(statement: Statement, values?: unknown[]): Promise<R[]> {
    return this.send(() =>
      this.connection.query<R>(this.texts[statement], values, this.names[statement]),
    );
  }

  /** Several statements with literal values, one transaction, one round trip: the rows of the last. */
  script<R extends object = object>(text: string): Promise<R[]> {
    return this.send(() => this.connection.script<R>(text));
  }

  /**
   * Runs the prune statement in batches until one deletes less than a full
   * batch, or another instance holds the lock; resolves how many sessions
   * were deleted.
   */
  async prune(): Promise<number> {
    let total = 0;
    for (;;) {
      const [result] = await this.run<{ held: boolean; sessions: number; entries: number }>(
        'prune',
      );
      if (!result.held) return total;
      total += result.sessions;
      if (result.sessions < PRUNE_BATCH && result.entries < PRUNE_BATCH) return total;
    }
  }

  private async send<R>(query: () => Promise<R[]>): Promise<R[]> {
    try {
      // Once the tables exist, statements go straight out (no await per call).
      if (this.createTable && !this.tablesReady) await this.ensureTables();
      return await query();
    } catch (error) {
      const { code } = error as { code?: string };
      // 42P01: undefined_table.
      if (code === '42P01') {
        throw new Error(messages.postgresNoTable(this.sql.sessions), { cause: error });
      }
      // 42703: undefined_column: a table of that name, made by something else.
      if (code === '42703') {
        throw new Error(messages.postgresForeignTable(this.sql.sessions), { cause: error });
      }
      throw error;
    }
  }

  /** Creates the tables once; a failed attempt (PostgreSQL down) is retried by the next call. */
  private ensureTables(): Promise<void> {
    this.schemaReady ??= this.connection.query(this.sql.createSql()).then(
      () => {
        this.tablesReady = true;
      },
      (error: unknown) => {
        this.schemaReady = undefined;
        throw error;
      },
    );
    return this.schemaReady;
  }
}
