import type { ServerResponse } from 'node:http';
import { HttpException } from '@nestjs/common';

/**
 * @internal The platform seam. Everything the library needs from an HTTP
 * request or response goes through here (Node's response, as Express hands
 * it out) and session.fastify.ts (what Fastify does differently).
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
   * Sets the session header of the header transport to `value` and lists it
   * in `Access-Control-Expose-Headers` (added to what is there), so that
   * scripts of other origins that CORS lets in can read it.
   */
  setToken(name: string, value: string): void;
  /**
   * Makes sure `beforeEnd` runs (and settles) before the response is sent,
   * and `beforeHeaders` just before the headers go out, for responses the
   * interceptor does not see through: `@Res()` handlers, rejected guards,
   * streams, `@Sse()`, hijacked Fastify replies.
   */
  guard(beforeHeaders: () => void, beforeEnd: () => Promise<void>, failureMessage: string): void;
}

/** @internal The response of an Express (or plain Node) request. */
export function nodeResponseOf(request: SessionRequest): SessionResponse | undefined {
  const res = request.res as ServerResponse | undefined;
  return res ? new NodeResponse(res) : undefined;
}

/** @internal */
export function withCookie(existing: unknown, name: string, header: string): string[] {
  return [...withoutCookie(existing, name), header];
}

/** @internal */
export function withoutCookie(existing: unknown, name: string): string[] {
  const prefix = `${name}=`;
  const list =
    existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  return list.filter((value: string) => !value.startsWith(prefix));
}

/** @internal `existing` (an Access-Control-Expose-Headers value) listing `name` too. */
export function exposing(existing: unknown, name: string): string {
  const list = (Array.isArray(existing) ? existing.join(',') : String(existing ?? ''))
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  const lower = name.toLowerCase();
  if (!list.some((item) => item === '*' || item.toLowerCase() === lower)) list.push(name);
  return list.join(', ');
}

/** The session cookie set on a Node response, kept on it. */
const SESSION_COOKIE = Symbol('pselfastapise-async.sessionCookie');
/** The session header set on a Node response, kept on it. */
const SESSION_HEADER = Symbol('pselfastapise-async.sessionHeader');

type Tagged = ServerResponse & {
  [SESSION_COOKIE]?: { name: string; header: string };
  [SESSION_HEADER]?: string;
};

/** Forgets the session cookie of a response whose save failed; returns its name. */
export function forgetSessionCookie(response: ServerResponse): string | undefined {
  const cookie = (response as Tagged)[SESSION_COOKIE];
  delete (response as Tagged)[SESSION_COOKIE];
  return cookie?.name;
}

/** Forgets the session header of a response whose save failed; returns its name. */
export function forgetSessionHeader(response: ServerResponse): string | undefined {
  const name = (response as Tagged)[SESSION_HEADER];
  delete (response as Tagged)[SESSION_HEADER];
  return name;
}

/**
 * Headers that describe the response the handler meant to send. A 503 that
 * replaces it drops them (and the session cookie) and keeps the rest: what
 * middleware set for every response (CORS, HSTS, request ids) still applies.
 */
export const FAILED_RESPONSE_HEADERS = [
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
export class NodeResponse implements SessionResponse {
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

  setToken(name: string, value: string): void {
    if (this.response.headersSent) return;
    (this.response as Tagged)[SESSION_HEADER] = name;
    this.response.setHeader(name, value);
    const expose = 'Access-Control-Expose-Headers';
    this.response.setHeader(expose, exposing(this.response.getHeader(expose), name));
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
      const described = this.getHeaders();
      const replace: Method = function (...other) {
        response.end = end;
        for (const name of FAILED_RESPONSE_HEADERS) {
          const value = described[name];
          if (value !== undefined && this.getHeader(name) === value) this.removeHeader(name);
        }
        return end.apply(this, other);
      };
      response.end = replace;
      const settle = (send: () => void) => {
        if (response.end === replace) response.end = end;
        if (!closed(this)) send();
      };
      beforeEnd().then(
        () => settle(() => end.apply(this, args)),
        (error: unknown) =>
          settle(() =>
            this.headersSent
              ? end.apply(this, args)
              : end.call(this, unavailable(this, failureOf(error, failureMessage))),
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

/**
 * @internal What replaces a response whose session could not be saved: a 503,
 * or the HTTP error the save failed with (a `SessionLimitError` is a 409).
 */
export function failureOf(error: unknown, message: string): { status: number; body: string } {
  if (error instanceof HttpException) {
    return { status: error.getStatus(), body: JSON.stringify(error.getResponse()) };
  }
  return { status: 503, body: unavailableBody(message) };
}

/** Turns a response whose session could not be saved into `failure`; returns its body. */
function unavailable(response: ServerResponse, failure: { status: number; body: string }): string {
  for (const name of FAILED_RESPONSE_HEADERS) response.removeHeader(name);
  const headerName = forgetSessionHeader(response);
  if (headerName !== undefined) response.removeHeader(headerName);
  const cookieName = forgetSessionCookie(response);
  if (cookieName !== undefined) {
    const rest = withoutCookie(response.getHeader('set-cookie'), cookieName);
    if (rest.length > 0) response.setHeader('Set-Cookie', rest);
    else response.removeHeader('set-cookie');
  }
  response.statusCode = failure.status;
  const { body } = failure;
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(body));
  return body;
}

/** @internal The JSON body of a 503. */
export function unavailableBody(message: string): string {
  return JSON.stringify({ statusCode: 503, message, error: 'Service Unavailable' });
}
