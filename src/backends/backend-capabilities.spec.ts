import { capabilitiesOf, hasNativeTouch } from './backend-capabilities.js';
import { MemoryBackend } from './memory.backend.js';
import { SessionBackend, type SessionData } from './session-backend.js';

/** The four required methods and nothing else. */
class FourMethods extends SessionBackend {
  async read(): Promise<SessionData | null> {
    return null;
  }
  async write(): Promise<void> {}
  async destroy(): Promise<void> {}
  async clear(): Promise<void> {}
}

describe('backend capabilities', () => {
  it('tells the default touch from a backend’s own', () => {
    expect(hasNativeTouch(new FourMethods())).toBe(false);
    expect(hasNativeTouch(new MemoryBackend())).toBe(true);
    class Subclass extends MemoryBackend {}
    expect(hasNativeTouch(new Subclass())).toBe(true);
  });

  it('sees a touch defined on the instance, or on a class that happens to share our name', () => {
    class WithField extends FourMethods {
      override touch = async (): Promise<void> => undefined;
    }
    expect(hasNativeTouch(new WithField())).toBe(true);
    const patched = Object.assign(new FourMethods(), { touch: async () => undefined });
    expect(hasNativeTouch(patched)).toBe(true);
    const Named = {
      SessionBackend: class extends FourMethods {
        override async touch(): Promise<void> {}
      },
    }.SessionBackend;
    expect(Named.name).toBe('SessionBackend');
    expect(hasNativeTouch(new Named())).toBe(true);
  });

  it('looks through a Proxy around a backend', () => {
    expect(hasNativeTouch(new Proxy(new FourMethods(), {}))).toBe(false);
    expect(hasNativeTouch(new Proxy(new MemoryBackend(), {}))).toBe(true);
  });

  it('resolves each optional capability once: the backend itself, or nothing', () => {
    const memory = new MemoryBackend();
    const caps = capabilitiesOf(memory);
    expect([caps.readAndTouch, caps.patch, caps.move, caps.index]).toEqual([
      memory,
      memory,
      memory,
      memory,
    ]);
    const bare = capabilitiesOf(new FourMethods());
    expect([bare.readAndTouch, bare.patch, bare.move, bare.index, bare.nativeTouch]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      false,
    ]);
  });
});
