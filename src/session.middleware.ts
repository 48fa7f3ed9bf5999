import { Injectable, type INestApplicationContext, type NestMiddleware } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { unavailableBody } from './session.http.js';
import { messages } from './session.messages.js';
import { SessionService } from './session.service.js';

/** Connect-style middleware: `(req, res, next)`. */
export type SessionRequestHandler = (
  req: object,
  res: object,
  next: (error?: unknown) => void,
) => void;

/** express-session's `req.sessionID`: the session's id, `''` until a new session is first saved. */
const SESSION_ID: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get(this: { session?: { id?: unknown } }) {
    return this.session?.id;
  },
};

/**
 * Connect-style middleware that loads the request's session before the
 * middleware after it, for code written for express-session (Passport,
 * connect-flash…): `req.session` (the same `Session` that handlers, guards
 * and `@Session()` get; it is read from the backend once) and
 * `req.sessionID`. Changes are saved as always, before the response is sent.
 * When the backend fails, the request is answered with a 503.
 *
 * @example
 * const app = await NestFactory.create(AppModule);
 * app.use(sessionMiddleware(app)); // instead of app.use(session({...}))
 * app.use(passport.initialize());
 * app.use(passport.session());
 */
export function sessionMiddleware(app: INestApplicationContext): SessionRequestHandler {
  let sessions: SessionService;
  try {
    sessions = app.get(SessionService, { strict: false });
  } catch {
    throw new Error(messages.middlewareWithoutModule());
  }
  return middlewareOf(sessions);
}

/**
 * `sessionMiddleware` as an injectable, for a module's `configure()`:
 *
 * @example
 * export class AppModule implements NestModule {
 *   configure(consumer: MiddlewareConsumer) {
 *     consumer.apply(SessionMiddleware, passport.initialize(), passport.session()).forRoutes('*');
 *   }
 * }
 */
@Injectable()
export class SessionMiddleware implements NestMiddleware {
  private readonly handle: SessionRequestHandler;

  constructor(sessions: SessionService) {
    this.handle = middlewareOf(sessions);
  }

  use(req: object, res: object, next: (error?: unknown) => void): void {
    this.handle(req, res, next);
  }
}

function middlewareOf(sessions: SessionService): SessionRequestHandler {
  return (req, res, next) => {
    let ready;
    try {
      ready = sessions.loadNow(req);
    } catch (error) {
      next(error);
      return;
    }
    if (ready) {
      proceed(req, next);
      return;
    }
    sessions.load(req).then(
      () => proceed(req, next),
      (error: Error) => answerUnavailable(res as ServerResponse, error.message),
    );
  };
}

function proceed(req: object, next: () => void): void {
  if (!Object.hasOwn(req, 'sessionID')) Object.defineProperty(req, 'sessionID', SESSION_ID);
  next();
}

/** The 503 the interceptor answers with when the session cannot be loaded. */
function answerUnavailable(res: ServerResponse, message: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = unavailableBody(message);
  res.statusCode = 503;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
