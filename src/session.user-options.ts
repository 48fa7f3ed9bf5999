import { hasSessionLimit } from './backends/backend-capabilities.js';
import type { SessionBackend } from './backends/session-backend.js';
import { SessionOptionsError } from './session.errors.js';
import { messages } from './session.messages.js';
import type { ResolvedSessionOptions, SessionModuleOptions } from './session.options.js';

/** @internal `describe`, `maxSessionsPerUser` and `onLimit`: each needs `userKey`. */
export function resolveUserOptions(
  options: SessionModuleOptions,
  backend: SessionBackend,
): Pick<ResolvedSessionOptions, 'describe' | 'maxSessionsPerUser' | 'onLimit'> {
  const { describe, maxSessionsPerUser, userKey } = options;
  const onLimit = options.onLimit ?? 'evict-oldest';
  if (describe !== undefined && typeof describe !== 'function') {
    throw new SessionOptionsError(
      messages.invalidOption('describe', 'a function (request) => object', describe),
    );
  }
  if (
    maxSessionsPerUser !== undefined &&
    (typeof maxSessionsPerUser !== 'number' ||
      !Number.isSafeInteger(maxSessionsPerUser) ||
      maxSessionsPerUser < 1)
  ) {
    throw new SessionOptionsError(
      messages.invalidOption('maxSessionsPerUser', 'a positive integer', maxSessionsPerUser),
    );
  }
  if (onLimit !== 'evict-oldest' && onLimit !== 'reject') {
    throw new SessionOptionsError(
      messages.invalidOption('onLimit', "'evict-oldest' or 'reject'", onLimit),
    );
  }
  for (const [name, value] of [
    ['describe', describe],
    ['maxSessionsPerUser', maxSessionsPerUser],
    ['onLimit', options.onLimit],
  ] as const) {
    if (value !== undefined && userKey === undefined) {
      throw new SessionOptionsError(messages.needsUserKey(name));
    }
  }
  if (maxSessionsPerUser !== undefined && !hasSessionLimit(backend)) {
    throw new SessionOptionsError(messages.noSessionLimit(backend));
  }
  return { describe, maxSessionsPerUser, onLimit };
}
