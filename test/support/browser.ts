import { createServer, type Server } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium, headless, kept off the network; playwright-core never downloads a browser. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * Signs in and consents on oidc-provider's own pages (devInteractions) until the browser leaves
 * the provider: any password is taken, the login names the account.
 */
export async function signInAndConsent(page: Page, issuer: string, login: string): Promise<void> {
  for (let step = 0; step < 6; step += 1) {
    const submit = page.locator('button[type="submit"]');
    // Off the provider's pages, or on the blank page of a held callback.
    if (!page.url().startsWith(issuer) || (await submit.count()) === 0) return;
    const loginField = page.locator('input[name="login"]');
    if ((await loginField.count()) > 0) {
      await loginField.fill(login);
      await page.locator('input[name="password"]').fill('any-password');
    }
    await Promise.all([page.waitForEvent('load'), submit.click()]);
  }
  throw new Error('the provider kept the browser on its pages');
}

/**
 * Holds the provider's redirect to the callback in this context: the browser gets a blank page,
 * the test gets the URL (code, state, iss) to send, change or replay itself. A request the
 * browser makes by following a redirect is never routed, so the provider's form posts are sent
 * from here and its `/auth` resume redirects followed here, with the context's own cookies.
 */
export async function holdCallback(
  context: BrowserContext,
  issuer: string,
  callbackUrl: string,
): Promise<() => Promise<string>> {
  let captured: (url: string) => void;
  const held = new Promise<string>((resolve) => (captured = resolve));
  const matches = (url: URL) => url.origin === issuer && url.pathname.startsWith('/interaction/');
  await context.route(matches, async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    let response = await context.request.fetch(route.request(), { maxRedirects: 0 });
    let location = response.headers().location;
    while (location?.startsWith(`${issuer}/auth/`)) {
      response = await context.request.fetch(location, { maxRedirects: 0 });
      location = response.headers().location;
    }
    if (location?.startsWith(`${callbackUrl}?`)) {
      captured(location);
      return route.fulfill({ status: 200, contentType: 'text/plain', body: 'held' });
    }
    if (location !== undefined) return route.fulfill({ status: 303, headers: { location } });
    return route.fulfill({ response });
  });
  return async () => {
    const url = await held;
    await context.unroute(matches);
    return url;
  };
}

/** The page a `returnTo` lands on: the test's own origin, answering every path. */
export async function startReturnServer(port: number): Promise<Server> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>Back in the app</title><p>landed</p>');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** The binding cookies of `context` as a Cookie header, for requests the test sends itself. */
export async function cookieHeader(context: BrowserContext, url: string): Promise<string> {
  return (await context.cookies(url)).map((cookie) => `${cookie.name}=${cookie.value}`).join('; ');
}
