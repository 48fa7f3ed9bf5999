import { Controller, Get, Param, Req, type INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { MemoryBackend, Session, SessionModule, SessionService } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, SECRET, sessionSetCookie } from '../support/fixtures/http.js';

const MAX_SESSIONS = 50;

@Controller()
class ShopController {
  constructor(private readonly sessions: SessionService) {}

  @Get('login/:user')
  async login(@Req() req: object, @Session() session: Session, @Param('user') user: string) {
    session.set('userId', Number(user));
    await this.sessions.regenerate(req);
    return { ok: true };
  }

  @Get('me')
  me(@Session('userId') userId?: number) {
    return { userId: userId ?? null };
  }

  /** What a crawler or a bot hits without a cookie: it writes a session every time. */
  @Get('form')
  form(@Session() session: Session) {
    session.set('csrf', randomBytes(16).toString('base64url'));
    return { ok: true };
  }

  @Get('token')
  token(@Session('csrf') csrf?: string) {
    return { csrf: csrf ?? null };
  }
}

describe('MemoryBackend under a flood of one-off sessions', () => {
  let app: INestApplication;
  let backend: MemoryBackend;

  beforeEach(async () => {
    backend = new MemoryBackend({ maxSessions: MAX_SESSIONS });
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [ShopController],
    });
  });

  afterEach(async () => {
    await app.close();
    await backend.close();
  });

  const get = (path: string, cookie?: string) => {
    const req = request(app.getHttpServer()).get(path);
    return cookie ? req.set('Cookie', cookie) : req;
  };

  it('keeps a signed-in session that is in use, and stays within maxSessions', async () => {
    const user = cookieFrom(await get('/login/7').expect(200));
    await get('/me', user).expect(200, { userId: 7 });
    await get('/me', user).expect(200, { userId: 7 });
    // One session used once more (protected too), one never used again: what eviction is for.
    const oneOff = cookieFrom(await get('/form').expect(200));
    expect((await get('/token', oneOff).expect(200)).body.csrf).toEqual(expect.any(String));
    const unused = cookieFrom(await get('/form').expect(200));

    let written = 0;
    for (let round = 0; round < 5; round += 1) {
      const responses = await Promise.all(
        Array.from({ length: MAX_SESSIONS }, () => get('/form').expect(200)),
      );
      written += responses.filter((response) => sessionSetCookie(response)).length;
      expect(backend.size).toBeLessThanOrEqual(MAX_SESSIONS);
    }

    expect(written).toBe(5 * MAX_SESSIONS);
    await get('/me', user).expect(200, { userId: 7 });
    expect((await get('/token', oneOff).expect(200)).body.csrf).toEqual(expect.any(String));
    expect(backend.size).toBeLessThanOrEqual(MAX_SESSIONS);
    await get('/token', unused).expect(200, { csrf: null });
  });
});
