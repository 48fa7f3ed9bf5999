import type { Logger } from '@nestjs/common';
import { toJsonValue } from './session.json.js';
import { messages } from './session.messages.js';

/** Most bytes (UTF-8) of JSON a description may take. */
export const MAX_DESCRIPTION_BYTES = 1024;

/**
 * @internal Runs the `describe` option safely: its result becomes the JSON
 * text kept with the user-index entry, or nothing (with a logged warning)
 * when it throws, returns something other than a plain object of JSON
 * values, is larger than MAX_DESCRIPTION_BYTES, or holds the session id (the
 * new one or, on `regenerate`, the old one, so also the cookie's value). A
 * description is never a reason to lose a login.
 */
export class Describer {
  constructor(
    private readonly describe: ((request: object) => Record<string, unknown>) | undefined,
    private readonly logger: Logger,
  ) {}

  /**
   * The JSON text describing the session `sessionId` of `request`, or
   * undefined. `previousId`: the id the session had before `regenerate`
   * (which the request's cookie or token still holds, signed): a description
   * holding either id, or that signed value, is refused.
   */
  describeRequest(
    request: object | undefined,
    sessionId: string,
    previousId?: string,
  ): string | undefined {
    if (!this.describe || request === undefined) return undefined;
    let value: unknown;
    try {
      value = toJsonValue('describe', this.describe(request));
    } catch (error) {
      return this.omit(`failed (${(error as Error)?.message ?? String(error)})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return this.omit('must return a plain object of JSON values');
    }
    const text = JSON.stringify(value);
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_DESCRIPTION_BYTES) {
      return this.omit(
        `returned ${bytes} bytes of JSON, more than the ${MAX_DESCRIPTION_BYTES} allowed`,
      );
    }
    if ([sessionId, previousId].some((id) => id !== undefined && id !== '' && text.includes(id))) {
      return this.omit('returned the session id, which must never be stored with the index');
    }
    return text;
  }

  private omit(reason: string): undefined {
    this.logger.warn(messages.describeFailed(reason));
    return undefined;
  }
}

/** @internal A stored description read back: a plain object, or `{}` when there is none. */
export function descriptionOf(info: string | undefined): Record<string, unknown> {
  if (info === undefined) return {};
  try {
    const value: unknown = JSON.parse(info);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
