import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import { messages } from '../session.messages.js';

/** @internal What `require('ioredis')` returns (ioredis 5 and 6 are CommonJS). */
export type IORedisModule = typeof IORedis;

/**
 * @internal Loads ioredis synchronously, resolved from this package's own
 * location, and turns "not installed" into an error that says what to do.
 *
 * This one source compiles to both builds, so it cannot use `import.meta.url`
 * (a syntax error in CommonJS) nor rely on `require` (absent in ES modules). A
 * static `import 'ioredis'` would fail in the ESM build before any of our code
 * runs, with Node's bare "Cannot find package" error. Instead the file's own
 * location comes from `__filename` in CommonJS and from the V8 call site of
 * this function in ES modules, and `createRequire` resolves ioredis from there
 * (ioredis is CommonJS, so ESM and CJS users share one instance of it).
 */
export function loadIORedis(): IORedisModule {
  const require = createRequire(ownLocation());
  try {
    return require('ioredis') as IORedisModule;
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'MODULE_NOT_FOUND' && message.includes("'ioredis'")) {
      throw new Error(messages.ioredisMissing(), { cause: error });
    }
    throw error;
  }
}

function ownLocation(): string {
  if (typeof __filename === 'string') return __filename;
  const { prepareStackTrace, stackTraceLimit } = Error;
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    Error.stackTraceLimit = 1;
    const holder: { stack?: NodeJS.CallSite[] } = {};
    Error.captureStackTrace(holder, ownLocation);
    // The first frame left is loadIORedis, which lives in this file.
    const file = holder.stack?.[0]?.getFileName();
    if (file) return file;
  } finally {
    Error.prepareStackTrace = prepareStackTrace;
    Error.stackTraceLimit = stackTraceLimit;
  }
  return `${process.cwd()}/`;
}
