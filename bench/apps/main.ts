// One benchmark contender per process: `BENCH_CONTENDER=<name> PORT=<port>
// node .bench/build/apps/main.js`. Prints READY once listening on 127.0.0.1.
//
// Every contender serves the same routes with the same handler bodies:
//   /none   does not touch the session
//   /read   reads one key
//   /write  increments a counter
//   /login  creates a session (the client sends no cookie)
//   /__cpu  this process's CPU time, read by the driver around each measurement
import 'reflect-metadata';
import {
  Controller,
  Get,
  Injectable,
  Module,
  Req,
  type CallHandler,
  type DynamicModule,
  type ExecutionContext,
  type NestInterceptor,
  type Provider,
  type Type,
} from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { Session, SessionModule, MemoryBackend, type SessionBackend } from 'pselfastapise-async';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONTENDERS, type Contender, type ContenderName } from './contenders.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const MAX_AGE = 1_209_600;

interface Counted {
  userId?: number;
  count?: number;
}

@Injectable()
class NoopInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle();
  }
}

/** Statements sent to PostgreSQL by this process, when counted (see countStatements). */
let statements: number | null = null;
/** Requests this process has received, /__cpu included. */
let received = 0;

/**
 * Counts every statement any pg client of this process sends (the pool's
 * `query` goes through the client's), whichever library sends it: how the
 * driver gets PostgreSQL round trips per request, as it reads Redis commands
 * from INFO commandstats.
 */
async function countStatements(): Promise<void> {
  const specifier: string = 'pg';
  const { default: pg } = (await import(specifier)) as {
    default: { Client: { prototype: { query: (...args: unknown[]) => unknown } } };
  };
  const query = pg.Client.prototype.query;
  statements = 0;
  pg.Client.prototype.query = function counted(this: unknown, ...args: unknown[]) {
    statements! += 1;
    return query.apply(this, args);
  };
}

@Controller()
class CpuController {
  @Get('__cpu')
  cpu(): { cpu: number; rss: number; statements: number | null; received: number } {
    const { user, system } = process.cpuUsage();
    return { cpu: user + system, rss: process.memoryUsage.rss(), statements, received };
  }
}

@Controller()
class BareController {
  @Get('none')
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
  read(@Session() session: Session): { userId: unknown } {
    return { userId: session.get('userId') };
  }

  @Get('write')
  write(@Session() session: Session): { count: number } {
    const count = ((session.get('count') as number | undefined) ?? 0) + 1;
    session.set('count', count);
    return { count };
  }

  @Get('login')
  login(@Session() session: Session): { userId: number } {
    logins += 1;
    session.set('userId', logins);
    session.set('count', 0);
    return { userId: logins };
  }
}

@Controller()
class ExpressSessionController {
  @Get('none')
  none(): { ok: boolean } {
    return { ok: true };
  }

  @Get('read')
  read(@Req() req: { session: Counted }): { userId: unknown } {
    return { userId: req.session.userId };
  }

  @Get('write')
  write(@Req() req: { session: Counted }): { count: number } {
    const count = (req.session.count ?? 0) + 1;
    req.session.count = count;
    return { count };
  }

  @Get('login')
  login(@Req() req: { session: Counted }): { userId: number } {
    logins += 1;
    req.session.userId = logins;
    req.session.count = 0;
    return { userId: logins };
  }
}

/** Where the RedisBackend build lands; it is written on another branch and may be missing. */
export const REDIS_BACKEND_JS = fileURLToPath(
  new URL('../../../dist/esm/backends/redis.backend.js', import.meta.url),
);

async function redisBackend(url: string): Promise<SessionBackend> {
  if (!existsSync(REDIS_BACKEND_JS)) throw new Error('RedisBackend not built');
  const specifier: string = 'pselfastapise-async/backends/redis';
  const { RedisBackend } = (await import(specifier)) as {
    RedisBackend: new (options: { client: Redis }) => SessionBackend;
  };
  return new RedisBackend({ client: new Redis(url) });
}

/** Where the PostgresBackend build lands; it is written on another branch and may be missing. */
export const POSTGRES_BACKEND_JS = fileURLToPath(
  new URL('../../../dist/esm/backends/postgres.backend.js', import.meta.url),
);

async function postgresBackend(databaseUrl: string): Promise<SessionBackend> {
  if (!existsSync(POSTGRES_BACKEND_JS)) throw new Error('PostgresBackend not built');
  const specifier: string = 'pselfastapise-async/backends/postgres';
  const { PostgresBackend } = (await import(specifier)) as {
    PostgresBackend: new (options: { connectionString: string }) => SessionBackend;
  };
  return new PostgresBackend({ connectionString: databaseUrl });
}

async function expressSession(
  store: 'memory' | 'redis' | 'postgres',
  rolling: boolean,
  urls: { redis: string; database: string },
) {
  const { default: session } = await import('express-session');
  let storeInstance: unknown;
  if (store === 'redis') {
    const { RedisStore } = await import('connect-redis');
    storeInstance = new RedisStore({ client: new Redis(urls.redis), ttl: MAX_AGE });
  }
  if (store === 'postgres') {
    // Its table is created once by the driver (bench/run.js) from connect-pg-simple's
    // table.sql, in a schema of its own: its default table name, session, is ours too.
    const specifier: string = 'connect-pg-simple';
    const { default: connectPgSimple } = (await import(specifier)) as {
      default: (s: typeof session) => new (options: Record<string, unknown>) => unknown;
    };
    const PgStore = connectPgSimple(session);
    storeInstance = new PgStore({
      conString: urls.database,
      schemaName: 'connect_pg_simple',
      ttl: MAX_AGE,
    });
  }
  return session({
    secret: SECRET,
    resave: false,
    saveUninitialized: false,
    rolling,
    store: storeInstance,
    cookie: { maxAge: MAX_AGE * 1000, httpOnly: true, sameSite: 'lax' },
  });
}

async function appModule(
  name: ContenderName,
  urls: { redis: string; database: string },
): Promise<Type | DynamicModule> {
  const contender = CONTENDERS[name];
  const controllers: Type[] = [CpuController];
  const imports: DynamicModule[] = [];
  const providers: Provider[] = [];
  if (contender.kind === 'bare') controllers.push(BareController);
  // The floor of any library built on a global interceptor: Nest's own cost
  // of running one, with nothing in it.
  if (name === 'bare-interceptor')
    providers.push({ provide: APP_INTERCEPTOR, useClass: NoopInterceptor });
  if (contender.kind === 'express-session') controllers.push(ExpressSessionController);
  if (contender.kind === 'ours') {
    controllers.push(OursController);
    const backend =
      contender.store === 'redis'
        ? await redisBackend(urls.redis)
        : contender.store === 'postgres'
          ? await postgresBackend(urls.database)
          : new MemoryBackend();
    imports.push(
      SessionModule.forRoot({
        secretKey: SECRET,
        backend,
        maxAge: MAX_AGE,
        rolling: contender.rolling,
        touchAfter: (contender as Contender).touchAfter,
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
    redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    database: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error('PORT must be set');
  const contender = CONTENDERS[name];
  if (contender.store === 'postgres') await countStatements();
  const app = await NestFactory.create(await appModule(name, urls), { logger: false });
  app.use((_req: unknown, _res: unknown, next: () => void) => {
    received += 1;
    next();
  });
  if (contender.kind === 'express-session')
    app.use(await expressSession(contender.store, contender.rolling, urls));
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
