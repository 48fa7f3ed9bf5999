export { SessionBackend, type SessionData, type SessionDelta } from './session-backend.js';
export { MemoryBackend, type MemoryBackendOptions } from './memory.backend.js';
