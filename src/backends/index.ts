export {
  SessionBackend,
  type IndexedSession,
  type IndexEntryDetails,
  type LimitedAdd,
  type SessionData,
  type SessionLimit,
  type SessionDelta,
} from './session-backend.js';
export { MemoryBackend, type MemoryBackendOptions } from './memory.backend.js';
export type {
  MoveCapability,
  PatchCapability,
  ReadAndTouchCapability,
  SessionLimitCapability,
  UserIndexCapability,
} from './backend-capabilities.js';
