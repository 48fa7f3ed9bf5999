import { messages } from '../session.messages.js';

const SCAN_COUNT = 500;

/**
 * @internal Where RedisBackend keeps what, every key under `prefix`:
 *
 * - a session at `prefix + id`, or `prefix + '{' + id + '}'` on a Cluster (a
 *   hash tag, so the key's slot depends on the id alone);
 * - a user index at `prefix + 'user:{' + owner + '}'` (a hash), the same
 *   key plus `':d'` (a sorted set) and plus `':i'` (a hash of descriptions),
 *   all in the owner's slot.
 *
 * The prefix must not be empty (`clear()` would remove everything) and, on a
 * Cluster, must not hold an empty hash tag: Redis hashes a whole key whose
 * first "{" is closed at once ("{}"), so the two keys of a user index would
 * land in different slots.
 */
export class RedisKeys {
  constructor(
    readonly prefix: string,
    private readonly cluster: boolean,
  ) {
    if (typeof prefix !== 'string' || prefix === '') {
      throw new TypeError(messages.redisOption('prefix', 'a non-empty string', prefix));
    }
    if (cluster && /^[^{]*\{\}/.test(prefix)) {
      throw new TypeError(
        messages.redisOption(
          'prefix',
          'a prefix without an empty hash tag "{}" on a Cluster',
          prefix,
        ),
      );
    }
  }

  /** The key of session `id`. */
  session(id: string): string {
    return this.cluster ? `${this.prefix}{${id}}` : this.prefix + id;
  }

  /** The index hash of `owner`, its sorted set of deadlines and its descriptions, in one slot. */
  index(owner: string): [hash: string, deadlines: string, descriptions: string] {
    const hash = `${this.prefix}user:{${owner}}`;
    return [hash, `${hash}:d`, `${hash}:i`];
  }

  /** A SCAN pattern matching every key under the prefix, as stored by a client adding `keyPrefix`. */
  pattern(keyPrefix: string): string {
    return `${(keyPrefix + this.prefix).replace(/[*?[\]\\]/g, '\\$&')}*`;
  }
}

/** @internal The keyPrefix ioredis adds to every key of `client` (a Cluster's own, or its nodes'). */
export function clientKeyPrefix(client: { options: object }): string {
  const options = client.options as {
    keyPrefix?: string;
    redisOptions?: { keyPrefix?: string };
  };
  return String(options.keyPrefix ?? options.redisOptions?.keyPrefix ?? '');
}

/** @internal A node to SCAN: an ioredis `Redis` has this overload. */
export interface ScanNode {
  scan(
    cursor: string,
    match: 'MATCH',
    pattern: string,
    count: 'COUNT',
    amount: number,
  ): Promise<[cursor: string, keys: string[]]>;
}

/**
 * @internal The keys of `node` matching `pattern`, a batch per SCAN (never
 * KEYS); each key as the server holds it, the client's keyPrefix included.
 * A Cluster is scanned node by node: one call per master.
 */
export async function* scanKeys(node: ScanNode, pattern: string): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    if (keys.length > 0) yield keys;
    cursor = next;
  } while (cursor !== '0');
}
