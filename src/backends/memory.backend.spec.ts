import { MemoryBackend } from './memory.backend.js';

describe('MemoryBackend', () => {
  it('evicts the least recently used session past maxSessions', async () => {
    const backend = new MemoryBackend({ maxSessions: 3 });
    for (const id of ['a', 'b', 'c']) await backend.write(id, { id }, 60);
    await backend.read('a'); // a is now the most recently used
    await backend.write('d', { id: 'd' }, 60);
    expect(backend.size).toBe(3);
    expect(await backend.read('b')).toBeNull();
    expect(await backend.read('a')).toEqual({ id: 'a' });
    expect(await backend.read('d')).toEqual({ id: 'd' });
    await backend.close();
  });

  it('stays bounded under many writes', async () => {
    const backend = new MemoryBackend({ maxSessions: 100 });
    for (let i = 0; i < 5000; i += 1) await backend.write(`s${i}`, { i }, 60);
    expect(backend.size).toBe(100);
    expect(await backend.read('s4999')).toEqual({ i: 4999 });
    await backend.close();
  });

  it('sweeps expired sessions', async () => {
    const backend = new MemoryBackend();
    await backend.write('short', { a: 1 }, 0.05);
    await backend.write('long', { a: 2 }, 60);
    await new Promise((resolve) => setTimeout(resolve, 80));
    backend.sweep();
    expect(backend.size).toBe(1);
    await backend.close();
  });

  it.each([
    [{ maxSessions: 0 }, /maxSessions/],
    [{ maxSessions: 1.5 }, /maxSessions/],
    [{ sweepIntervalSeconds: 0 }, /sweepIntervalSeconds/],
  ])('refuses invalid options %j', (options, message) => {
    expect(() => new MemoryBackend(options)).toThrow(message);
  });
});
