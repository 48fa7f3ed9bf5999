/**
 * Thrown at startup when `SessionModule` options are invalid. The message names
 * the option and says what is expected.
 */
export class SessionOptionsError extends Error {
  override readonly name = 'SessionOptionsError';
}

/**
 * Thrown by `Session.set` (and at save) when a value cannot be represented as
 * JSON: a function, a symbol, a BigInt, a non-finite number or a cycle. The
 * session is left unchanged.
 */
export class SessionValueError extends Error {
  override readonly name = 'SessionValueError';
}
