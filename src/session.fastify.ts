import type { ServerResponse } from 'node:http';
import {
  exposing,
  FAILED_RESPONSE_HEADERS,
  forgetSessionCookie,
  forgetSessionHeader,
  NodeResponse,
  failureOf,
  withCookie,
  withoutCookie,
  type SessionRequest,
  type SessionResponse,
} from './session.http.js';

/** @internal Set on Fastify requests by the module's onRequest hook: the request's reply. */
export const REPLY = Symbol('pselfastapise-async.reply');

/** @internal The response of a Fastify request (linked to its reply by the onRequest hook). */
export function fastifyResponseOf(request: SessionRequest): SessionResponse | undefined {
  const reply = request[REPLY] as FastifyReplyLike | undefined;
  return reply ? new FastifyResponse(reply) : undefined;
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

  setToken(name: string, value: string): void {
    if (!this.reply.sent) {
      const expose = 'access-control-expose-headers';
      this.reply.header(name, value);
      this.reply.header(expose, exposing(this.reply.getHeader(expose), name));
    }
    this.node.setToken(name, value);
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
  linked: (request: object) => void = () => undefined,
): void {
  if (instance[HOOKED]) return;
  instance[HOOKED] = true;
  instance.addHook('onRequest', ((request: SessionRequest, reply: unknown, done: () => void) => {
    request[REPLY] = reply;
    (request.raw as SessionRequest)[REPLY] = reply;
    // Middleware (through middie) ran before this hook: its session may owe the reply a cookie.
    linked(request);
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
    } catch (error) {
      const failure = failureOf(error, failureMessage);
      reply.code(failure.status);
      for (const name of FAILED_RESPONSE_HEADERS) reply.removeHeader(name);
      const headerName = forgetSessionHeader(reply.raw);
      if (headerName !== undefined) {
        reply.removeHeader(headerName);
        reply.raw.removeHeader(headerName);
      }
      const cookieName = forgetSessionCookie(reply.raw);
      if (cookieName !== undefined) {
        const rest = withoutCookie(reply.getHeader('set-cookie'), cookieName);
        reply.removeHeader('set-cookie');
        if (rest.length > 0) reply.header('set-cookie', rest);
      }
      reply.header('content-type', 'application/json; charset=utf-8');
      // A stream the 503 replaces is never read: release what it holds (a file).
      (payload as { destroy?: () => void } | null)?.destroy?.();
      return failure.body;
    } finally {
      reply[SAVING] = false;
    }
  }) as never);
}
