// One benchmark contender per process: `BENCH_CONTENDER=<name> PORT=<port>
// node apps/main.js`. Prints READY once listening on 127.0.0.1. The driver
// compiles this file twice: as a Nest 11 CommonJS app (on the library's
// CommonJS build) and as a Nest 12 ES module app (on its ESM build).
//
// Every contender serves the same routes with the same handler bodies:
//   /none   does not touch the session
//   /read   reads the user
//   /write  adds one to a quantity in the cart
//   /login  creates a session holding a user and a cart (no cookie sent)
//   /__cpu  this process's CPU time and store round trips, read by the driver
import 'reflect-metadata';
import {
  Controller,
  createParamDecorator,
  Get,
  Injectable,
  Module,
  Req,
  UseInterceptors,
  type CallHandler,
  type DynamicModule,
  type ExecutionContext,
  type NestInterceptor,
  type Provider,
  type Type,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore } from 'connect-redis';
import session from 'express-session';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Observable, type Subscription } from 'rxjs';
import { Session, SessionModule, MemoryBackend, type SessionBackend } from 'pselfastapise-async';
import { PostgresBackend } from 'pselfastapise-async/backends/postgres';
import { RedisBackend } from 'pselfastapise-async/backends/redis';
import { CONTENDERS, type Contender, type ContenderName } from './contenders.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const MAX_AGE = 1_209_600;

/** The session every contender holds: a user with roles, and a small cart. */
interface User {
  id: number;
  name: string;
  roles: string[];
}
interface Cart {
  items: { sku: string; qty: number }[];
  currency: string;
}
interface Data {
  user?: User;
  cart?: Cart;
}

function userFor(id: number): User {
  return { id, name: `user ${id}`, roles: ['customer', 'newsletter', 'beta'] };
}

function newCart(): Cart {
  return {
    items: [
      { sku: 'SKU-1001', qty: 1 },
      { sku: 'SKU-2002', qty: 2 },
    ],
    currency: 'EUR',
  };
}

@Injectable()
class NoopInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle();
  }
}

/** Round trips this process has made to its store (Redis commands, PostgreSQL statements). */
let roundTrips = 0;
/** Requests this process has received, /__cpu included. */
let received = 0;

/**
 * Counts what every client of this process sends its store, whichever library
 * sends it: one Redis command or one PostgreSQL statement is one round trip.
 */
function countRoundTrips(): void {
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function counted(this: unknown, ...args: unknown[]) {
    roundTrips += 1;
    return query.apply(this, args);
  } as never;
  // A command can pass through sendCommand again (an offline queue flush): count it once.
  const sent = new WeakSet<object>();
  const proto = Redis.prototype as unknown as { sendCommand: (...args: unknown[]) => unknown };
  const sendCommand = proto.sendCommand;
  proto.sendCommand = function counted(this: unknown, ...args: unknown[]) {
    const command = args[0] as object;
    if (!sent.has(command)) {
      sent.add(command);
      roundTrips += 1;
    }
    return sendCommand.apply(this, args);
  };
}

@Controller()
class CpuController {
  @Get('__cpu')
  cpu(): { cpu: number; rss: number; roundTrips: number; received: number } {
    const { user, system } = process.cpuUsage();
    return { cpu: user + system, rss: process.memoryUsage.rss(), roundTrips, received };
  }
}

/**
 * What `@Session()` puts on a handler, with no session in it: a custom
 * parameter decorator (Nest resolves it through its parameter pipeline) that
 * binds `interceptor` to the handler it is applied to.
 */
const NoopParam = createParamDecorator(() => undefined);
function Binding(interceptor: Type<NestInterceptor>): ParameterDecorator {
  const param = NoopParam();
  return (target, method, index) => {
    param(target, method, index);
    const descriptor = Object.getOwnPropertyDescriptor(target, method!)!;
    UseInterceptors(interceptor)(target, method!, descriptor);
  };
}

/** No sessions, but each route shaped as a `@Session()` route, binding `interceptor`. */
function shapedController(interceptor: Type<NestInterceptor>): Type {
  @Controller()
  class ShapedController {
    @Get(['read', 'write', 'login'])
    none(@Binding(interceptor) _nothing: unknown): { ok: boolean } {
      return { ok: true };
    }
  }
  return ShapedController;
}

/**
 * The benchmark's session as RedisBackend encodes it, without the metadata
 * field RedisBackend adds (about 55 bytes): read and written by `bare-redis`.
 */
const RECORD = JSON.stringify({
  user: JSON.stringify(userFor(1)),
  cart: JSON.stringify(newCart()),
});
const READ_KEY = 'bench:bare-redis:read';
const WRITE_KEY = 'bench:bare-redis:write';
let floorClient: Redis | undefined;

/**
 * The Redis round trips a session route may make (one per read, two per
 * change, one per new session), with no session work around them: a GET of
 * that record before the handler on `/read` and
 * `/write`, and a SET of one after it on `/write` and `/login`, before the
 * response is written. One hand-written Observable, as ours is.
 */
@Injectable()
class RoundTripInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const redis = floorClient!;
    const path = context.switchToHttp().getRequest<{ path: string }>().path;
    const reads = path !== '/login';
    const writes = path !== '/read';
    return new Observable((subscriber) => {
      let handled: Subscription | undefined;
      let saved: Promise<unknown> = Promise.resolve();
      const failed = (error: unknown) => subscriber.error(error);
      const start = () => {
        if (subscriber.closed) return;
        handled = next.handle().subscribe({
          next: (value) => {
            saved = writes
              ? redis.set(WRITE_KEY, RECORD, 'EX', MAX_AGE).then(() => subscriber.next(value))
              : Promise.resolve(subscriber.next(value));
            saved.catch(failed);
          },
          error: failed,
          complete: () => saved.then(() => subscriber.complete(), failed),
        });
      };
      if (reads) redis.get(READ_KEY).then(start).catch(failed);
      else start();
      return () => handled?.unsubscribe();
    });
  }
}

/** No sessions: every route answers as `/none` does. */
@Controller()
class BareController {
  @Get(['none', 'read', 'write', 'login'])
  none(): { ok: boolean } {
    return { ok: true };
  }
}

let logins = 0;

@Controller()
class OursController {
  @Get('none')
  none(): { ok: boolean } {
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session<Data & Record<string, unknown>>): { name?: string } {
    return { name: session.get('user')?.name };
  }

  @Get('write')
  write(@Session() session: Session<Data & Record<string, unknown>>): { qty: number } {
    const cart = session.get('cart') ?? newCart();
    cart.items[0].qty += 1;
    session.set('cart', cart);
    return { qty: cart.items[0].qty };
  }

  @Get('login')
  login(@Session() session: Session<Data & Record<string, unknown>>): { id: number } {
    logins += 1;
    session.set('user', userFor(logins));
    session.set('cart', newCart());
    return { id: logins };
  }
}

@Controller()
class ExpressSessionController {
  @Get('none')
  none(): { ok: boolean } {
    return { ok: true };
  }

  @Get('read')
  read(@Req() req: { session: Data }): { name?: string } {
    return { name: req.session.user?.name };
  }

  @Get('write')
  write(@Req() req: { session: Data }): { qty: number } {
    const cart = (req.session.cart ??= newCart());
    cart.items[0].qty += 1;
    return { qty: cart.items[0].qty };
  }

  @Get('login')
  login(@Req() req: { session: Data }): { id: number } {
    logins += 1;
    req.session.user = userFor(logins);
    req.session.cart = newCart();
    return { id: logins };
  }
}

function ourBackend(contender: Contender, urls: { redis: string; database: string }) {
  if (contender.store === 'redis') return new RedisBackend({ client: new Redis(urls.redis) });
  if (contender.store === 'postgres')
    return new PostgresBackend({ connectionString: urls.database });
  return new MemoryBackend();
}

function expressSession(contender: Contender, urls: { redis: string; database: string }) {
  let store: session.Store | undefined;
  if (contender.store === 'redis') {
    store = new RedisStore({ client: new Redis(urls.redis), ttl: MAX_AGE });
  }
  if (contender.store === 'postgres') {
    // Its table is created once by the driver (bench/run.js) from connect-pg-simple's
    // table.sql, in a schema of its own: its default table name, session, is ours too.
    const PgStore = connectPgSimple(session);
    store = new PgStore({
      conString: urls.database,
      schemaName: 'connect_pg_simple',
      ttl: MAX_AGE,
    });
  }
  return session({
    secret: SECRET,
    resave: false,
    saveUninitialized: false,
    rolling: contender.rolling,
    store,
    cookie: { maxAge: MAX_AGE * 1000, httpOnly: true, sameSite: 'lax' },
  });
}

function appModule(name: ContenderName, urls: { redis: string; database: string }): Type {
  const contender: Contender = CONTENDERS[name];
  const controllers: Type[] = [CpuController];
  const imports: DynamicModule[] = [];
  const providers: Provider[] = [];
  if (contender.kind === 'bare') {
    // bare-decorator: the floor of ours; bare-redis: that plus a session's Redis round trips.
    controllers.push(
      name === 'bare-decorator'
        ? shapedController(NoopInterceptor)
        : name === 'bare-redis'
          ? shapedController(RoundTripInterceptor)
          : BareController,
    );
  }
  // Nest's own cost of running one global interceptor, with nothing in it.
  if (name === 'bare-interceptor')
    providers.push({ provide: APP_INTERCEPTOR, useClass: NoopInterceptor });
  if (contender.kind === 'express-session') controllers.push(ExpressSessionController);
  if (contender.kind === 'ours') {
    controllers.push(OursController);
    imports.push(
      SessionModule.forRoot({
        secretKey: SECRET,
        backend: ourBackend(contender, urls) as SessionBackend,
        maxAge: MAX_AGE,
        rolling: contender.rolling,
        ...contender.options,
      }),
    );
  }
  @Module({ imports, controllers, providers })
  class BenchModule {}
  return BenchModule;
}

async function main(): Promise<void> {
  const name = (process.env.BENCH_CONTENDER ?? process.argv[2]) as ContenderName;
  if (!(name in CONTENDERS))
    throw new Error(`unknown contender ${name}: one of ${Object.keys(CONTENDERS).join(', ')}`);
  const urls = {
    redis: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    database: process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  };
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error('PORT must be set');
  const contender: Contender = CONTENDERS[name];
  countRoundTrips();
  if (name === 'bare-redis') {
    floorClient = new Redis(urls.redis);
    await floorClient.set(READ_KEY, RECORD, 'EX', MAX_AGE);
  }
  const app = await NestFactory.create(appModule(name, urls), { logger: false });
  app.use((_req: unknown, _res: unknown, next: () => void) => {
    received += 1;
    next();
  });
  if (contender.kind === 'express-session') app.use(expressSession(contender, urls));
  await app.listen(port, '127.0.0.1');
  const stop = () => {
    void app.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  console.log('READY');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
