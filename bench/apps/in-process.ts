// `node apps/in-process.js`: what our own code costs per request, without
// HTTP and without Nest's request pipeline. It calls `SessionInterceptor`
// as Nest would (the `/read`, `/write` and `/login` handler bodies of
// apps/main.ts in between), on the memory backend, with a request and a
// response that only hold headers, and prints the CPU µs per request (the
// median of 5 runs) as JSON. The driver runs it on the server's core, next to
// the HTTP measurements: the difference is Nest's, Express's and Node's.
import 'reflect-metadata';
import { Controller, Get, Module, type CallHandler, type ExecutionContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { of, type Observable } from 'rxjs';
import {
  MemoryBackend,
  Session,
  SessionInterceptor,
  SessionModule,
  SessionService,
} from 'pselfastapise-async';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const REQUESTS = 20_000;

type Handler = (session: Session) => unknown;

@Controller()
class InProcessController {
  @Get('route')
  route(@Session() session: Session): Session {
    return session;
  }
}

@Module({
  imports: [
    SessionModule.forRoot({ secretKey: SECRET, maxAge: 1_209_600, backend: new MemoryBackend() }),
  ],
  controllers: [InProcessController],
})
class InProcessModule {}

/** The parts of a Node response the library uses, holding headers only. */
class HeadersOnlyResponse {
  headersSent = false;
  writableEnded = false;
  destroyed = false;
  readonly ended: Promise<void>;
  private headers: Record<string, unknown> = {};
  private done!: () => void;

  constructor() {
    this.ended = new Promise((resolve) => (this.done = resolve));
  }

  getHeader(name: string): unknown {
    return this.headers[name.toLowerCase()];
  }
  getHeaders(): Record<string, unknown> {
    return { ...this.headers };
  }
  setHeader(name: string, value: unknown): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }
  removeHeader(name: string): void {
    delete this.headers[name.toLowerCase()];
  }
  writeHead(): this {
    this.headersSent = true;
    return this;
  }
  end(): this {
    this.writableEnded = true;
    this.done();
    return this;
  }
}

function contextOf(request: object): ExecutionContext {
  return {
    getType: () => 'http',
    getClass: () => InProcessController,
    getHandler: () => InProcessController.prototype.route,
    getArgs: () => [request],
    getArgByIndex: (index: number) => (index === 0 ? request : undefined),
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(InProcessModule, { logger: false });
  const interceptor = new SessionInterceptor(app.get(SessionService));

  /** One request: the interceptor around `handler`, then the response written. */
  const request = async (cookie: string | undefined, handler: Handler): Promise<string> => {
    const res = new HeadersOnlyResponse();
    const req: Record<string, unknown> = { headers: cookie ? { cookie } : {}, res };
    const next: CallHandler = {
      handle: (): Observable<unknown> => of(handler(req.session as Session)),
    };
    await new Promise<void>((resolve, reject) =>
      interceptor.intercept(contextOf(req), next).subscribe({ complete: resolve, error: reject }),
    );
    res.writeHead();
    res.end();
    await res.ended;
    return String(res.getHeader('set-cookie') ?? '');
  };

  let logins = 0;
  const login: Handler = (session) => {
    logins += 1;
    session.set('user', {
      id: logins,
      name: `user ${logins}`,
      roles: ['customer', 'newsletter', 'beta'],
    });
    session.set('cart', {
      items: [
        { sku: 'SKU-1001', qty: 1 },
        { sku: 'SKU-2002', qty: 2 },
      ],
      currency: 'EUR',
    });
  };
  const cookie = (await request(undefined, login)).split(';')[0];
  const read: Handler = (session) => (session.get('user') as { name?: string } | undefined)?.name;
  const write: Handler = (session) => {
    const cart = session.get('cart') as { items: { qty: number }[] };
    cart.items[0].qty += 1;
    session.set('cart', cart);
  };

  const workloads: [string, string | undefined, Handler][] = [
    ['/read', cookie, read],
    ['/write', cookie, write],
    ['/login', undefined, login],
  ];
  const result: Record<string, number> = {};
  for (const [name, withCookie, handler] of workloads) {
    const runs: number[] = [];
    for (let run = 0; run < 6; run += 1) {
      const start = process.cpuUsage();
      for (let i = 0; i < REQUESTS; i += 1) await request(withCookie, handler);
      const { user, system } = process.cpuUsage(start);
      // The first run warms up.
      if (run > 0) runs.push((user + system) / REQUESTS);
    }
    result[name] = runs.sort((a, b) => a - b)[2];
  }
  await app.close();
  console.log(JSON.stringify(result));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exit(1);
});
