import { Controller, Get, Req, type INestApplication, type LoggerService } from '@nestjs/common';
import session from 'express-session';
import request from 'supertest';
import { Session, sessionMiddleware, SessionModule } from '../../src/index.js';
import { createApp } from '../support/fixtures/app.js';
import { SECRET } from '../support/fixtures/http.js';

// An app moving from express-session that still has its middleware installed.

@Controller()
class CountController {
  @Get('count')
  count(@Req() req: { session: Record<string, unknown> }, @Session() _session: unknown): unknown {
    req.session.count = ((req.session.count as number) ?? 0) + 1;
    return { count: req.session.count };
  }
}

/** Collects what Nest logs as errors. */
class Errors implements LoggerService {
  readonly messages: string[] = [];
  log(): void {}
  warn(): void {}
  error(message: unknown, ...rest: unknown[]): void {
    this.messages.push([message, ...rest].map(String).join('\n'));
  }
}

const expressSession = () =>
  session({ secret: SECRET, resave: false, saveUninitialized: false, name: 'legacy' });

describe('express-session still installed', () => {
  let app: INestApplication;
  let errors: Errors;

  afterEach(() => app.close());

  it("fails each request with an error saying to remove it, and never breaks express-session's own hooks", async () => {
    errors = new Errors();
    app = await createApp(
      { imports: [SessionModule.forRoot({ secretKey: SECRET })], controllers: [CountController] },
      { logger: errors, beforeInit: (nest) => nest.use(expressSession()) },
    );
    const res = await request(app.getHttpServer()).get('/count').expect(500);
    expect(errors.messages.join('\n')).toContain(
      'request.session was already set by another session middleware (a Session',
    );
    expect(errors.messages.join('\n')).toContain('app.use(session({...}))');
    // A second request, with express-session's cookie if it set one, fails the same way.
    const cookie = res.headers['set-cookie'];
    const again = request(app.getHttpServer()).get('/count');
    if (cookie) again.set('Cookie', cookie);
    await again.expect(500);
    expect(errors.messages.join('\n')).not.toContain('is not a function');
  });

  it('fails in sessionMiddleware too when express-session ran first', async () => {
    errors = new Errors();
    app = await createApp(
      { imports: [SessionModule.forRoot({ secretKey: SECRET })], controllers: [CountController] },
      {
        logger: errors,
        beforeInit: (nest) => {
          nest.use(expressSession());
          nest.use(sessionMiddleware(nest));
          nest.use(
            (
              err: Error,
              _req: unknown,
              res: { status(n: number): { send(b: string): void } },
              _next: unknown,
            ) => {
              res.status(500).send(err.message);
            },
          );
        },
      },
    );
    const res = await request(app.getHttpServer()).get('/count').expect(500);
    expect(res.text).toContain('remove it');
  });
});
