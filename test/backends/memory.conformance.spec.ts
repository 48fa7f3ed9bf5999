import { MemoryBackend } from '../../src/backends/memory.backend.js';
import { describeSessionBackend } from '../../src/testing/index.js';

describeSessionBackend(
  'MemoryBackend',
  () => {
    const other = new MemoryBackend();
    return {
      backend: new MemoryBackend(),
      foreign: {
        put: () => other.write('foreign-key', { mine: false }, 60),
        survives: async () => (await other.read('foreign-key')) !== null,
      },
      teardown: () => other.close(),
    };
  },
  {
    capabilities: [
      'readAndTouch',
      'patch',
      'move',
      'close',
      'index',
      'indexDestroy',
      'indexAddLimited',
    ],
  },
);
