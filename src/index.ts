export { SessionModule } from './session.module.js';
export { SessionService } from './session.service.js';
export { SessionInterceptor } from './session.interceptor.js';
export { Session } from './decorators/index.js';
export {
  sessionMiddleware,
  SessionMiddleware,
  type SessionRequestHandler,
} from './session.middleware.js';
export { SessionCookie } from './session.cookie-view.js';
export type { SessionCallback } from './session.state.js';
export { SESSION_BACKEND, SESSION_OPTIONS } from './session.constants.js';
export {
  type ResolvedSessionOptions,
  type SessionCookieOptions,
  type SessionCookiePriority,
  type SessionModuleOptions,
  type SessionLimitPolicy,
  type SessionSameSite,
  type SessionTransport,
} from './session.options.js';
export { SessionLimitError, SessionOptionsError, SessionValueError } from './session.errors.js';
export { type SessionEndReason, type SessionEvent } from './session.events.js';
export { type UserSession } from './session.service.js';
export { storageKeyOf } from './session.signer.js';
export {
  MemoryBackend,
  SessionBackend,
  type MemoryBackendOptions,
  type MoveCapability,
  type PatchCapability,
  type IndexedSession,
  type IndexEntryDetails,
  type LimitedAdd,
  type ReadAndTouchCapability,
  type SessionData,
  type SessionDelta,
  type SessionLimit,
  type SessionLimitCapability,
  type UserIndexCapability,
} from './backends/index.js';
