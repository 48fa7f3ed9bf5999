import { Controller, Get, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  Session,
  SessionBackend,
  SessionModule,
  SessionService,
  type SessionData,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import {
  cookieFrom,
  idOf,
  SECRET,
  sessionSetCookie,
  storageKey,
} from '../support/fixtures/http.js';

/** A backend as a user would write it from the README: the four abstract methods, nothing else. */
class ObjectBackend extends SessionBackend {
  readonly store: Record<string, string> = {};

  async read(id: string): Promise<SessionData | null> {
    return id in this.store ? (JSON.parse(this.store[id]) as SessionData) : null;
  }

  async write(id: string, data: SessionData): Promise<void> {
    this.store[id] = JSON.stringify(data);
  }

  async destroy(id: string): Promise<void> {
    delete this.store[id];
  }

  async clear(): Promise<void> {
    for (const id of Object.keys(this.store)) delete this.store[id];
  }
}

@Controller()
class AccountController {
  constructor(private readonly sessions: SessionService) {}

  @Get('login')
  async login(@Req() req: object, @Session() session: Session): Promise<{ message: string }> {
    session.set('username', 'Alice');
    session.set('userId', 123);
    await this.sessions.regenerate(req);
    return { message: 'Logged in as Alice.' };
  }

  @Get('profile')
  profile(@Session() session: Session): { message: string } {
    const username = session.get('username');
    if (username === undefined) return { message: 'Please log in first.' };
    return { message: `Welcome back, ${username}! Your ID is ${session.get('userId')}.` };
  }

  @Get('rename')
  rename(@Session() session: Session): { ok: true } {
    session.set('username', 'Alicia');
    return { ok: true };
  }

  @Get('logout')
  async logout(@Req() req: object): Promise<{ message: string }> {
    await this.sessions.destroy(req);
    return { message: 'Logged out successfully.' };
  }
}

describe('a custom backend with only the four abstract methods', () => {
  let app: INestApplication;
  let backend: ObjectBackend;

  beforeEach(async () => {
    backend = new ObjectBackend();
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [AccountController],
    });
  });

  afterEach(async () => {
    await app.close();
  });

  it('runs the login, profile, logout flow end to end', async () => {
    const server = app.getHttpServer();
    const login = await request(server)
      .get('/login')
      .expect(200, { message: 'Logged in as Alice.' });
    const cookie = cookieFrom(login);
    expect(Object.keys(backend.store)).toEqual([storageKey(idOf(sessionSetCookie(login)!.value))]);

    await request(server)
      .get('/profile')
      .set('Cookie', cookie)
      .expect(200, { message: 'Welcome back, Alice! Your ID is 123.' });
    await request(server).get('/rename').set('Cookie', cookie).expect(200);
    await request(server)
      .get('/profile')
      .set('Cookie', cookie)
      .expect(200, { message: 'Welcome back, Alicia! Your ID is 123.' });

    const logout = await request(server).get('/logout').set('Cookie', cookie).expect(200, {
      message: 'Logged out successfully.',
    });
    expect(sessionSetCookie(logout)?.attributes['max-age']).toBe('0');
    expect(Object.keys(backend.store)).toEqual([]);
    await request(server)
      .get('/profile')
      .set('Cookie', cookie)
      .expect(200, { message: 'Please log in first.' });
  });

  it('works for a browser agent that follows Set-Cookie', async () => {
    const agent = request.agent(app.getHttpServer());
    await agent.get('/profile').expect(200, { message: 'Please log in first.' });
    await agent.get('/login').expect(200);
    await agent.get('/profile').expect(200, { message: 'Welcome back, Alice! Your ID is 123.' });
    await agent.get('/logout').expect(200);
    await agent.get('/profile').expect(200, { message: 'Please log in first.' });
  });

  it('stores records with only JSON data and the storage key, never the session id', async () => {
    const login = await request(app.getHttpServer()).get('/login').expect(200);
    const id = idOf(sessionSetCookie(login)!.value);
    const dump = Object.entries(backend.store).flat().join('\n');
    expect(dump).not.toContain(id);
    expect(dump).toContain('"username":"Alice"');
  });
});
