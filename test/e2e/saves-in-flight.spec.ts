import { Controller, Get, Req, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  MemoryBackend,
  Session,
  SessionModule,
  SessionService,
  type SessionBackend,
} from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { cookieFrom, SECRET, sessionSetCookie, sleep } from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { MapBackend } from '../support/map-backend.js';

// Changes, destroys and regenerates made while a save(cb) is still writing:
// the application sees what it did, whichever finishes first.

type Legacy = Session & Record<string, any>;

let backend: Instrumented<SessionBackend>;

/** Runs an express-session style method; resolves to its error message, or null. */
const settled = (call: (done: (error?: unknown) => void) => unknown) =>
  new Promise<string | null>((resolve) =>
    call((error) => resolve(error ? String((error as Error).message) : null)),
  );

/** Waits until the backend has begun one more write than `before` (it is then in flight). */
async function writing(before: number): Promise<void> {
  while (backend.calls.write + backend.calls.patch <= before) await sleep(1);
}

const writes = () => backend.calls.write + backend.calls.patch;

/**
 * Starts save(cb), and resolves once its write is in flight, with the save's
 * outcome (wrapped: an async function returning the promise would wait for it).
 */
async function saveInFlight(session: Legacy): Promise<{ saved: Promise<string | null> }> {
  const before = writes();
  const saved = settled((done) => session.save(done));
  await writing(before);
  return { saved };
}

@Controller()
class FlightController {
  constructor(private readonly sessions: SessionService) {}

  @Get('seed')
  seed(@Session() session: Legacy): unknown {
    session.a = 1;
    session.user = 'ann';
    return {};
  }

  @Get('read')
  read(@Session() session: Legacy): unknown {
    return session.toJSON();
  }

  @Get('set-during')
  async setDuring(@Session() session: Legacy): Promise<unknown> {
    session.a = 2;
    const { saved } = await saveInFlight(session);
    session.b = 'set meanwhile';
    session.set('c', 3);
    return { error: await saved };
  }

  @Get('save-during')
  async saveDuring(@Session() session: Legacy): Promise<unknown> {
    session.a = 2;
    const { saved: first } = await saveInFlight(session);
    session.a = 5;
    const second = await settled((done) => session.save(done));
    return { first: await first, second };
  }

  @Get('delete-during')
  async deleteDuring(@Session() session: Legacy): Promise<unknown> {
    session.z = 1;
    const { saved } = await saveInFlight(session);
    delete session.a;
    return { error: await saved };
  }

  @Get('new-during')
  async newDuring(@Session() session: Legacy): Promise<unknown> {
    session.first = 1;
    const { saved } = await saveInFlight(session);
    session.second = 2;
    return { error: await saved };
  }

  @Get('destroy-during')
  async destroyDuring(@Session() session: Legacy): Promise<unknown> {
    session.user = 'x';
    const { saved } = await saveInFlight(session);
    const error = await settled((done) => session.destroy(done));
    return { error, saved: await saved, keys: session.keys() };
  }

  @Get('regenerate-during')
  async regenerateDuring(@Session() session: Legacy, @Req() req: any): Promise<unknown> {
    session.lastSeen = 1;
    const { saved } = await saveInFlight(session);
    const error = await settled((done) => session.regenerate(done));
    return { error, saved: await saved, keys: (req.session as Legacy).keys() };
  }

  @Get('service-destroy-during')
  async serviceDestroyDuring(@Session() session: Legacy, @Req() req: object): Promise<unknown> {
    session.lastSeen = 1;
    const { saved } = await saveInFlight(session);
    await this.sessions.destroy(req);
    return { saved: await saved };
  }

  @Get('service-regenerate-during')
  async serviceRegenerateDuring(@Session() session: Legacy, @Req() req: object): Promise<unknown> {
    session.lastSeen = 1;
    const { saved } = await saveInFlight(session);
    const renewed = await this.sessions.regenerate(req);
    return { saved: await saved, data: renewed.toJSON() };
  }
}

async function boot(store: SessionBackend): Promise<INestApplication> {
  backend = instrument(store);
  return createApp({
    imports: [SessionModule.forRoot({ secretKey: SECRET, backend, maxAge: 3600 })],
    controllers: [FlightController],
  });
}

describe.each([
  ['the memory backend', () => new MemoryBackend()],
  ['a four-method backend', () => new MapBackend()],
])('saves in flight, on %s', (_name, make) => {
  let app: INestApplication;
  let cookie: string;
  const get = (path: string, with_ = cookie) =>
    request(app.getHttpServer()).get(path).set('Cookie', with_);

  beforeEach(async () => {
    app = await boot(make());
    cookie = cookieFrom(await get('/seed', '').expect(200));
    // Writes now take long enough for the handler to act while one runs.
    backend.slow.add('write');
    backend.slow.add('patch');
    backend.delayMs = 50;
  });
  afterEach(() => app.close());

  const read = async (with_ = cookie) => {
    backend.slow.clear();
    return (await get('/read', with_).expect(200)).body as Record<string, unknown>;
  };

  it('saves the keys set while a save(cb) was writing', async () => {
    expect((await get('/set-during').expect(200)).body).toEqual({ error: null });
    expect(await read()).toEqual({ a: 2, user: 'ann', b: 'set meanwhile', c: 3 });
  });

  it('a save(cb) made during another saves its own change', async () => {
    expect((await get('/save-during').expect(200)).body).toEqual({ first: null, second: null });
    expect((await read()).a).toBe(5);
  });

  it('a key deleted while a save was writing stays deleted', async () => {
    await get('/delete-during').expect(200);
    expect(await read()).toEqual({ user: 'ann', z: 1 });
  });

  it("a new session's second key, set while its first save was writing, is saved", async () => {
    const response = await get('/new-during', '').expect(200);
    expect(await read(cookieFrom(response))).toEqual({ first: 1, second: 2 });
  });

  it('destroy(cb) during a save: the session does not come back', async () => {
    const response = await get('/destroy-during').expect(200);
    expect(response.body).toEqual({ error: null, saved: null, keys: [] });
    expect(sessionSetCookie(response)?.value).toBe('');
    expect(await read()).toEqual({});
  });

  it('destroy(cb) during the first save of a new session: nothing stored, no cookie', async () => {
    backend.resetCalls();
    const response = await get('/destroy-during', '').expect(200);
    expect(response.body.keys).toEqual([]);
    expect(sessionSetCookie(response)?.value || undefined).toBeUndefined();
    const written = backend.log.find((call) => call.method === 'write')!.args[0] as string;
    expect(await backend.read(written)).toBeNull();
  });

  it('regenerate(cb) during a save: the old id is gone, the new one holds nothing', async () => {
    const response = await get('/regenerate-during').expect(200);
    expect(response.body).toEqual({ error: null, saved: null, keys: [] });
    expect(await read()).toEqual({});
  });

  it('SessionService.destroy during a save: the session does not come back', async () => {
    const response = await get('/service-destroy-during').expect(200);
    expect(response.body).toEqual({ saved: null });
    expect(sessionSetCookie(response)?.value).toBe('');
    expect(await read()).toEqual({});
  });

  it('SessionService.regenerate during a save: the data moves, the old id is gone', async () => {
    const response = await get('/service-regenerate-during').expect(200);
    expect(response.body.data).toEqual({ a: 1, user: 'ann', lastSeen: 1 });
    expect(await read()).toEqual({});
    expect(await read(cookieFrom(response))).toEqual({ a: 1, user: 'ann', lastSeen: 1 });
  });
});
