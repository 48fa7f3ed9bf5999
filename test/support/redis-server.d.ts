/** Types of the plain-JavaScript helpers in redis-server.js. */
export declare const REDIS_HELP: string;

/** A throwaway redis-server started by {@link startRedis}. */
export interface RedisServer {
  port: number;
  pid: number | undefined;
  url: string;
  stop(): Promise<void>;
}

export declare function freePort(): Promise<number>;
export declare function redisAnswers(
  host: string,
  port: number,
  timeoutMs?: number,
): Promise<boolean>;
export declare function hasRedisServer(): boolean;
export declare function startRedis(port: number, extraArgs?: string[]): Promise<RedisServer>;
