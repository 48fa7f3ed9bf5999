import { messages } from '../session.messages.js';
import { PostgresSql } from './postgres.sql.js';

const DEFAULT_TABLE = 'session';
const DEFAULT_SCHEMA = 'public';
const DEFAULT_PRUNE_INTERVAL = 900;

/** @internal The options of a PostgresBackend that name its tables and schedule its work (no pg types). */
export interface PostgresSettingsInput {
  table?: string;
  schema?: string;
  createTable?: boolean;
  pruneIntervalSeconds?: number;
}

/** @internal Those options checked, with their defaults applied. */
export interface PostgresSettings {
  sql: PostgresSql;
  createTable: boolean;
  pruneIntervalSeconds: number;
}

/** @internal The SQL of the tables named by `schema` and `table` (validated), with their defaults. */
export function postgresSqlOf(
  options: Pick<PostgresSettingsInput, 'schema' | 'table'>,
): PostgresSql {
  return new PostgresSql(options.schema ?? DEFAULT_SCHEMA, options.table ?? DEFAULT_TABLE);
}

/**
 * @internal Checks names and numbers (throwing a TypeError / RangeError that
 * names the option), so a bad option never leaves a pool open.
 */
export function postgresSettings(options: PostgresSettingsInput): PostgresSettings {
  const sql = postgresSqlOf(options);
  const { createTable = true, pruneIntervalSeconds = DEFAULT_PRUNE_INTERVAL } = options;
  if (typeof createTable !== 'boolean') {
    throw new TypeError(messages.postgresOption('createTable', 'a boolean', createTable));
  }
  if (
    typeof pruneIntervalSeconds !== 'number' ||
    !Number.isFinite(pruneIntervalSeconds) ||
    pruneIntervalSeconds < 0
  ) {
    throw new RangeError(
      messages.postgresOption(
        'pruneIntervalSeconds',
        'a number of seconds, 0 or more (0 turns pruning off)',
        pruneIntervalSeconds,
      ),
    );
  }
  return { sql, createTable, pruneIntervalSeconds };
}
