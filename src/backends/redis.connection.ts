import type { Logger } from '@nestjs/common';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { messages } from '../session.messages.js';
import type { RedisBackendOptions } from './redis.backend.js';
import type { ScanNode } from './redis.keys.js';
import { loadIORedis } from './redis.loader.js';

// Loaded when the Redis entry is imported (it imports this file): a missing
// ioredis fails there, with a message that says `npm i ioredis`, rather than
// at the first request.
const ioredis = loadIORedis();

/** @internal The ioredis calls RedisBackend makes; both `Redis` and `Cluster` have them. */
export type Commands = Pick<
  Redis,
  | 'get'
  | 'getex'
  | 'getdel'
  | 'set'
  | 'expire'
  | 'pexpire'
  | 'del'
  | 'evalsha'
  | 'eval'
  | 'multi'
  | 'scan'
  | 'unlink'
  | 'hdel'
  | 'hgetall'
  | 'pttl'
  | 'pipeline'
>;

const DEFAULT_COMMAND_TIMEOUT = 1500;

/**
 * @internal The Redis connection of a RedisBackend, and who owns it. With
 * `client` in the options the connection is borrowed: used as its owner
 * configured it, and left open on `close()`. Otherwise this opens one
 * (`owned`), with bounded waits: every command waits at most `commandTimeout`
 * for the connection to be ready, errors are logged once per outage, and
 * `close()` closes it.
 */
export class RedisConnection {
  readonly client: Redis | Cluster;
  readonly cluster: boolean;
  private readonly owned: boolean;
  private readonly commandTimeout: number;
  private readonly waiters = new Set<() => void>();
  private lastError: Error | undefined;
  private closed = false;

  constructor(
    options: RedisBackendOptions,
    private readonly logger: Logger,
  ) {
    const { commandTimeout = DEFAULT_COMMAND_TIMEOUT } = options;
    if (!Number.isFinite(commandTimeout) || commandTimeout <= 0) {
      throw new RangeError(
        messages.redisOption('commandTimeout', 'a positive number of ms', commandTimeout),
      );
    }
    this.commandTimeout = commandTimeout;
    this.owned = !options.client;
    this.client = options.client ?? this.connect(options);
    this.cluster = isCluster(this.client);
  }

  /**
   * Runs a command once the connection is ready, waiting at most
   * `commandTimeout` for it. Only for a connection this opened: a `client`
   * passed in behaves as its owner configured it.
   */
  async run<T>(command: (redis: Commands) => Promise<T>): Promise<T> {
    if (this.owned) await this.ready();
    return command(this.client as unknown as Commands);
  }

  /**
   * The nodes that hold keys, for SCAN: a Cluster's masters, or the one
   * connection, whose SCANs wait for it like any other command.
   */
  masters(): ScanNode[] {
    if (this.cluster) return (this.client as Cluster).nodes('master');
    return [{ scan: (...args) => this.run((redis) => redis.scan(...args)) }];
  }

  /** Closes the connection if this opened it; a `client` passed in is left open. */
  async close(): Promise<void> {
    if (!this.owned || this.closed) return;
    this.closed = true;
    for (const wake of this.waiters) wake();
    const client = this.client as Redis;
    if (client.status === 'ready') {
      try {
        await client.quit();
        return;
      } catch {
        // Fall through: drop the connection instead.
      }
    }
    client.disconnect();
  }

  private connect(options: RedisBackendOptions): Redis {
    const { host, port, db, password, url, redisOptions } = options;
    // Bounded waits and no buffering: commands are never queued while
    // disconnected (they would run late, after the caller saw them fail), and
    // nothing sent on a lost connection is replayed. `run` waits for the
    // connection itself, at most commandTimeout.
    const settings: RedisOptions = {
      commandTimeout: this.commandTimeout,
      connectTimeout: Math.max(this.commandTimeout, 2000),
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
      ...redisOptions,
      ...(host !== undefined && { host }),
      ...(port !== undefined && { port }),
      ...(db !== undefined && { db }),
      ...(password !== undefined && { password }),
    };
    const client = url ? new ioredis.Redis(url, settings) : new ioredis.Redis(settings);
    client.on('error', (error: Error) => {
      if (!this.lastError) this.logger.warn(messages.redisError(error.message));
      this.lastError = error;
    });
    client.on('ready', () => {
      if (this.lastError) this.logger.log(messages.redisRestored());
      this.lastError = undefined;
      for (const wake of this.waiters) wake();
      this.waiters.clear();
    });
    return client;
  }

  private ready(): Promise<void> {
    const client = this.client as Redis;
    if (this.closed) return Promise.reject(new Error(messages.redisClosed()));
    if (client.status === 'ready') return Promise.resolve();
    // With lazyConnect in redisOptions, nothing else would start the connection.
    if (client.status === 'wait') client.connect().catch(() => undefined);
    return new Promise((resolve, reject) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        if (this.closed) reject(new Error(messages.redisClosed()));
        else resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(
          this.lastError ?? new Error(messages.redisNotReady(client.status, this.commandTimeout)),
        );
      }, this.commandTimeout);
      this.waiters.add(wake);
    });
  }
}

/** @internal Whether `client` (given or not) is a Redis Cluster. */
export function isCluster(client: unknown): boolean {
  return (client as { isCluster?: boolean } | undefined)?.isCluster === true;
}

/** @internal Whether `error` is a Redis error reply of this kind (WRONGTYPE, NOSCRIPT...). */
export function isReplyError(error: unknown, code: string): boolean {
  return String((error as Error | undefined)?.message).startsWith(code);
}
