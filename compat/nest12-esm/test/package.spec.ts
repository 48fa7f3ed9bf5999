import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as root from 'pselfastapise-async';
import { MemoryBackend } from 'pselfastapise-async/backends/memory';

const installed = fileURLToPath(new URL('../node_modules/pselfastapise-async/', import.meta.url));

describe('pselfastapise-async in an ES-module app', () => {
  it('resolves the root entry to the ES-module build of the installed tarball', () => {
    const resolved = realpathSync(fileURLToPath(import.meta.resolve('pselfastapise-async')));
    expect(resolved).toBe(join(realpathSync(installed), 'dist', 'esm', 'index.js'));
  });

  it('loads MemoryBackend from pselfastapise-async/backends/memory, the same class as the root export', () => {
    expect(import.meta.resolve('pselfastapise-async/backends/memory')).toMatch(
      /\/dist\/esm\/backends\/memory\.backend\.js$/,
    );
    expect(MemoryBackend).toBe(root.MemoryBackend);
    expect(new MemoryBackend()).toBeInstanceOf(root.SessionBackend);
  });
});
