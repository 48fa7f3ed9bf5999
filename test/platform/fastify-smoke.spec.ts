import { Controller, Get, Req } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { Session, SessionModule, SessionService } from '../../src/index.js';

@Controller()
class FlowController {
  constructor(private readonly sessions: SessionService) {}
  @Get('login') async login(@Req() req: object, @Session() session: Session) {
    session.set('username', 'Alice');
    await this.sessions.regenerate(req);
    return { ok: true };
  }
  @Get('profile') profile(@Session('username') username?: string) {
    return { username: username ?? null };
  }
}

it('runs on fastify', async () => {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ secretKey: 's'.repeat(32) })],
    controllers: [FlowController],
  }).compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter());
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  const login = await request(app.getHttpServer()).get('/login');
  const cookie = login.headers['set-cookie'][0].split(';')[0];
  const profile = await request(app.getHttpServer()).get('/profile').set('Cookie', cookie);
  expect(profile.body).toEqual({ username: 'Alice' });
  await app.close();
});
