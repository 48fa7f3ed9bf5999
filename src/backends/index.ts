export {
  SessionBackend,
  type IndexedSession,
  type SessionData,
  type SessionDelta,
} from './session-backend.js';
export { MemoryBackend, type MemoryBackendOptions } from './memory.backend.js';
