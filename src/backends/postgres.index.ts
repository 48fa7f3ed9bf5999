import {
  INDEX_GRACE_MS,
  type IndexedSession,
  type IndexEntryDetails,
  type LimitedAdd,
  type SessionLimit,
} from './session-backend.js';
import { lockKey, type PostgresSql } from './postgres.sql.js';
import type { PostgresStatements } from './postgres.statements.js';

/** @internal A row of the `indexList` statement. */
export interface IndexRow {
  id: string;
  created_at: number;
  expires_at: number;
  seen_at: number;
  info: string | null;
}

/** @internal An `indexList` row as the module reads it. */
export function indexedSessionOf(row: IndexRow): IndexedSession {
  return {
    id: row.id,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    seenAt: Number(row.seen_at),
    ...(row.info !== null && { info: row.info }),
  };
}

/** @internal Runs `limitedAddSql`: one round trip. */
export async function addLimited(
  statements: PostgresStatements,
  sql: PostgresSql,
  args: LimitedAddArgs,
): Promise<LimitedAdd> {
  const text = limitedAddSql(sql, args);
  const [row] = await statements.script<{ rejected: boolean; evicted: string[] }>(text);
  return { rejected: row.rejected, evicted: row.evicted };
}

/**
 * @internal Whether `id` is still indexed for `owner`, under the owner's
 * advisory lock (one transaction, one round trip): a concurrent
 * `limitedAddSql` that may evict it has committed before the check reads.
 */
export async function hasEntry(
  statements: PostgresStatements,
  sql: PostgresSql,
  owner: string,
  id: string,
): Promise<boolean> {
  const lock = lockKey(`owner:${owner}`, sql.sessions);
  const text = `SELECT pg_advisory_xact_lock(${lock});
SELECT EXISTS (SELECT 1 FROM ${sql.entries} WHERE owner = ${literal(owner)} AND id = ${literal(id)}) AS kept`;
  const [row] = await statements.script<{ kept: boolean }>(text);
  return row.kept;
}

/** @internal What `indexAddLimited` asks of PostgreSQL. */
export interface LimitedAddArgs {
  owner: string;
  id: string;
  createdAt: number;
  ttlSeconds: number;
  details: IndexEntryDetails;
  limit: SessionLimit;
}

/** A SQL string literal of any text (E'' reads the same whatever standard_conforming_strings is). */
function literal(text: string): string {
  return `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** A number as SQL, refusing anything but a finite number. */
function number(value: number): string {
  if (!Number.isFinite(value)) throw new TypeError(`Expected a finite number, got ${value}`);
  return String(value);
}

const timestamp = (ms: number) => `to_timestamp(${number(ms)}::float8 / 1000)`;

/**
 * @internal `indexAdd` under the `maxSessionsPerUser` rule, as two
 * statements sent at once (so one transaction, one round trip): a
 * transaction-scoped advisory lock on the owner, then one statement that
 * counts the owner's other live sessions (and entries added within the
 * grace period, whose record may be on its way), ends the least recently
 * seen ones past the limit (records and entries) or refuses, and adds the
 * entry. The lock is taken in a statement of its own so that the second
 * one's snapshot, taken after the lock is granted, sees what a concurrent
 * login committed: two logins of one user run one after the other.
 * Literal values, not parameters: the simple query protocol takes none.
 */
export function limitedAddSql(sql: PostgresSql, args: LimitedAddArgs): string {
  const { sessions, entries } = sql;
  const { details, limit } = args;
  const owner = literal(args.owner);
  const id = literal(args.id);
  const replaces = limit.replaces === undefined ? 'NULL' : literal(limit.replaces);
  const info = details.info === undefined ? 'NULL' : literal(details.info);
  const lock = lockKey(`owner:${args.owner}`, sessions);
  return `SELECT pg_advisory_xact_lock(${lock});
WITH others AS (
  SELECT e.id, coalesce(e.seen_at, e.created_at) AS seen
  FROM ${entries} AS e LEFT JOIN ${sessions} AS s ON s.id = e.id AND s.expires_at > now()
  WHERE e.owner = ${owner} AND e.id <> ${id} AND e.id IS DISTINCT FROM ${replaces}
    AND e.deadline > now()
    AND (s.id IS NOT NULL
      OR coalesce(e.seen_at, e.created_at) > now() - make_interval(secs => ${INDEX_GRACE_MS / 1000}))
), excess AS (
  SELECT greatest((SELECT count(*) FROM others) + 1 - ${number(limit.max)}, 0) AS n
), decision AS (
  SELECT ${limit.onLimit === 'reject'} AND n > 0 AS rejected, n FROM excess
), victims AS (
  SELECT id FROM others WHERE NOT (SELECT rejected FROM decision)
  ORDER BY seen, id LIMIT (SELECT n FROM decision)
), ended_entries AS (
  DELETE FROM ${entries} WHERE owner = ${owner} AND id IN (SELECT id FROM victims)
), ended AS (
  DELETE FROM ${sessions} WHERE id IN (SELECT id FROM victims)
), pruned AS (
  DELETE FROM ${entries} WHERE owner = ${owner} AND deadline <= now() AND id <> ${id}
), added AS (
  INSERT INTO ${entries} AS e (owner, id, created_at, deadline, seen_at, info)
  SELECT ${owner}, ${id}, ${timestamp(args.createdAt)},
    now() + make_interval(secs => ${number(args.ttlSeconds)}::float8), ${timestamp(details.seenAt)}, ${info}
  WHERE NOT (SELECT rejected FROM decision)
  ON CONFLICT (owner, id) DO UPDATE SET created_at = excluded.created_at,
    deadline = excluded.deadline, seen_at = excluded.seen_at, info = coalesce(excluded.info, e.info)
)
SELECT (SELECT rejected FROM decision) AS rejected, array(SELECT id FROM victims) AS evicted`;
}
