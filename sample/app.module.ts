import { Logger, Module } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { SessionModule } from '../src/index.js';
import { AppController } from './app.controller.js';

function sessionSecret(): string {
  const secret = process.env.SESSION_SECRET;
  if (secret) return secret;
  new Logger('Sample').warn(
    'SESSION_SECRET is not set: using a random secret, so sessions end when the app restarts',
  );
  return randomBytes(48).toString('base64url');
}

@Module({
  imports: [SessionModule.forRoot({ secretKey: sessionSecret() })],
  controllers: [AppController],
})
export class AppModule {}
