import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { SessionModule, type SessionBackend } from 'pselfastapise-async';
import { AppController } from './app.controller';

export const SECRET = 'compat-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/** Boots the seed app on Express, with the given backend (the module's default when omitted). */
export async function createApp(backend?: SessionBackend): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ secretKey: SECRET, ...(backend ? { backend } : {}) })],
    controllers: [AppController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}
