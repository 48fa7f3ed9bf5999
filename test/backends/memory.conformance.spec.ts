import { MemoryBackend } from '../../src/backends/memory.backend.js';
import { describeBackendConformance } from './backend-conformance.js';

describeBackendConformance(
  'MemoryBackend',
  async () => {
    const backend = new MemoryBackend();
    const other = new MemoryBackend();
    return {
      backend,
      foreign: {
        put: () => other.write('foreign-key', { mine: false }, 60),
        survives: async () => (await other.read('foreign-key')) !== null,
      },
      teardown: async () => {
        await backend.close();
        await other.close();
      },
    };
  },
  ['readAndTouch', 'patch', 'move', 'close', 'index'],
);
