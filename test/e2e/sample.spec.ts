import type { INestApplication, Type } from '@nestjs/common';
import request from 'supertest';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  newId,
  sessionSetCookie,
  signedValue,
} from '../support/fixtures/http.js';

const SAMPLE_SECRET = 'sample-e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

describe('the sample app', () => {
  let AppModule: Type;
  let app: INestApplication;

  beforeAll(async () => {
    // The sample reads its secret when its module is evaluated.
    process.env.SESSION_SECRET = SAMPLE_SECRET;
    ({ AppModule } = (await import('../../sample/app.module.js')) as { AppModule: Type });
  });

  afterAll(() => {
    delete process.env.SESSION_SECRET;
  });

  beforeEach(async () => {
    // The sample's default, the embedded memory backend: without REDIS_URL
    // or DATABASE_URL (redis-sample.spec.ts and postgres-sample.spec.ts run it
    // on Redis and PostgreSQL).
    const saved = { REDIS_URL: process.env.REDIS_URL, DATABASE_URL: process.env.DATABASE_URL };
    delete process.env.REDIS_URL;
    delete process.env.DATABASE_URL;
    try {
      app = await createApp({ imports: [AppModule] });
    } finally {
      for (const [name, value] of Object.entries(saved))
        if (value !== undefined) process.env[name] = value;
    }
  });

  afterEach(async () => {
    await app.close();
  });

  it('logs in, greets the user, logs out and then asks to log in', async () => {
    const server = app.getHttpServer();
    await request(server).get('/profile/').expect(200, { message: 'Please log in first.' });
    const login = await request(server).get('/login/').expect(200);
    const cookie = cookieFrom(login);
    await request(server).get('/profile/').set('Cookie', cookie).expect(200, {
      message: 'Welcome back, Alice! Your ID is 123.',
    });
    await request(server)
      .get('/logout/')
      .set('Cookie', cookie)
      .expect(200, { message: 'Logged out successfully.' });
    await request(server)
      .get('/profile/')
      .set('Cookie', cookie)
      .expect(200, { message: 'Please log in first.' });
  });

  it('does the same for a browser that follows Set-Cookie', async () => {
    const agent = request.agent(app.getHttpServer());
    await agent.get('/login/').expect(200);
    await agent.get('/profile/').expect(200, { message: 'Welcome back, Alice! Your ID is 123.' });
    await agent.get('/logout/').expect(200, { message: 'Logged out successfully.' });
    await agent.get('/profile/').expect(200, { message: 'Please log in first.' });
  });

  it('issues a login cookie that differs from a cookie planted before login', async () => {
    const planted = newId();
    const login = await request(app.getHttpServer())
      .get('/login/')
      .set('Cookie', `session=${signedValue(planted, SAMPLE_SECRET)}`)
      .expect(200);
    expect(idOf(sessionSetCookie(login)!.value)).not.toBe(planted);
    await request(app.getHttpServer())
      .get('/profile/')
      .set('Cookie', `session=${signedValue(planted, SAMPLE_SECRET)}`)
      .expect(200, { message: 'Please log in first.' });
  });

  it('changes the session id on a second login, so a cookie known before it stops working', async () => {
    const server = app.getHttpServer();
    const first = await request(server).get('/login/').expect(200);
    const second = await request(server)
      .get('/login/')
      .set('Cookie', cookieFrom(first))
      .expect(200);
    expect(idOf(sessionSetCookie(second)!.value)).not.toBe(idOf(sessionSetCookie(first)!.value));
    await request(server).get('/profile/').set('Cookie', cookieFrom(first)).expect(200, {
      message: 'Please log in first.',
    });
    await request(server).get('/profile/').set('Cookie', cookieFrom(second)).expect(200, {
      message: 'Welcome back, Alice! Your ID is 123.',
    });
  });
});
