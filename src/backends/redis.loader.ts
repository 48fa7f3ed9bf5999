import type * as IORedis from 'ioredis';
import { messages } from '../session.messages.js';
import { loadPeer } from './peer.loader.js';

/** @internal What `require('ioredis')` returns (ioredis 5 and 6 are CommonJS). */
export type IORedisModule = typeof IORedis;

/**
 * @internal Loads ioredis synchronously (see `loadPeer`); when it is not
 * installed, fails with a message saying `npm i ioredis`.
 */
export function loadIORedis(): IORedisModule {
  return loadPeer<IORedisModule>('ioredis', messages.ioredisMissing);
}
