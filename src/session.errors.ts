import { ConflictException, type Logger, ServiceUnavailableException } from '@nestjs/common';

/**
 * Thrown at startup when `SessionModule` options are invalid. The message names
 * the option and says what is expected.
 */
export class SessionOptionsError extends Error {
  override readonly name = 'SessionOptionsError';
}

/**
 * Thrown by `Session.set` when a value would not come back as it was given:
 * a function, a symbol, a BigInt, `undefined`, a non-finite number, a cycle,
 * a `Map`, `Set`, class instance or typed array without `toJSON`, an array
 * hole, a `toJSON` that returns none of the JSON values, nesting deeper than
 * 2,500 levels, or the key `"__proto__"`. The message names the key and the
 * path inside the value; the session is left unchanged.
 */
export class SessionValueError extends Error {
  override readonly name = 'SessionValueError';
}

/**
 * @internal The 503 a client gets when the backend fails: the cause is logged
 * (once, here), and the client sees only `message`. A 503 passes through.
 */
export function unavailable(
  logger: Logger,
  step: string,
  error: unknown,
  message: string,
): ServiceUnavailableException {
  if (error instanceof ServiceUnavailableException) return error;
  logger.error(
    `Session ${step} failed: ${(error as Error)?.message ?? String(error)}`,
    (error as Error)?.stack,
  );
  return new ServiceUnavailableException(message);
}

/**
 * Thrown by a save that would give a user more than `maxSessionsPerUser`
 * live sessions when `onLimit` is `'reject'` (from `regenerate`, or from the
 * save after the handler). It is a `ConflictException`, so a client gets a
 * 409 unless the application catches it, around `regenerate` or in an
 * exception filter. Nothing was stored for the login: the request's session
 * is not saved afterwards.
 *
 * @example
 * try {
 *   await this.sessions.regenerate(req);
 * } catch (error) {
 *   if (error instanceof SessionLimitError) return { error: 'Log out on another device first' };
 *   throw error;
 * }
 */
export class SessionLimitError extends ConflictException {
  constructor(
    message: string,
    /** The limit that was reached (`maxSessionsPerUser`). */
    readonly limit: number,
  ) {
    super(message);
    this.name = 'SessionLimitError';
  }
}
