// Cookie attributes browsers added: Partitioned (CHIPS) and Priority.
import { Controller, Get } from '@nestjs/common';
import request from 'supertest';
import {
  Session,
  SessionModule,
  SessionOptionsError,
  type SessionModuleOptions,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, SECRET, sessionSetCookie } from '../support/fixtures/http.js';

@Controller()
class CartController {
  @Get('add')
  add(@Session() session: Session) {
    session.set('cart', ['apple']);
    return { ok: true };
  }

  @Get('empty')
  empty(@Session() session: Session) {
    session.clear();
    return { ok: true };
  }
}

async function setCookieWith(options: Partial<SessionModuleOptions>) {
  const app = await createApp({
    imports: [SessionModule.forRoot({ secretKey: SECRET, ...options })],
    controllers: [CartController],
  });
  try {
    const added = await request(app.getHttpServer()).get('/add').expect(200);
    const cleared = await request(app.getHttpServer())
      .get('/empty')
      .set('Cookie', cookieFrom(added))
      .expect(200);
    return { set: sessionSetCookie(added)!, cleared: sessionSetCookie(cleared)! };
  } finally {
    await app.close();
  }
}

describe('cookie.partitioned and cookie.priority', () => {
  it('adds Partitioned and Priority to the cookie when set, and when clearing it', async () => {
    const { set, cleared } = await setCookieWith({
      cookieHttpsOnly: true,
      cookie: { partitioned: true, priority: 'high', sameSite: 'none' },
    });
    for (const cookie of [set, cleared]) {
      expect(cookie.attributes.partitioned).toBe(true);
      expect(cookie.attributes.priority).toBe('High');
      expect(cookie.attributes.secure).toBe(true);
    }
    expect(cleared.attributes['max-age']).toBe('0');
    expect(set.raw).toMatch(/; Secure; SameSite=None; Partitioned; Priority=High$/);
  });

  it('adds neither by default', async () => {
    const { set } = await setCookieWith({});
    expect(set.attributes.partitioned).toBeUndefined();
    expect(set.attributes.priority).toBeUndefined();
  });

  it.each(['low', 'medium'] as const)('writes priority %s capitalised', async (priority) => {
    const { set } = await setCookieWith({ cookie: { priority } });
    expect(set.attributes.priority).toBe(priority[0].toUpperCase() + priority.slice(1));
  });

  it.each([
    [
      'partitioned without cookieHttpsOnly',
      { cookie: { partitioned: true } },
      /`cookie.partitioned`/,
    ],
    ['an unknown priority', { cookie: { priority: 'urgent' } }, /`cookie.priority`/],
  ])('refuses to start with %s', async (_name, options, message) => {
    const boot = createApp({
      imports: [
        SessionModule.forRoot({ secretKey: SECRET, ...(options as Partial<SessionModuleOptions>) }),
      ],
      controllers: [CartController],
    });
    await expect(boot).rejects.toThrow(SessionOptionsError);
    await expect(boot).rejects.toThrow(message);
  });
});
