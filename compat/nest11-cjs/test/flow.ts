import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import type { Response } from 'supertest';

export interface SessionCookie {
  /** `session=<value>`, ready for a Cookie request header. */
  pair: string;
  value: string;
  maxAge: string | undefined;
}

/** The response's Set-Cookie for the session cookie, or undefined when there is none. */
export function sessionCookie(response: Response): SessionCookie | undefined {
  const header = response.headers['set-cookie'] as string[] | string | undefined;
  const list = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const raw = list.find((line) => line.startsWith('session='));
  if (raw === undefined) return undefined;
  const [pair, ...attributes] = raw.split(';').map((part) => part.trim());
  const maxAge = attributes.find((part) => part.toLowerCase().startsWith('max-age='));
  return { pair, value: pair.slice('session='.length), maxAge: maxAge?.split('=')[1] };
}

function requireCookie(response: Response, step: string): SessionCookie {
  const cookie = sessionCookie(response);
  if (!cookie)
    throw new Error(`${step}: no session Set-Cookie (status ${response.status}: ${response.text})`);
  return cookie;
}

export async function get(app: INestApplication, path: string, cookie?: string): Promise<Response> {
  const call = request(app.getHttpServer()).get(path);
  return cookie ? call.set('Cookie', cookie) : call;
}

export const WELCOME = { message: 'Welcome back, Alice! Your ID is 123.' };
export const LOGGED_OUT = { message: 'Logged out successfully.' };
export const PLEASE_LOG_IN = { message: 'Please log in first.' };

/** The seed article's flow: /login/, /profile/, /logout/, /profile/ again. */
export async function seedFlow(app: INestApplication): Promise<void> {
  const login = await get(app, '/login/');
  expect(login.status).toBe(200);
  const session = requireCookie(login, 'GET /login/');

  const profile = await get(app, '/profile/', session.pair);
  expect(profile.body).toEqual(WELCOME);

  const logout = await get(app, '/logout/', session.pair);
  expect(logout.body).toEqual(LOGGED_OUT);

  const after = await get(app, '/profile/', session.pair);
  expect(after.body).toEqual(PLEASE_LOG_IN);
}

/** An anonymous session, then login: the cookie must change and the old id must be forgotten. */
export async function regenerateFlow(app: INestApplication): Promise<void> {
  const visit = await get(app, '/visit/');
  const before = requireCookie(visit, 'GET /visit/');

  const login = await get(app, '/login/', before.pair);
  const after = requireCookie(login, 'GET /login/ with a session');
  expect(after.value).not.toBe(before.value);
  expect(after.value.split('.')[0]).not.toBe(before.value.split('.')[0]);

  expect((await get(app, '/profile/', after.pair)).body).toEqual(WELCOME);
  expect((await get(app, '/profile/', before.pair)).body).toEqual(PLEASE_LOG_IN);
}

/** Logout: the cookie is cleared (empty, Max-Age=0) and the old cookie no longer logs in. */
export async function destroyFlow(app: INestApplication): Promise<void> {
  const session = requireCookie(await get(app, '/login/'), 'GET /login/');

  const logout = await get(app, '/logout/', session.pair);
  expect(logout.body).toEqual(LOGGED_OUT);
  const cleared = requireCookie(logout, 'GET /logout/');
  expect(cleared.value).toBe('');
  expect(cleared.maxAge).toBe('0');

  expect((await get(app, '/profile/', session.pair)).body).toEqual(PLEASE_LOG_IN);
}
