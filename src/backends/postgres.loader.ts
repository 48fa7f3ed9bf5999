import type * as Pg from 'pg';
import { messages } from '../session.messages.js';
import { loadPeer } from './peer.loader.js';

/** @internal What `require('pg')` returns (pg 8 is CommonJS). */
export type PgModule = typeof Pg;

/**
 * @internal Loads pg synchronously (see `loadPeer`); when it is not
 * installed, fails with a message saying `npm i pg`.
 */
export function loadPg(): PgModule {
  return loadPeer<PgModule>('pg', messages.pgMissing);
}
