import type { INestApplication, Type } from '@nestjs/common';
import type { Browser, BrowserContext, Cookie, Frame, Page } from 'playwright-core';
import { AppController } from '../../sample/app.controller.js';
import { SessionModule } from '../../src/index.js';
import {
  jarCookie,
  launchChromium,
  listen,
  startOtherSite,
  type OtherSite,
} from '../support/browser.js';
import { createApp } from '../support/fixtures/app.js';

const SAMPLE_SECRET = 'sample-browser-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const PLEASE_LOG_IN = { message: 'Please log in first.' };
const WELCOME = { message: 'Welcome back, Alice! Your ID is 123.' };

/** Navigates the page to `url` and returns the JSON it shows. */
async function visit(page: Page, url: string): Promise<unknown> {
  const response = await page.goto(url);
  if (!response) throw new Error(`no response for ${url}`);
  expect(response.status()).toBe(200);
  return response.json();
}

/** The JSON a frame shows (Chromium renders a JSON response as text). */
async function shown(frame: Frame): Promise<unknown> {
  return JSON.parse(await frame.locator('body').innerText());
}

/** The frame of `page` showing `url`. */
function frameAt(page: Page, url: string): Frame {
  const frame = page.frames().find((candidate) => candidate.url() === url);
  if (!frame)
    throw new Error(
      `no frame at ${url}: ${page
        .frames()
        .map((f) => f.url())
        .join(', ')}`,
    );
  return frame;
}

/** The cookie's expiry lies `maxAge` seconds after some instant of [before, after] (ms). */
function expectExpiry(cookie: Cookie, maxAge: number, before: number, after: number): void {
  expect(cookie.expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) + maxAge - 1);
  expect(cookie.expires).toBeLessThanOrEqual(Math.ceil(after / 1000) + maxAge + 1);
}

describe('the login flow in headless Chromium', () => {
  let browser: Browser;
  let otherSite: OtherSite;
  let context: BrowserContext;
  let page: Page;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    browser = await launchChromium();
    otherSite = await startOtherSite();
  }, 60_000);

  afterAll(async () => {
    await otherSite?.close();
    await browser?.close();
  });

  beforeEach(async () => {
    // A fresh profile per test: an empty cookie jar.
    context = await browser.newContext();
    page = await context.newPage();
  });

  afterEach(async () => {
    await context?.close();
    await app?.close();
    app = undefined;
  });

  describe('the sample app (default cookie)', () => {
    let AppModule: Type;
    let origin: string;

    beforeAll(async () => {
      // The sample reads its secret when its module is evaluated.
      process.env.SESSION_SECRET = SAMPLE_SECRET;
      ({ AppModule } = (await import('../../sample/app.module.js')) as { AppModule: Type });
    });

    afterAll(() => {
      delete process.env.SESSION_SECRET;
    });

    beforeEach(async () => {
      // The sample's memory backend: without REDIS_URL or DATABASE_URL.
      const saved = { REDIS_URL: process.env.REDIS_URL, DATABASE_URL: process.env.DATABASE_URL };
      delete process.env.REDIS_URL;
      delete process.env.DATABASE_URL;
      try {
        app = await createApp({ imports: [AppModule] });
      } finally {
        for (const [name, value] of Object.entries(saved))
          if (value !== undefined) process.env[name] = value;
      }
      origin = await listen(app);
    });

    it('stores the cookie at login with its attributes, sends it back, and drops it at logout', async () => {
      expect(await visit(page, `${origin}/profile/`)).toEqual(PLEASE_LOG_IN);
      // An untouched new session sets no cookie.
      expect(await context.cookies()).toEqual([]);

      const before = Date.now();
      expect(await visit(page, `${origin}/login/`)).toEqual({ message: 'Logged in as Alice.' });
      const after = Date.now();
      const cookie = await jarCookie(context, 'session');
      expect(cookie).toMatchObject({
        domain: '127.0.0.1', // no Domain attribute: a host-only cookie
        path: '/',
        httpOnly: true,
        secure: false,
        sameSite: 'Lax',
      });
      expectExpiry(cookie!, 1_209_600, before, after); // 14 days, not a browser-session cookie
      // HttpOnly: scripts on the page cannot read it.
      expect(await page.evaluate('document.cookie')).toBe('');

      expect(await visit(page, `${origin}/profile/`)).toEqual(WELCOME);
      expect(await visit(page, `${origin}/logout/`)).toEqual({
        message: 'Logged out successfully.',
      });
      expect(await context.cookies()).toEqual([]);
      expect(await visit(page, `${origin}/profile/`)).toEqual(PLEASE_LOG_IN);
    });

    it('replaces a cookie the browser held before login', async () => {
      await visit(page, `${origin}/login/`);
      const first = (await jarCookie(context, 'session'))!;
      await visit(page, `${origin}/login/`);
      const second = (await jarCookie(context, 'session'))!;
      expect(second.value.split('.')[0]).not.toBe(first.value.split('.')[0]);
      expect((await context.cookies()).filter((c) => c.name === 'session')).toHaveLength(1);

      // The first login's cookie, put back into the jar, no longer signs anyone in.
      await context.addCookies([first]);
      expect(await visit(page, `${origin}/profile/`)).toEqual(PLEASE_LOG_IN);
    });

    it('gives no session for a cookie tampered with in the jar', async () => {
      await visit(page, `${origin}/login/`);
      const cookie = (await jarCookie(context, 'session'))!;
      const [id, signature] = cookie.value.split('.');
      const flip = (text: string) => `${text.slice(0, -1)}${text.endsWith('A') ? 'B' : 'A'}`;
      const tampered = [
        `${id}.${flip(signature)}`, // signature changed
        `${flip(id)}.${signature}`, // id changed, signature kept
        id, // signature removed
      ];
      for (const value of tampered) {
        await context.addCookies([{ ...cookie, value }]);
        expect(await visit(page, `${origin}/profile/`)).toEqual(PLEASE_LOG_IN);
      }
      // The untampered cookie still works: only the tampering was refused.
      await context.addCookies([cookie]);
      expect(await visit(page, `${origin}/profile/`)).toEqual(WELCOME);
    });

    it('sends the SameSite=Lax cookie on a link from another site, not to its iframe', async () => {
      await visit(page, `${origin}/login/`);
      const target = `${origin}/profile/`;
      await page.goto(otherSite.page(target));
      expect(await shown(frameAt(page, target))).toEqual(PLEASE_LOG_IN);

      await Promise.all([page.waitForURL(target), page.click('#link')]);
      expect(await shown(page.mainFrame())).toEqual(WELCOME);
    });
  });

  describe('an app like the sample with a __Host- cookie, SameSite=Strict and a 1-hour maxAge', () => {
    let origin: string;

    beforeEach(async () => {
      app = await createApp({
        imports: [
          SessionModule.forRoot({
            secretKey: SAMPLE_SECRET,
            cookieName: '__Host-sid',
            cookieHttpsOnly: true,
            maxAge: 3600,
            cookie: { sameSite: 'strict' },
          }),
        ],
        controllers: [AppController],
      });
      origin = await listen(app);
    });

    it('keeps the Secure __Host- cookie on http://127.0.0.1 and clears it at logout', async () => {
      // Chromium treats loopback as a secure context, so it accepts Secure
      // (and __Host-) cookies from http://127.0.0.1 as it would over HTTPS.
      await page.goto(`${origin}/profile/`);
      expect(await page.evaluate('isSecureContext')).toBe(true);

      const before = Date.now();
      expect(await visit(page, `${origin}/login/`)).toEqual({ message: 'Logged in as Alice.' });
      const after = Date.now();
      const cookie = await jarCookie(context, '__Host-sid');
      expect(cookie).toMatchObject({
        domain: '127.0.0.1',
        path: '/',
        httpOnly: true,
        secure: true,
        sameSite: 'Strict',
      });
      expectExpiry(cookie!, 3600, before, after);
      expect(await page.evaluate('document.cookie')).toBe('');

      expect(await visit(page, `${origin}/profile/`)).toEqual(WELCOME);
      await visit(page, `${origin}/logout/`);
      expect(await context.cookies()).toEqual([]);
      expect(await visit(page, `${origin}/profile/`)).toEqual(PLEASE_LOG_IN);
    });

    it('does not send the SameSite=Strict cookie on a link from another site', async () => {
      await visit(page, `${origin}/login/`);
      const target = `${origin}/profile/`;
      await page.goto(otherSite.page(target));
      await Promise.all([page.waitForURL(target), page.click('#link')]);
      expect(await shown(page.mainFrame())).toEqual(PLEASE_LOG_IN);

      // The same address typed in (no other site involved) is signed in.
      expect(await visit(page, target)).toEqual(WELCOME);
    });
  });
});

describe('launchChromium', () => {
  it('fails, saying how to get Chromium, when the binary is missing', async () => {
    await expect(launchChromium('/nonexistent/chromium')).rejects.toThrow(
      /Chromium not found at \/nonexistent\/chromium: install it with `sudo apt-get install -y chromium`.*CHROMIUM_PATH/,
    );
  });

  it('fails, saying how to get Chromium, when the binary does not start', async () => {
    await expect(launchChromium('/bin/false')).rejects.toThrow(
      /Chromium at \/bin\/false did not start .*apt-get install -y chromium/,
    );
  });
});
