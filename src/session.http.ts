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
  /** True once the headers are written: a cookie set now would not reach the client. */
  readonly headersSent: boolean;
  /** Adds or replaces the session cookie, keeping the application's other cookies. */
  setCookie(name: string, header: string): void;
  /**
   * Makes sure `beforeEnd` runs (and settles) before the response is sent,
   * and `beforeHeaders` just before the headers go out, for responses the
   * interceptor does not see through: `@Res()` handlers, rejected guards,
   * streams, `@Sse()`, hijacked Fastify replies.
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
  return [...withoutCookie(existing, name), header];
}

function withoutCookie(existing: unknown, name: string): string[] {
  const prefix = `${name}=`;
  const list =
    existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  return list.filter((value: string) => !value.startsWith(prefix));
}

/** The session cookie set on a Node response, kept on it. */
const SESSION_COOKIE = Symbol('pselfastapise-async.sessionCookie');

type Tagged = ServerResponse & { [SESSION_COOKIE]?: { name: string; header: string } };

/** Forgets the session cookie of a response whose save failed; returns its name. */
function forgetSessionCookie(response: ServerResponse): string | undefined {
  const cookie = (response as Tagged)[SESSION_COOKIE];
  delete (response as Tagged)[SESSION_COOKIE];
  return cookie?.name;
}

/**
 * Headers that describe the response the handler meant to send. A 503 that
 * replaces it drops them (and the session cookie) and keeps the rest: what
 * middleware set for every response (CORS, HSTS, request ids) still applies.
 */
const FAILED_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-range',
  'content-disposition',
  'content-location',
  'transfer-encoding',
  'etag',
  'last-modified',
  'location',
];

/** Ended, or torn down: writing to it again would fail (ERR_STREAM_WRITE_AFTER_END). */
function closed(response: ServerResponse): boolean {
  return response.writableEnded || response.destroyed;
}

type Method = (this: ServerResponse, ...args: unknown[]) => ServerResponse;

/** Express, and anything else that hands out Node's ServerResponse. */
class NodeResponse implements SessionResponse {
  constructor(private readonly response: ServerResponse) {}

  get headersSent(): boolean {
    return this.response.headersSent;
  }

  setCookie(name: string, header: string): void {
    if (this.response.headersSent) return;
    (this.response as Tagged)[SESSION_COOKIE] = { name, header };
    const existing = this.response.getHeader('set-cookie');
    this.response.setHeader(
      'Set-Cookie',
      existing === undefined ? header : withCookie(existing, name, header),
    );
  }

  /**
   * While `passThrough()` is true, something else is saving before it sends
   * (Fastify's onSend hook): the response is then left alone.
   */
  guard(
    beforeHeaders: () => void,
    beforeEnd: () => Promise<void>,
    failureMessage: string,
    passThrough: () => boolean = () => false,
  ): void {
    const response = this.response as unknown as Record<'writeHead' | 'end', Method>;
    const writeHead = response.writeHead;
    const end = response.end;
    const keepCookie = (args: unknown[]) => this.keepCookie(args);
    response.writeHead = function (...args) {
      response.writeHead = writeHead;
      if (!passThrough()) {
        beforeHeaders();
        keepCookie(args);
      }
      return writeHead.apply(this, args);
    };
    response.end = function (...args) {
      response.end = end;
      if (passThrough()) return end.apply(this, args);
      // While this end() waits, another one (a timeout middleware's, say)
      // replaces it: that one goes out at once, without the headers that
      // described this body, and this one is dropped.
      const described = FAILED_RESPONSE_HEADERS.map(
        (name) => [name, this.getHeader(name)] as const,
      );
      const replace: Method = function (...other) {
        response.end = end;
        for (const [name, value] of described)
          if (value !== undefined && this.getHeader(name) === value) this.removeHeader(name);
        return end.apply(this, other);
      };
      response.end = replace;
      const settle = (send: () => void) => {
        if (response.end === replace) response.end = end;
        if (!closed(this)) send();
      };
      beforeEnd().then(
        () => settle(() => end.apply(this, args)),
        () =>
          settle(() =>
            this.headersSent
              ? end.apply(this, args)
              : end.call(this, unavailable(this, failureMessage)),
          ),
      );
      return this;
    };
  }

  /**
   * Headers passed to writeHead() win over those set before: when they carry
   * a Set-Cookie of their own (Nest's `@Sse()` on Fastify passes the reply's
   * headers, read before the session cookie was set), the session cookie is
   * added to it.
   */
  private keepCookie(args: unknown[]): void {
    const cookie = (this.response as Tagged)[SESSION_COOKIE];
    if (!cookie) return;
    const at = args.length - 1;
    const headers = args[at];
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return;
    const record = headers as Record<string, unknown>;
    const key = Object.keys(record).find((name) => name.toLowerCase() === 'set-cookie');
    if (key === undefined) return;
    args[at] = { ...record, [key]: withCookie(record[key], cookie.name, cookie.header) };
  }
}

/** Turns a response whose session could not be saved into a 503; returns its body. */
function unavailable(response: ServerResponse, message: string): string {
  for (const name of FAILED_RESPONSE_HEADERS) response.removeHeader(name);
  const cookieName = forgetSessionCookie(response);
  if (cookieName !== undefined) {
    const rest = withoutCookie(response.getHeader('set-cookie'), cookieName);
    if (rest.length > 0) response.setHeader('Set-Cookie', rest);
    else response.removeHeader('set-cookie');
  }
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
  /** True once the reply is hijacked or its response ended. */
  sent?: boolean;
  raw: ServerResponse;
  [key: symbol]: unknown;
}

/**
 * Set on a reply while the onSend hook saves. The guard leaves the raw
 * response alone meanwhile (an end() before Fastify writes comes from
 * elsewhere, a timeout middleware say); once Fastify writes, it holds back the
 * end for what changed while a streamed payload was being sent.
 */
const SAVING = Symbol('pselfastapise-async.saving');

/**
 * Fastify. A reply sent with `reply.send()` is saved by the onSend hook and
 * sends the reply's headers; one that bypasses it (`reply.hijack()`, `@Sse()`,
 * a handler writing `reply.raw`) sends the raw response's headers and is
 * saved by the same guard as on Express. The cookie goes on both.
 */
class FastifyResponse implements SessionResponse {
  private readonly node: NodeResponse;

  constructor(private readonly reply: FastifyReplyLike) {
    this.node = new NodeResponse(reply.raw);
  }

  get headersSent(): boolean {
    return this.reply.raw.headersSent;
  }

  setCookie(name: string, header: string): void {
    if (!this.reply.sent) {
      const existing = this.reply.getHeader('set-cookie');
      this.reply.removeHeader('set-cookie');
      this.reply.header('set-cookie', withCookie(existing, name, header));
    }
    this.node.setCookie(name, header);
  }

  guard(beforeHeaders: () => void, beforeEnd: () => Promise<void>, failureMessage: string): void {
    this.node.guard(beforeHeaders, beforeEnd, failureMessage, () => this.reply[SAVING] === true);
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
    reply[SAVING] = true;
    try {
      await commit(request);
      return payload;
    } catch {
      reply.code(503);
      for (const name of FAILED_RESPONSE_HEADERS) reply.removeHeader(name);
      const cookieName = forgetSessionCookie(reply.raw);
      if (cookieName !== undefined) {
        const rest = withoutCookie(reply.getHeader('set-cookie'), cookieName);
        reply.removeHeader('set-cookie');
        if (rest.length > 0) reply.header('set-cookie', rest);
      }
      reply.header('content-type', 'application/json; charset=utf-8');
      // A stream the 503 replaces is never read: release what it holds (a file).
      (payload as { destroy?: () => void } | null)?.destroy?.();
      return unavailableBody(failureMessage);
    } finally {
      reply[SAVING] = false;
    }
  }) as never);
}
