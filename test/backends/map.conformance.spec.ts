import { MapBackend } from '../support/map-backend.js';
import { describeBackendConformance } from './backend-conformance.js';

// A custom backend with only the four abstract methods must pass the same suite.
describeBackendConformance(
  'Custom Map-based',
  async () => {
    const backend = new MapBackend();
    const other = new MapBackend();
    return {
      backend,
      foreign: {
        put: () => other.write('foreign-key', { mine: false }, 60),
        survives: async () => (await other.read('foreign-key')) !== null,
      },
    };
  },
  [],
);
