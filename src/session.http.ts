import type { ServerResponse } from 'node:http';

/**
 * @internal The platform seam. Everything the library needs from an HTTP
 * request or response goes through here, on the Node objects underneath the
 * framework's own (Express's are Node's; Fastify wraps them in `.raw`).
 */
export interface SessionRequest {
  headers?: Record<string, string | string[] | undefined>;
  session?: unknown;
  [key: string | symbol]: unknown;
}

/** @internal Set by the Fastify hook: the request's reply. */
export const REPLY = Symbol('pselfastapise-async.reply');

export function cookieHeaderOf(request: SessionRequest): string | string[] | undefined {
  return request.headers?.cookie;
}

export function responseOf(request: SessionRequest): ServerResponse | undefined {
  const response = (request.res ?? request[REPLY]) as
    | (ServerResponse & { raw?: ServerResponse })
    | undefined;
  return response?.raw ?? response;
}

/** Adds or replaces the session cookie in Set-Cookie, keeping the application's other cookies. */
export function setCookieHeader(response: ServerResponse, name: string, header: string): void {
  if (response.headersSent) return;
  const existing = response.getHeader('set-cookie');
  if (existing === undefined) {
    response.setHeader('Set-Cookie', header);
    return;
  }
  const prefix = `${name}=`;
  const list = (Array.isArray(existing) ? existing : [String(existing)]).filter(
    (value) => !value.startsWith(prefix),
  );
  list.push(header);
  response.setHeader('Set-Cookie', list);
}

/**
 * Runs `beforeHeaders` (synchronous) just before the status line and headers
 * go out, and holds `end()` back until `beforeEnd` settles. This is how a
 * session is still saved, and its cookie still set, when a handler writes the
 * response itself (`@Res()`) or a guard rejects the request. When `beforeEnd`
 * fails while the headers are still unsent, a 503 answers instead.
 */
export function hookResponse(
  response: ServerResponse,
  beforeHeaders: () => void,
  beforeEnd: () => Promise<void>,
  failureMessage: string,
): void {
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
      else (end as (chunk: string) => ServerResponse).call(response, replaceWithUnavailable(response, failureMessage));
    });
    return response;
  } as ServerResponse['end'];
}

/** Turns a response whose session could not be saved into a 503; returns its body. */
function replaceWithUnavailable(response: ServerResponse, message: string): string {
  for (const name of response.getHeaderNames()) response.removeHeader(name);
  response.statusCode = 503;
  const body = JSON.stringify({ statusCode: 503, message, error: 'Service Unavailable' });
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(body));
  return body;
}
