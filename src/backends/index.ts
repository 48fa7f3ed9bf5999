export {
  SessionBackend,
  type IndexedSession,
  type SessionData,
  type SessionDelta,
} from './session-backend.js';
export { MemoryBackend, type MemoryBackendOptions } from './memory.backend.js';
export type {
  MoveCapability,
  PatchCapability,
  ReadAndTouchCapability,
  UserIndexCapability,
} from './backend-capabilities.js';
