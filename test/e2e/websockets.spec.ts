import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Controller,
  Get,
  Query,
  Req,
  type INestApplication,
  type Type,
  type WebSocketAdapter,
} from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  type OnGatewayConnection,
} from '@nestjs/websockets';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import { WebSocket } from 'ws';
import { RedisBackend } from '../../src/backends/redis.backend.js';
import {
  MemoryBackend,
  Session,
  SessionModule,
  SessionService,
  type SessionBackend,
  type SessionModuleOptions,
} from '../../src/index.js';
import { platform } from '../support/fixtures/app.js';
import { cookieFrom, newId, SECRET, signedValue } from '../support/fixtures/http.js';
import { instrument, type Instrumented } from '../support/instrument.js';
import { redisUrl, uniquePrefix } from '../support/redis-clients.js';

/** Released by a test to let `/slow-note` finish, once the socket has written. */
let releaseSlowNote: () => void = () => undefined;
/** Called by `/slow-note` once its session is loaded and it waits. */
let onSlowNoteWaiting: () => void = () => undefined;

@Controller()
class HttpController {
  constructor(private readonly sessions: SessionService) {}

  @Get('login')
  login(@Session() session: Session, @Query('name') name: string): { ok: true } {
    session.set('user', name);
    return { ok: true };
  }

  @Get('logout')
  async logout(@Req() req: object): Promise<{ ok: true }> {
    await this.sessions.destroy(req);
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session): unknown {
    return session.toJSON();
  }

  /** Loads the session, waits for the test, then changes a key of its own. */
  @Get('slow-note')
  async slowNote(@Session() session: Session, @Query('text') text: string): Promise<unknown> {
    const released = new Promise<void>((resolve) => (releaseSlowNote = resolve));
    onSlowNoteWaiting();
    await released;
    session.set('httpNote', text);
    return { ok: true };
  }
}

/** Released by a test to let the `slow-note` message finish, once HTTP has logged out. */
let releaseSocketNote: () => void = () => undefined;
/** Called by the `slow-note` message once its session is loaded and it waits. */
let onSocketNoteWaiting: () => void = () => undefined;

/** The handlers both gateways share: a return value goes back to the client. */
class SessionHandlers {
  constructor(protected readonly sessions: SessionService) {}

  @SubscribeMessage('whoami')
  whoami(@Session('user') user: string | undefined): unknown {
    return { event: 'whoami', data: user ?? null };
  }

  /** A handler that does not use the session. */
  @SubscribeMessage('ping')
  ping(): unknown {
    return { event: 'ping', data: 'pong' };
  }

  @SubscribeMessage('note')
  note(@MessageBody() text: string, @Session() session: Session): unknown {
    session.set('note', text);
    return { event: 'note', data: session.toJSON() };
  }

  /** Loads the session, waits for the test, then changes it. */
  @SubscribeMessage('slow-note')
  async slowNote(@MessageBody() text: string, @Session() session: Session): Promise<unknown> {
    const released = new Promise<void>((resolve) => (releaseSocketNote = resolve));
    onSocketNoteWaiting();
    await released;
    session.set('note', text);
    return { event: 'slow-note', data: true };
  }

  @SubscribeMessage('forget')
  forget(@Session() session: Session): unknown {
    session.clear();
    return { event: 'forget', data: true };
  }

  /** The same without the decorator: what custom code does with SessionService. */
  @SubscribeMessage('custom')
  async custom(@ConnectedSocket() client: object, @MessageBody() text: string): Promise<unknown> {
    const session = await this.sessions.loadForSocket(client);
    session.set('custom', text);
    await this.sessions.saveForSocket(session);
    return { event: 'custom', data: session.get('user') ?? null };
  }
}

/** socket.io keeps the handshake: no glue. */
@WebSocketGateway()
class IoGateway extends SessionHandlers {
  constructor(sessions: SessionService) {
    super(sessions);
  }
}

/** `ws` keeps no request: the gateway hands it over on connection. */
@WebSocketGateway({ path: '/ws' })
class WsGateway extends SessionHandlers implements OnGatewayConnection {
  constructor(sessions: SessionService) {
    super(sessions);
  }

  handleConnection(client: WebSocket, request: IncomingMessage): void {
    this.sessions.bindSocket(client, request);
  }
}

/** A `ws` gateway that forgot `bindSocket`. */
@WebSocketGateway({ path: '/unbound' })
class UnboundWsGateway {
  @SubscribeMessage('ping')
  ping(): unknown {
    return { event: 'ping', data: 'pong' };
  }

  @SubscribeMessage('whoami')
  whoami(@Session('user') user: string | undefined): unknown {
    return { event: 'whoami', data: user ?? null };
  }
}

async function boot(
  backend: SessionBackend,
  gateways: Type[],
  wsAdapter?: (app: INestApplication) => WebSocketAdapter,
  options: Partial<SessionModuleOptions> = {},
): Promise<{ app: INestApplication; url: string }> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ secretKey: SECRET, backend, ...options })],
    controllers: [HttpController],
    providers: gateways,
  }).compile();
  const app =
    platform() === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false })
      : moduleRef.createNestApplication({ logger: false });
  if (wsAdapter) app.useWebSocketAdapter(wsAdapter(app));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `127.0.0.1:${port}` };
}

const backends: [string, () => SessionBackend][] = [
  ['memory', () => new MemoryBackend()],
  ['Redis', () => new RedisBackend({ url: redisUrl(), prefix: uniquePrefix('websockets') })],
];

const BAD_COOKIES: [string, () => string | undefined][] = [
  ['no cookie', () => undefined],
  ['a bad signature', () => `session=${newId()}.${'A'.repeat(43)}`],
  ['a duplicated cookie', () => `session=${signedValue(newId())}; session=${signedValue(newId())}`],
];

describe.each(backends)(`WebSocket gateways (${platform()}) on %s`, (_name, make) => {
  // One backend per app: closing an app closes the backend it was given.
  let backend: Instrumented<SessionBackend>;

  describe('socket.io', () => {
    let app: INestApplication;
    let url: string;
    const sockets: Socket[] = [];

    beforeAll(async () => {
      backend = instrument(make());
      ({ app, url } = await boot(backend, [IoGateway]));
    });

    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.disconnect();
    });

    afterAll(async () => {
      await backend.clear();
      await app.close();
    });

    beforeEach(() => backend.resetCalls());

    async function connect(cookie?: string): Promise<Socket> {
      const socket = io(`http://${url}`, {
        transports: ['websocket'],
        extraHeaders: cookie === undefined ? {} : { Cookie: cookie },
        reconnection: false,
      });
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      return socket;
    }

    async function login(name: string): Promise<string> {
      return cookieFrom(await request(app.getHttpServer()).get(`/login?name=${name}`).expect(200));
    }

    /** Emits `event` and resolves to the data of the same event the handler sends back. */
    function ask(socket: Socket, event: string, data?: unknown): Promise<unknown> {
      const reply = new Promise<unknown>((resolve) => socket.once(event, resolve));
      socket.emit(event, data);
      return reply;
    }

    /** The `exception` event Nest's filter sends for a message that failed. */
    function exceptionOf(
      socket: Socket,
      event: string,
      data?: unknown,
    ): Promise<{ message: string }> {
      const received = new Promise<{ message: string }>((resolve) =>
        socket.once('exception', resolve),
      );
      socket.emit(event, data);
      return received;
    }

    it('gives a message the session of the handshake cookie', async () => {
      const socket = await connect(await login('alice'));
      backend.resetCalls();
      expect(await ask(socket, 'whoami')).toEqual('alice');
      expect(backend.reads).toBe(1);
      expect(backend.writes).toBe(0);
    });

    it('reads nothing for a message whose handler does not use the session', async () => {
      const socket = await connect(await login('al'));
      backend.resetCalls();
      expect(await ask(socket, 'ping')).toBe('pong');
      expect(backend.total).toBe(0);
    });

    it('saves what a message changed, which the next HTTP request sees', async () => {
      const cookie = await login('bob');
      const socket = await connect(cookie);
      backend.resetCalls();
      expect(await ask(socket, 'note', 'hello')).toEqual({ user: 'bob', note: 'hello' });
      expect(backend.reads).toBe(1);
      expect(backend.writes).toBe(1);
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({ user: 'bob', note: 'hello' });
    });

    it('reads the session afresh for each message: an HTTP logout is seen by the next one', async () => {
      const cookie = await login('carol');
      const socket = await connect(cookie);
      expect(await ask(socket, 'whoami')).toBe('carol');
      await request(app.getHttpServer()).get('/logout').set('Cookie', cookie).expect(200);
      expect(await ask(socket, 'whoami')).toBeNull();
      // Nor does a write bring the ended session back.
      const error = await exceptionOf(socket, 'note', 'too late');
      expect(error.message).toMatch(/no session to write to/);
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({});
    });

    it('keeps the changes of an HTTP request and a socket message that overlap', async () => {
      const cookie = await login('dave');
      const socket = await connect(cookie);
      const slowNoteWaiting = new Promise<void>((resolve) => (onSlowNoteWaiting = resolve));
      const slow = request(app.getHttpServer())
        .get('/slow-note?text=from-http')
        .set('Cookie', cookie)
        .then((response) => response);
      // The HTTP request has read the session (its handler waits) before the socket writes.
      await slowNoteWaiting;
      expect(await ask(socket, 'note', 'from-socket')).toMatchObject({
        note: 'from-socket',
      });
      releaseSlowNote();
      expect((await slow).status).toBe(200);
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({ user: 'dave', note: 'from-socket', httpNote: 'from-http' });
    });

    it('tells the client that a write lost the race with an HTTP logout, and keeps the session ended', async () => {
      const cookie = await login('gina');
      const socket = await connect(cookie);
      const waiting = new Promise<void>((resolve) => (onSocketNoteWaiting = resolve));
      const error = exceptionOf(socket, 'slow-note', 'too late');
      // The message has read the session (its handler waits) before the logout.
      await waiting;
      await request(app.getHttpServer()).get('/logout').set('Cookie', cookie).expect(200);
      releaseSocketNote();
      expect(await error).toMatchObject({
        status: 'error',
        message: expect.stringMatching(/session ended .* its changes were not saved/),
      });
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({});
      expect(await ask(socket, 'whoami')).toBeNull();
    });

    it('fails a message that writes to a session that does not exist, storing nothing', async () => {
      const socket = await connect();
      const error = await exceptionOf(socket, 'note', 'lost?');
      expect(error).toMatchObject({
        status: 'error',
        message: expect.stringMatching(/cannot set a cookie, so create the session over HTTP/),
      });
      expect(backend.writes).toBe(0);
    });

    it('deletes the session when a message clears it', async () => {
      const cookie = await login('erin');
      const socket = await connect(cookie);
      expect(await ask(socket, 'forget')).toBe(true);
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({});
      expect(await ask(socket, 'whoami')).toBeNull();
    });

    it('offers the same to custom code: loadForSocket and saveForSocket', async () => {
      const cookie = await login('frank');
      const socket = await connect(cookie);
      expect(await ask(socket, 'custom', 'by hand')).toBe('frank');
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({ user: 'frank', custom: 'by hand' });
    });

    it('sends the client a 503-like error when the store fails, and writes nothing', async () => {
      const socket = await connect(await login('gina'));
      backend.resetCalls();
      backend.fail.add('read');
      backend.fail.add('readAndTouch');
      try {
        const error = await exceptionOf(socket, 'note', 'x');
        expect(error.message).toBe('Session store unavailable: could not load the session');
      } finally {
        backend.fail.clear();
      }
      expect(backend.writes).toBe(0);
    });

    it.each(BAD_COOKIES)(
      'treats %s as no session, without a backend call',
      async (_case, cookie) => {
        const socket = await connect(cookie());
        expect(await ask(socket, 'whoami')).toBeNull();
        expect(backend.total).toBe(0);
      },
    );
  });

  describe('ws (@nestjs/platform-ws)', () => {
    let app: INestApplication;
    let url: string;
    const sockets: WebSocket[] = [];

    beforeAll(async () => {
      backend = instrument(make());
      ({ app, url } = await boot(
        backend,
        [WsGateway, UnboundWsGateway],
        (nest) => new WsAdapter(nest),
      ));
    });

    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.close();
    });

    afterAll(async () => {
      await backend.clear();
      await app.close();
    });

    beforeEach(() => backend.resetCalls());

    async function connect(cookie?: string, path = '/ws'): Promise<WebSocket> {
      const socket = new WebSocket(`ws://${url}${path}`, {
        headers: cookie === undefined ? {} : { Cookie: cookie },
      });
      sockets.push(socket);
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      return socket;
    }

    /** Sends `{ event, data }` and resolves to the next message the server sends back. */
    function send(
      socket: WebSocket,
      event: string,
      data?: unknown,
    ): Promise<{ event: string; data: any }> {
      const reply = new Promise<{ event: string; data: any }>((resolve) =>
        socket.once('message', (raw) => resolve(JSON.parse(String(raw)))),
      );
      socket.send(JSON.stringify({ event, data }));
      return reply;
    }

    async function login(name: string): Promise<string> {
      return cookieFrom(await request(app.getHttpServer()).get(`/login?name=${name}`).expect(200));
    }

    it('reads and changes the session of the upgrade request’s cookie', async () => {
      const cookie = await login('hank');
      const socket = await connect(cookie);
      expect(await send(socket, 'whoami')).toEqual({ event: 'whoami', data: 'hank' });
      expect(await send(socket, 'note', 'over ws')).toEqual({
        event: 'note',
        data: { user: 'hank', note: 'over ws' },
      });
      const read = await request(app.getHttpServer()).get('/read').set('Cookie', cookie);
      expect(read.body).toEqual({ user: 'hank', note: 'over ws' });
    });

    it('sees an HTTP logout at the next message', async () => {
      const cookie = await login('ivy');
      const socket = await connect(cookie);
      expect((await send(socket, 'whoami')).data).toBe('ivy');
      await request(app.getHttpServer()).get('/logout').set('Cookie', cookie).expect(200);
      expect((await send(socket, 'whoami')).data).toBeNull();
    });

    it('fails a write to a session that does not exist with a clear error', async () => {
      const socket = await connect();
      const reply = await send(socket, 'note', 'lost?');
      expect(reply.event).toBe('exception');
      expect(reply.data.message).toMatch(/a WebSocket cannot set a cookie/);
      expect(backend.writes).toBe(0);
    });

    it.each(BAD_COOKIES)(
      'treats %s as no session, without a backend call',
      async (_case, cookie) => {
        const socket = await connect(cookie());
        expect((await send(socket, 'whoami')).data).toBeNull();
        expect(backend.total).toBe(0);
      },
    );

    it('tells a gateway that did not bind its sockets what to call', async () => {
      const socket = await connect(await login('jack'), '/unbound');
      // Handlers that do not use the session are not affected.
      expect(await send(socket, 'ping')).toEqual({ event: 'ping', data: 'pong' });
      const reply = await send(socket, 'whoami');
      expect(reply.event).toBe('exception');
      expect(reply.data.message).toMatch(/call sessionService.bindSocket\(client, request\)/);
    });
  });
});

describe(`WebSocket gateways (${platform()}) with the header transport`, () => {
  let app: INestApplication;
  let url: string;
  let socket: Socket | undefined;

  beforeAll(async () => {
    ({ app, url } = await boot(new MemoryBackend(), [IoGateway], undefined, {
      transport: 'header',
    }));
  });

  afterAll(async () => {
    socket?.disconnect();
    await app.close();
  });

  it('takes the session from the handshake’s session header', async () => {
    const login = await request(app.getHttpServer()).get('/login?name=kim').expect(200);
    const token = login.headers['x-session-token'] as string;
    expect(token).toBeTruthy();
    socket = io(`http://${url}`, {
      transports: ['websocket'],
      extraHeaders: { 'x-session-token': token },
      reconnection: false,
    });
    const reply = new Promise((resolve) => socket!.once('whoami', resolve));
    socket.emit('whoami');
    expect(await reply).toBe('kim');
  });
});
