/** Types of the plain-JavaScript helper in redis-cluster.js. */
export interface RedisCluster {
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

export declare function startRedisCluster(masters?: number): Promise<RedisCluster>;
