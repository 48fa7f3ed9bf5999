import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import * as root from 'pselfastapise-async';
import { MemoryBackend } from 'pselfastapise-async/backends/memory';

const installed = join(__dirname, '..', 'node_modules', 'pselfastapise-async');

describe('pselfastapise-async in a CommonJS app', () => {
  it('resolves the root entry to the CommonJS build of the installed tarball', () => {
    const resolved = realpathSync(require.resolve('pselfastapise-async'));
    expect(resolved).toBe(join(realpathSync(installed), 'dist', 'cjs', 'index.js'));
  });

  it('loads MemoryBackend from pselfastapise-async/backends/memory, the same class as the root export', () => {
    expect(require.resolve('pselfastapise-async/backends/memory')).toMatch(
      /[\\/]dist[\\/]cjs[\\/]backends[\\/]memory\.backend\.js$/,
    );
    expect(MemoryBackend).toBe(root.MemoryBackend);
    expect(new MemoryBackend()).toBeInstanceOf(root.SessionBackend);
  });
});
