import { MemoryBackend } from '../backends/memory.backend.js';
import { describeSessionBackend } from './describe-session-backend.js';
import type { BackendCapability } from './suite-context.js';

describe('describeSessionBackend', () => {
  it('says where it must be called from when the test globals are missing', () => {
    const scope = globalThis as Record<string, unknown>;
    const saved = { describe: scope.describe, beforeAll: scope.beforeAll };
    delete scope.describe;
    delete scope.beforeAll;
    try {
      expect(() => describeSessionBackend('Mine', () => new MemoryBackend())).toThrow(
        /must be called from a test file run by Jest .*missing here: describe, beforeAll/,
      );
    } finally {
      Object.assign(scope, saved);
    }
  });

  it("refuses an async factory with capabilities 'auto', naming the way out", async () => {
    const backend = new MemoryBackend();
    const closed = new Promise<void>((resolve) => {
      backend.close = async () => resolve();
    });
    expect(() =>
      describeSessionBackend('Mine', async () => backend, { capabilities: 'auto' }),
    ).toThrow(/the factory must return the backend at once, not a promise.*list the capabilities/);
    // What the refused factory created is released.
    await closed;
  });

  it('refuses an unknown capability, listing the known ones', () => {
    const capabilities = ['patch', 'rename'] as unknown as BackendCapability[];
    expect(() =>
      describeSessionBackend('Mine', () => new MemoryBackend(), { capabilities }),
    ).toThrow(/unknown capability rename; expected 'auto' or a list of readAndTouch, patch/);
  });

  it('refuses a factory result that is neither a backend nor a target', () => {
    expect(() =>
      describeSessionBackend('Mine', () => ({}) as MemoryBackend, { capabilities: 'auto' }),
    ).toThrow(/return the backend, or \{ backend, foreign\?/);
  });
});
