// The Redis entry point loads in both builds compiled from the one source,
// and, when ioredis is not installed, fails with a message that says
// `npm i ioredis`. The sources are transpiled as `tsc` would for each build
// into a scratch package whose node_modules has @nestjs but (in one case) no
// ioredis, and loaded by a child Node process with require() and import().
import { rmSync } from 'node:fs';
import { loadEntry, scratchPackage } from '../support/scratch-entry.js';

const sources = [
  'backends/peer.loader.ts',
  'backends/redis.backend.ts',
  'backends/redis.codec.ts',
  'backends/redis.connection.ts',
  'backends/redis.index-script.ts',
  'backends/redis.index.ts',
  'backends/redis.keys.ts',
  'backends/redis.loader.ts',
  'backends/redis.scripts.ts',
  'backends/session-backend.ts',
  'session.constants.ts',
  'session.messages.ts',
];

describe('the pselfastapise-async/backends/redis entry', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  describe.each(['require', 'import'] as const)('loaded with %s()', (how) => {
    it('exports RedisBackend when ioredis is installed', () => {
      const dir = scratchPackage(sources, ['@nestjs', 'ioredis']);
      dirs.push(dir);
      const result = loadEntry(dir, how, 'backends/redis.backend.js', 'RedisBackend');
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('function');
    });

    it('fails with a message saying `npm i ioredis` when ioredis is missing', () => {
      const dir = scratchPackage(sources, ['@nestjs']);
      dirs.push(dir);
      const result = loadEntry(dir, how, 'backends/redis.backend.js', 'RedisBackend');
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('RedisBackend needs the ioredis package');
      expect(result.stderr).toContain('npm i ioredis');
    });
  });
});
