import type { ServerResponse } from 'node:http';

/**
 * @internal The platform seam. Everything the library needs from an HTTP
 * request or response goes through here, so that Express and Fastify differ
 * in this file only.
 */
export interface SessionRequest {
  headers?: Record<string, string | string[] | undefined>;
  session?: unknown;
  [key: string | symbol]: unknown;
}

/** @internal What the service does to a response. */
export interface SessionResponse {
  /** Adds or replaces the session cookie, keeping the application's other cookies. */
  setCookie(name: string, header: string): void;
  /**
   * Makes sure `beforeEnd` runs (and settles) before the response is sent,
   * and `beforeHeaders` just before the headers go out, for responses the
   * interceptor does not see through: `@Res()` handlers, rejected guards.
   */
  guard(beforeHeaders: () => void, beforeEnd: () => Promise<void>, failureMessage: string): void;
}

/** @internal Set on Fastify requests by the module's onRequest hook: the request's reply. */
export const REPLY = Symbol('pselfastapise-async.reply');

export function cookieHeaderOf(request: SessionRequest): string | string[] | undefined {
  return request.headers?.cookie;
}

export function responseOf(request: SessionRequest): SessionResponse | undefined {
  const reply = request[REPLY] as FastifyReplyLike | undefined;
  if (reply) return new FastifyResponse(reply);
  const res = request.res as ServerResponse | undefined;
  return res ? new NodeResponse(res) : undefined;
}

function withCookie(existing: unknown, name: string, header: string): string[] {
  const prefix = `${name}=`;
  const list =
    existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  return [...list.filter((value: string) => !value.startsWith(prefix)), header];
}

/** Express, and anything else that hands out Node's ServerResponse. */
class NodeResponse implements SessionResponse {
  constructor(private readonly response: ServerResponse) {}

  setCookie(name: string, header: string): void {
    if (this.response.headersSent) return;
    const existing = this.response.getHeader('set-cookie');
    this.response.setHeader(
      'Set-Cookie',
      existing === undefined ? header : withCookie(existing, name, header),
    );
  }

  guard(beforeHeaders: () => void, beforeEnd: () => Promise<void>, failureMessage: string): void {
    const response = this.response;
    const writeHead = response.writeHead;
    const end = response.end;
    response.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      response.writeHead = writeHead;
      beforeHeaders();
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['writeHead'];
    response.end = function (this: ServerResponse, ...args: unknown[]) {
      response.end = end;
      const finish = () => (end as (...a: unknown[]) => ServerResponse).apply(response, args);
      beforeEnd().then(finish, () => {
        if (response.headersSent) finish();
        else
          (end as (chunk: string) => ServerResponse).call(
            response,
            unavailable(response, failureMessage),
          );
      });
      return response;
    } as ServerResponse['end'];
  }
}

/** Turns a response whose session could not be saved into a 503; returns its body. */
function unavailable(response: ServerResponse, message: string): string {
  for (const name of response.getHeaderNames()) response.removeHeader(name);
  response.statusCode = 503;
  const body = unavailableBody(message);
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(body));
  return body;
}

function unavailableBody(message: string): string {
  return JSON.stringify({ statusCode: 503, message, error: 'Service Unavailable' });
}

/** The parts of a Fastify reply the library uses. */
interface FastifyReplyLike {
  getHeader(name: string): unknown;
  header(name: string, value: unknown): unknown;
  removeHeader(name: string): unknown;
  code(status: number): unknown;
  sent?: boolean;
}

/** Fastify: cookies go through the reply; saving is driven by the onSend hook. */
class FastifyResponse implements SessionResponse {
  constructor(private readonly reply: FastifyReplyLike) {}

  setCookie(name: string, header: string): void {
    if (this.reply.sent) return;
    const existing = this.reply.getHeader('set-cookie');
    this.reply.removeHeader('set-cookie');
    this.reply.header('set-cookie', withCookie(existing, name, header));
  }

  guard(): void {
    // registerFastifyHooks' onSend hook saves before every reply is sent.
  }
}

/** The parts of a Fastify instance the library uses. */
interface FastifyLike {
  addHook(name: string, hook: (...args: never[]) => unknown): unknown;
  [key: symbol]: unknown;
}

const HOOKED = Symbol.for('pselfastapise-async.fastifyHooks');

/**
 * @internal Fastify hands handlers a request that does not know its reply, and
 * sends replies without going through Node's `end()` first: an onRequest hook
 * links the two, and an onSend hook saves the session before any reply goes
 * out (also for `@Res()` handlers and rejected guards).
 */
export function registerFastifyHooks(
  instance: FastifyLike,
  commit: (request: object) => Promise<void>,
  failureMessage: string,
): void {
  if (instance[HOOKED]) return;
  instance[HOOKED] = true;
  instance.addHook('onRequest', ((request: SessionRequest, reply: unknown, done: () => void) => {
    request[REPLY] = reply;
    (request.raw as SessionRequest)[REPLY] = reply;
    done();
  }) as never);
  instance.addHook('onSend', (async (
    request: object,
    reply: FastifyReplyLike,
    payload: unknown,
  ) => {
    try {
      await commit(request);
      return payload;
    } catch {
      reply.code(503);
      reply.removeHeader('set-cookie');
      reply.removeHeader('content-length');
      reply.header('content-type', 'application/json; charset=utf-8');
      return unavailableBody(failureMessage);
    }
  }) as never);
}
