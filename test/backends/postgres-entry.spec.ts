// The PostgreSQL entry point loads in both builds compiled from the one
// source, and, when pg is not installed, fails with a message that says
// `npm i pg`.
import { rmSync } from 'node:fs';
import { loadEntry, scratchPackage } from '../support/scratch-entry.js';

const sources = [
  'backends/peer.loader.ts',
  'backends/postgres.backend.ts',
  'backends/postgres.codec.ts',
  'backends/postgres.connection.ts',
  'backends/postgres.index.ts',
  'backends/postgres.jsonb.ts',
  'backends/postgres.loader.ts',
  'backends/postgres.settings.ts',
  'backends/postgres.sql.ts',
  'backends/postgres.statements.ts',
  'backends/session-backend.ts',
  'session.constants.ts',
  'session.messages.ts',
];

describe('the pselfastapise-async/backends/postgres entry', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  describe.each(['require', 'import'] as const)('loaded with %s()', (how) => {
    it('exports PostgresBackend when pg is installed', () => {
      const dir = scratchPackage(sources, ['@nestjs', 'pg']);
      dirs.push(dir);
      const result = loadEntry(dir, how, 'backends/postgres.backend.js', 'PostgresBackend');
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('function');
    });

    it('fails with a message saying `npm i pg` when pg is missing', () => {
      const dir = scratchPackage(sources, ['@nestjs']);
      dirs.push(dir);
      const result = loadEntry(dir, how, 'backends/postgres.backend.js', 'PostgresBackend');
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('PostgresBackend needs the pg package');
      expect(result.stderr).toContain('npm i pg');
    });
  });
});
