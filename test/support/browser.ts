import type { INestApplication } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Cookie } from 'playwright-core';

/**
 * The Chromium the browser tests drive: Debian's `chromium` package, or the
 * binary CHROMIUM_PATH names. `.ci/run` installs the package when missing.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const HOW_TO_GET_CHROMIUM =
  'install it with `sudo apt-get install -y chromium` (Debian/Ubuntu; `bash .ci/run` does this), ' +
  'or set CHROMIUM_PATH to a Chromium or Chrome binary';

/**
 * Starts headless Chromium through playwright-core. A missing or broken
 * binary is an error that says how to get one: the browser tests fail
 * rather than skip.
 */
export async function launchChromium(executablePath = CHROMIUM_PATH): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath}: ${HOW_TO_GET_CHROMIUM}`);
  }
  try {
    return await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  } catch (error) {
    throw new Error(
      `Chromium at ${executablePath} did not start (${(error as Error).message.split('\n')[0]}): ${HOW_TO_GET_CHROMIUM}`,
      { cause: error },
    );
  }
}

/** Listens on a loopback port; resolves to the app's origin, `http://127.0.0.1:<port>`. */
export async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/**
 * A second site for cross-site requests: `page(target)` is the address of an
 * HTML page on `http://localhost:<port>` (a different site from
 * `127.0.0.1`) with a link `#link` to `target` and an iframe showing it. It is
 * a real loopback server, not a routed fake: Chromium blocks a page it takes
 * for a public site from framing a loopback address.
 */
export interface OtherSite {
  page(target: string): string;
  close(): Promise<void>;
}

export async function startOtherSite(): Promise<OtherSite> {
  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', 'http://localhost').searchParams.get('target') ?? '';
    const href = target.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><a id="link" href="${href}">go</a><iframe src="${href}"></iframe>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    page: (target) => `http://localhost:${port}/?target=${encodeURIComponent(target)}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The cookie called `name` in the context's jar, or undefined. */
export async function jarCookie(
  context: BrowserContext,
  name: string,
): Promise<Cookie | undefined> {
  return (await context.cookies()).find((cookie) => cookie.name === name);
}
