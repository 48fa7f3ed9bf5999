import { describeSessionBackend } from '../../src/testing/index.js';
import { MapBackend } from '../support/map-backend.js';

// A custom backend with only the four abstract methods passes the same suite,
// called as a custom backend's author calls it.
describeSessionBackend(
  'Custom Map-based',
  () => {
    const other = new MapBackend();
    return {
      backend: new MapBackend(),
      foreign: {
        put: () => other.write('foreign-key', { mine: false }, 60),
        survives: async () => (await other.read('foreign-key')) !== null,
      },
    };
  },
  { capabilities: 'auto' },
);
