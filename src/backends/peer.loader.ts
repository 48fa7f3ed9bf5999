import { createRequire } from 'node:module';

/**
 * @internal Loads the optional peer dependency `name` synchronously, resolved
 * from this package's own location, and turns "not installed" into an error
 * with `missing()` as its message (which says what to install).
 *
 * This one source compiles to both builds, so it cannot use `import.meta.url`
 * (a syntax error in CommonJS) nor rely on `require` (absent in ES modules). A
 * static `import` of the peer would fail in the ESM build before any of our
 * code runs, with Node's bare "Cannot find package" error. Instead the file's
 * own location comes from `__filename` in CommonJS and from the V8 call site
 * of this function in ES modules, and `createRequire` resolves the peer from
 * there (ioredis and pg are CommonJS, so ESM and CJS users share one instance).
 */
export function loadPeer<T>(name: string, missing: () => string): T {
  const require = createRequire(ownLocation());
  try {
    return require(name) as T;
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'MODULE_NOT_FOUND' && message.includes(`'${name}'`)) {
      throw new Error(missing(), { cause: error });
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
    // The first frame left is loadPeer, which lives in this file.
    const file = holder.stack?.[0]?.getFileName();
    if (file) return file;
  } finally {
    Error.prepareStackTrace = prepareStackTrace;
    Error.stackTraceLimit = stackTraceLimit;
  }
  return `${process.cwd()}/`;
}
