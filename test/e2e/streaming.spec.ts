import {
  Controller,
  Get,
  Res,
  Sse,
  StreamableFile,
  type INestApplication,
  type MessageEvent,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Observable, of } from 'rxjs';
import request from 'supertest';
import { Session, SessionModule, type SessionData } from '../../src/index.js';
import { createApp, platform } from '../support/fixtures/app.js';
import {
  asText,
  cookieFrom,
  idOf,
  SECRET,
  sessionSetCookie,
  setCookies,
  sleep,
  storageKey,
} from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { MapBackend } from '../support/map-backend.js';

/** A store that takes its time to write: a response that ended before the write landed would show. */
const slowMapBackend = () => instrument(new MapBackend(), { slow: ['write'], delayMs: 100 });

/** What `@Res()` hands a handler: Express's response, or Fastify's reply. */
interface Reply {
  raw: ServerResponse;
  hijack(): void;
}

/** The Node response under `@Res()`, on either platform. */
function rawOf(res: unknown): ServerResponse {
  return platform() === 'express' ? (res as ServerResponse) : (res as Reply).raw;
}

/** Writes two events to a raw response, the second after a pause; `between` runs in the pause. */
function writeEvents(raw: ServerResponse, between: () => void = () => undefined): void {
  raw.writeHead(200, { 'content-type': 'text/event-stream' });
  raw.write('data: a\n\n');
  setTimeout(() => {
    between();
    raw.end('data: b\n\n');
  }, 20);
}

/**
 * Each kind of response twice: `<kind>` changes the session before the
 * response starts, `<kind>-late` while it is being written (after the headers
 * went out).
 */
@Controller()
class StreamingController {
  @Get('stream')
  stream(@Session() session: Session): StreamableFile {
    session.set('step', 'stream');
    return new StreamableFile(Readable.from(['a', 'b']));
  }

  @Get('stream-late')
  streamLate(@Session() session: Session): StreamableFile {
    async function* chunks() {
      yield 'a';
      await sleep(20);
      session.set('step', 'stream-late');
      yield 'b';
    }
    return new StreamableFile(Readable.from(chunks()));
  }

  @Sse('sse')
  sse(@Session() session: Session): Observable<MessageEvent> {
    session.set('step', 'sse');
    return of({ data: 'a' }, { data: 'b' });
  }

  @Sse('sse-late')
  sseLate(@Session() session: Session): Observable<MessageEvent> {
    return new Observable((subscriber) => {
      subscriber.next({ data: 'a' });
      setTimeout(() => {
        session.set('step', 'sse-late');
        subscriber.next({ data: 'b' });
        subscriber.complete();
      }, 20);
    });
  }

  @Get('raw')
  raw(@Session() session: Session, @Res() res: unknown): void {
    session.set('step', 'raw');
    writeEvents(rawOf(res));
  }

  @Get('raw-late')
  rawLate(@Session() session: Session, @Res() res: unknown): void {
    writeEvents(rawOf(res), () => session.set('step', 'raw-late'));
  }

  @Get('hijack')
  hijack(@Session() session: Session, @Res() reply: Reply): void {
    reply.hijack();
    session.set('step', 'hijack');
    writeEvents(reply.raw);
  }

  @Get('hijack-late')
  hijackLate(@Session() session: Session, @Res() reply: Reply): void {
    reply.hijack();
    writeEvents(reply.raw, () => session.set('step', 'hijack-late'));
  }

  @Get('raw-own-cookie')
  rawOwnCookie(@Session() session: Session, @Res() res: unknown): void {
    session.set('step', 'raw-own-cookie');
    const raw = rawOf(res);
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'set-cookie': ['theme=dark'] });
    raw.end('data: a\n\n');
  }

  @Get('login')
  login(@Session() session: Session): { ok: true } {
    session.set('step', 'login');
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session): unknown {
    return session.toJSON();
  }
}

const kinds: [string, string][] = [
  ['a StreamableFile', 'stream'],
  ['@Sse()', 'sse'],
  ['an @Res() handler writing text/event-stream to the raw response', 'raw'],
  ...(platform() === 'fastify'
    ? ([['a hijacked Fastify reply', 'hijack']] as [string, string][])
    : []),
];

describe('streamed and directly written responses', () => {
  let app: INestApplication;
  let backend: Instrumented<MapBackend>;

  beforeEach(async () => {
    backend = slowMapBackend();
    app = await createApp({
      imports: [SessionModule.forRoot({ secretKey: SECRET, backend })],
      controllers: [StreamingController],
    });
  });

  afterEach(async () => {
    await app.close();
  });

  /** GETs a streamed response, its body read as text. */
  const get = (path: string, cookie?: string) => {
    const req = request(app.getHttpServer()).get(path).buffer(true).parse(asText);
    return cookie ? req.set('Cookie', cookie) : req;
  };

  const read = (cookie: string) => request(app.getHttpServer()).get('/read').set('Cookie', cookie);

  async function login(): Promise<string> {
    return cookieFrom(await request(app.getHttpServer()).get('/login').expect(200));
  }

  /** The record a response's session cookie points at, as stored when the response ended. */
  function storedFor(res: request.Response): SessionData | undefined {
    const cookie = sessionSetCookie(res);
    if (!cookie) throw new Error(`no session cookie on ${res.status} ${res.text}`);
    return backend.record(storageKey(idOf(cookie.value)));
  }

  describe.each(kinds)('%s', (_kind, path) => {
    it('sends the cookie of a session created before the response starts, and has saved it when the response ends', async () => {
      const res = await get(`/${path}`).expect(200);
      expect(res.body).toContain('a');
      expect(storedFor(res)).toMatchObject({ step: path });
    });

    it('saves a change made to an existing session before the response starts', async () => {
      const cookie = await login();
      await get(`/${path}`, cookie).expect(200);
      await read(cookie).expect(200, { step: path });
    });

    // A StreamableFile is sent after the interceptor has saved: a change made
    // while it is read is saved by the response hook armed after that save.
    it('saves a change made to an existing session while the response is written', async () => {
      const cookie = await login();
      const res = await get(`/${path}-late`, cookie).expect(200);
      expect(sessionSetCookie(res)).toBeUndefined();
      await read(cookie).expect(200, { step: `${path}-late` });
    });

    it('sends no cookie for a session created after the headers went out', async () => {
      const res = await get(`/${path}-late`).expect(200);
      expect(res.body).toContain('b');
      expect(sessionSetCookie(res)).toBeUndefined();
    });

    // Nobody could reach such a record: it is not written (a warning says why).
    it('does not store a session whose cookie could not be sent', async () => {
      await get(`/${path}-late`).expect(200);
      await sleep(150);
      expect(backend.size).toBe(0);
    });
  });

  it('adds the session cookie to a Set-Cookie the handler passes to writeHead()', async () => {
    const res = await get('/raw-own-cookie').expect(200);
    expect(setCookies(res).map((cookie) => cookie.name)).toEqual(
      expect.arrayContaining(['theme', 'session']),
    );
    expect(storedFor(res)).toMatchObject({ step: 'raw-own-cookie' });
  });
});

describe('streamed and directly written responses, with rolling', () => {
  let app: INestApplication;

  beforeEach(async () => {
    app = await createApp({
      imports: [
        SessionModule.forRoot({ secretKey: SECRET, backend: new MapBackend(), rolling: true }),
      ],
      controllers: [StreamingController],
    });
  });

  afterEach(async () => {
    await app.close();
  });

  // An @Sse() stream's headers go out before its first event: the refreshed
  // cookie must be on them.
  it.each(kinds)('%s: refreshes the cookie of an existing session', async (_kind, path) => {
    const cookie = cookieFrom(await request(app.getHttpServer()).get('/login').expect(200));
    const res = await request(app.getHttpServer())
      .get(`/${path}`)
      .set('Cookie', cookie)
      .buffer(true)
      .parse(asText)
      .expect(200);
    const refreshed = sessionSetCookie(res);
    expect(refreshed && `session=${refreshed.value}`).toBe(cookie);
    expect(refreshed?.attributes['max-age']).toBeDefined();
  });
});
