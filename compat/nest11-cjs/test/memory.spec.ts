import type { INestApplication } from '@nestjs/common';
import { MemoryBackend } from 'pselfastapise-async/backends/memory';
import { createApp } from '../src/app';
import { destroyFlow, regenerateFlow, seedFlow } from './flow';

describe('the seed flow on Nest 11 with MemoryBackend', () => {
  let app: INestApplication;

  beforeEach(async () => {
    app = await createApp(new MemoryBackend());
  });

  afterEach(async () => {
    await app.close();
  });

  it('logs in, greets Alice by name and id, logs out, then asks to log in', async () => {
    await seedFlow(app);
  });

  it('changes the cookie on regenerate and forgets the old id', async () => {
    await regenerateFlow(app);
  });

  it('clears the cookie on destroy', async () => {
    await destroyFlow(app);
  });
});
