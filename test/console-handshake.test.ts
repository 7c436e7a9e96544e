import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { mountBuiltApp } from '../packages/cli/src/static-app.js';
import { launchChromium, launchHideableChromium, type ChromiumSession } from './support/chromium.js';
import { ensurePythonWebsockets, startPythonServer, stopPython, type PythonServer } from './support/python-server.js';
import { spawnServe, startApp, stopProcess, type RunningApp, type ServeProcess } from './support/servers.js';
import { waitFor } from './support/wait.js';

/**
 * The console (served by `lifeline serve` at /console/) against servers that refuse its
 * handshake, on other origins: a second and a third `lifeline serve`, a Lifeline app with a
 * subprotocol list and an auth rule, bare Node servers answering 426 or 503, and Debian's
 * python3-websockets. A browser reports every refused handshake as a bare 1006; the console
 * must name the reason in words (its server's handshake check asks for it) and stop
 * retrying what would be refused again.
 *
 * "Stops retrying" is checked where the attempts arrive: at the server. The console's
 * backoff is set to retry within 0.1–0.2 s, so the quiet window after the console says it
 * stopped (QUIET_MS) would hold a dozen retries if it had not; a 503, which passes, shows
 * that the same counting sees retries when they happen.
 *
 * Also here: importing a log leaves the live counters alone, the server panel against a
 * server without Lifeline stats asks once, the composer clears after a send, a tapped log
 * row on a phone brings its detail into view, and readable charts, code and commands.
 */

const VIEWPORT = { width: 1280, height: 800 };
const BUILT = fileURLToPath(new URL('../apps/console/dist/index.html', import.meta.url));
/** The console's backoff in these tests: the first retry within 100 ms, never more than 200 ms apart. */
const RETRY_WITHIN_MS = { initial: 100, max: 200 };
/** How long a stopped console must stay quiet: more than ten of its retry windows. */
const QUIET_MS = 2500;
/** Bounds for starting a server and for one test, on a machine that may be busy (seconds, not what it usually takes). */
const START_MS = 60_000;
const TEST_MS = 120_000;

let browser: ChromiumSession | undefined;
/** Serves the console (and its handshake check). */
let home: ServeProcess | undefined;
/** Other origins: a plain lifeline serve, and one that allows only another Origin. */
let other: ServeProcess | undefined;
let strict: ServeProcess | undefined;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run "npm run build" first (npm test does).`);
  ensurePythonWebsockets();
  // Generous start-up bounds: three servers and a browser start at once on a busy machine.
  [browser, home, other, strict] = await Promise.all([
    launchChromium(),
    spawnServe([], START_MS),
    spawnServe(['--log-level', 'info'], START_MS),
    spawnServe(['--log-level', 'info', '--allowed-origin', 'http://allowed.example'], START_MS),
  ]);
});

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([stopProcess(home), stopProcess(other), stopProcess(strict)]);
});

async function visit(viewport = VIEWPORT, origin = home!.httpUrl('')): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser!.newPage();
  cleanup.push(() => page.close());
  await page.setViewportSize(viewport);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.goto(`${origin}/console/`);
  return { page, pageErrors };
}

/** A console page connected to `url` with the form's defaults, once the connection is open. */
async function visitOpen(url: string, viewport = VIEWPORT): Promise<{ page: Page; pageErrors: string[] }> {
  const visited = await visit(viewport);
  await visited.page.getByTestId('url').fill(url);
  await visited.page.getByTestId('connect').click();
  await visited.page.getByTestId('status-text').filter({ hasText: /^open/ }).waitFor();
  return visited;
}

const number = (text: string | null) => Number((text ?? '').replace(/[^\d]/g, ''));

/** Fills the connection form (retries within RETRY_WITHIN_MS) and presses Connect. */
async function connect(page: Page, url: string, options: { lifeline?: boolean; protocols?: string } = {}): Promise<void> {
  await page.getByTestId('url').fill(url);
  await page.getByTestId('reconnect-initial').fill(String(RETRY_WITHIN_MS.initial));
  await page.getByTestId('reconnect-max').fill(String(RETRY_WITHIN_MS.max));
  if (options.lifeline) await page.getByTestId('lifeline').check();
  if (options.protocols) await page.getByTestId('protocols').fill(options.protocols);
  await page.getByTestId('connect').click();
}

/** Upgrade requests a `lifeline serve --log-level info` logged for `path`: refused ones and accepted ones. */
function upgradesAt(serve: ServeProcess, path: string): number {
  let count = 0;
  for (const line of serve.stderr) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { event?: string; path?: string };
    if ((entry.event === 'upgrade-refused' || entry.event === 'connect') && entry.path === path) count++;
  }
  return count;
}

/** Upgrade requests a python fixture logged for `path`. */
const pythonUpgrades = (server: PythonServer, path = '/') => server.events.filter((e) => e.event === 'request' && e.upgrade === true && e.path === path).length;

interface Refusal {
  name: string;
  url: string;
  options?: { lifeline?: boolean; protocols?: string };
  /** What the console must say (the failure line above the log). */
  reason: RegExp;
  /** Connection attempts the server has seen so far. */
  attempts: () => number;
}

/**
 * Connects a page to each URL at once; waits until each console has said why it could not
 * connect and that it stopped retrying; then checks over QUIET_MS that no server saw another
 * attempt and no console tried again.
 */
/**
 * Resolves once `ms` have passed by the page's own timers: any timer the page set earlier
 * for at most that long has fired (timers run in order of expiry), however busy the machine.
 */
function afterPageTimers(page: Page, ms: number): Promise<unknown> {
  return page.evaluate((wait) => new Promise((resolve) => setTimeout(() => resolve(true), wait)), ms);
}

async function expectRefusedAndStopped(cases: Refusal[]): Promise<void> {
  const pages = await Promise.all(
    cases.map(async (c) => {
      const { page, pageErrors } = await visit();
      await connect(page, c.url, c.options);
      return { page, pageErrors, c };
    }),
  );
  const atStop: number[] = [];
  for (const { page, c } of pages) {
    const failure = page.getByTestId('failure');
    await expect.poll(() => failure.textContent(), { timeout: 20_000, message: `${c.name}: the console says why, and that it stopped` }).toMatch(/Auto-reconnect stopped|does not speak Lifeline mode/);
    expect(await failure.textContent(), c.name).toMatch(c.reason);
    expect(await page.getByTestId('status-text').textContent(), c.name).toBe('closed');
    expect(await page.getByTestId('retry').isVisible(), c.name).toBe(true);
    atStop.push(c.attempts());
    expect(atStop.at(-1), `${c.name}: the server saw the attempts`).toBeGreaterThanOrEqual(1);
  }
  // More than ten retry windows by each page's own timers (a retry timer it had set would
  // have fired first, and its attempt shown in the status): a console still retrying would show.
  await Promise.all(pages.map(({ page }) => afterPageTimers(page, QUIET_MS)));
  for (const [i, { page, pageErrors, c }] of pages.entries()) {
    expect(c.attempts(), `${c.name}: attempts after the console stopped`).toBe(atStop[i]);
    expect(await page.getByTestId('status-text').textContent(), c.name).toBe('closed');
    // Said once, as an error row, and never as a 1006 "network dropped".
    const rows = await page.locator('.log-row.dir-sys .c-preview').allTextContents();
    expect(rows.filter((r) => /Auto-reconnect stopped|does not speak Lifeline mode/.test(r)), c.name).toHaveLength(1);
    expect(rows.filter((r) => /the network dropped or the server crashed/.test(r)), c.name).toEqual([]);
    expect(pageErrors, c.name).toEqual([]);
  }
}

/** A bare Node HTTP server answering each upgrade by its path, counting them. */
async function bareServer(answer: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): Promise<{ port: number; upgrades: Map<string, number>; server: Server }> {
  const upgrades = new Map<string, number>();
  const server = createServer((_request, response) => response.end('not here\n'));
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = request.url ?? '/';
    upgrades.set(path, (upgrades.get(path) ?? 0) + 1);
    // Node's HTTP server stops watching a socket once it hands it to 'upgrade'. Chromium may
    // reset a link it was refused on before our end() finishes; that ECONNRESET is expected here
    // and, unheard, would crash the test run as an uncaught error.
    socket.on('error', () => {});
    answer(request, socket, head);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, upgrades, server };
}

describe('the console names why a handshake failed, on any origin, and stops retrying a refusal', () => {
  test('a second and a third lifeline serve: 404, 403 for the Origin, and Lifeline mode offered to a raw route', async () => {
    await expectRefusedAndStopped([
      {
        name: '404',
        url: other!.wsUrl('/nope'),
        reason: /^Could not connect: 404 Not Found: there is no WebSocket at this path\. Auto-reconnect stopped: the same handshake would be refused again\./,
        attempts: () => upgradesAt(other!, '/nope'),
      },
      {
        name: '403',
        url: strict!.wsUrl('/echo'),
        reason: /^Could not connect: 403 Forbidden: the server refuses this client: its Origin is not allowed/,
        attempts: () => upgradesAt(strict!, '/echo'),
      },
      {
        name: 'Lifeline mode offered to a raw route',
        url: other!.wsUrl('/test'),
        options: { lifeline: true },
        reason: /^Could not connect: the server at 127\.0\.0\.1:\d+ accepted the handshake with subprotocol lifeline\.v1 but does not speak Lifeline mode there \(envelope: .*\)\. Turn Lifeline mode off/,
        attempts: () => upgradesAt(other!, '/test'),
      },
    ]);
  }, TEST_MS);

  test('a Lifeline app and bare servers on other ports: a subprotocol it does not speak, 401, 426; a 503 is retried', async () => {
    const lifeline: RunningApp = await startApp((app) => {
      app.ws('/chat', { protocols: ['chat.v2'] }, () => {});
      app.ws('/private', { auth: { verify: () => false } }, () => {});
    });
    cleanup.push(() => lifeline.stop());
    const lifelineUpgrades = new Map<string, number>();
    lifeline.app.server!.prependListener('upgrade', (request: IncomingMessage) => lifelineUpgrades.set(request.url!, (lifelineUpgrades.get(request.url!) ?? 0) + 1));
    const bare = await bareServer((request, socket) =>
      socket.end(
        request.url === '/busy'
          ? 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'
          : 'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 8\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      ),
    );
    await expectRefusedAndStopped([
      {
        name: 'refused subprotocol',
        url: lifeline.wsUrl('/chat'),
        options: { protocols: 'chat.v9' },
        reason: /^Could not connect: 400 Bad Request: the server refused the handshake as malformed or unacceptable \(often: it speaks none of the subprotocols offered\)\. Auto-reconnect stopped/,
        attempts: () => lifelineUpgrades.get('/chat') ?? 0,
      },
      {
        name: '401',
        url: lifeline.wsUrl('/private'),
        reason: /^Could not connect: 401 Unauthorized: this WebSocket needs credentials.*Auto-reconnect stopped/,
        attempts: () => lifelineUpgrades.get('/private') ?? 0,
      },
      {
        name: '426',
        url: `ws://127.0.0.1:${bare.port}/old`,
        reason: /^Could not connect: 426 Upgrade Required: the server wants another protocol or WebSocket version here \(it speaks WebSocket version 8\)\. Auto-reconnect stopped/,
        attempts: () => bare.upgrades.get('/old') ?? 0,
      },
    ]);

    // 503 passes: the console says so and keeps trying, and the server sees it (the same counting as above).
    const { page } = await visit();
    await connect(page, `ws://127.0.0.1:${bare.port}/busy`);
    await expect.poll(() => page.getByTestId('failure').textContent(), { timeout: 20_000 }).toBe(
      'Could not connect: 503 Service Unavailable: the server is full or unavailable: try again later (Retry-After: 1 s).',
    );
    const seen = bare.upgrades.get('/busy') ?? 0;
    await waitFor(() => (bare.upgrades.get('/busy') ?? 0) >= seen + 3, 'three more attempts at the 503 server', 20_000);
    expect(await page.getByTestId('retry').count()).toBe(0); // still active: no Retry button
    await page.getByTestId('connect').click(); // Disconnect
    await page.getByTestId('status-text').filter({ hasText: /^closed|^not connected/ }).waitFor();
  }, TEST_MS);

  test('python3-websockets: a refused subprotocol, a 404, and Lifeline mode offered to a plain server', async () => {
    const [chat, notFound, plain] = await Promise.all([
      startPythonServer(0, 'handshake_server.py', ['subprotocol']),
      startPythonServer(0, 'handshake_server.py', ['not-found']),
      startPythonServer(0, 'handshake_server.py', ['plain']),
    ]);
    cleanup.push(() => Promise.all([stopPython(chat), stopPython(notFound), stopPython(plain)]));
    await expectRefusedAndStopped([
      {
        name: 'python: refused subprotocol',
        url: chat.url('/'),
        options: { protocols: 'other' },
        reason: /^Could not connect: the server accepted the WebSocket but chose no subprotocol \(offered: other\).*the server does not speak other here\. Auto-reconnect stopped/,
        attempts: () => pythonUpgrades(chat),
      },
      {
        name: 'python: 404',
        url: notFound.url('/feed'),
        reason: /^Could not connect: 404 Not Found: there is no WebSocket at this path\. Auto-reconnect stopped/,
        attempts: () => pythonUpgrades(notFound, '/feed'),
      },
      {
        name: 'python: Lifeline mode offered to a plain server',
        url: plain.url('/'),
        options: { lifeline: true },
        reason: /^Could not connect: the server accepted the WebSocket but chose no subprotocol \(offered: lifeline\.v1\).*does not speak lifeline\.v1 here\. Auto-reconnect stopped/,
        attempts: () => pythonUpgrades(plain),
      },
    ]);
  }, TEST_MS);

  test('a tab in the background stops too', async () => {
    // A server that accepts, and then (told so) answers 404 to every upgrade.
    let refuse = false;
    const wss = new WebSocketServer({ noServer: true });
    const sockets = new Set<WebSocket>();
    const bare = await bareServer((request, socket, head) => {
      if (refuse) socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      else wss.handleUpgrade(request, socket, head, (ws) => sockets.add(ws));
    });
    const hideable = await launchHideableChromium();
    cleanup.push(() => hideable.close());
    const page = await hideable.context.newPage();
    await page.setViewportSize(VIEWPORT);
    await page.goto(home!.httpUrl('/console/'));
    await connect(page, `ws://127.0.0.1:${bare.port}/live`);
    await page.getByTestId('status-text').filter({ hasText: /^open/ }).waitFor({ timeout: 10_000 });

    const front = await hideable.context.newPage(); // the console's tab goes to the background
    await expect.poll(() => page.evaluate(() => document.visibilityState), { timeout: 5000 }).toBe('hidden');
    refuse = true;
    for (const ws of sockets) ws.terminate(); // the link drops; every attempt from now on gets 404
    const failure = () => page.evaluate(() => document.querySelector('[data-testid="failure"]')?.textContent ?? '');
    await expect.poll(failure, { timeout: 20_000 }).toMatch(/^Could not connect: 404 Not Found: there is no WebSocket at this path\. Auto-reconnect stopped/);
    expect(await page.evaluate(() => document.visibilityState)).toBe('hidden');
    const atStop = bare.upgrades.get('/live')!;
    expect(atStop).toBeGreaterThanOrEqual(2); // the first connection, and at least one refused attempt
    // A hidden tab's timers still run about once a second: QUIET_MS + 1 s by its own timers
    // would hold retries (a retry timer set before would have fired first).
    await afterPageTimers(page, QUIET_MS + 1000);
    expect(await page.evaluate(() => document.querySelector('[data-testid="status-text"]')?.textContent)).toBe('closed');
    expect(bare.upgrades.get('/live')).toBe(atStop);
    await front.close();
    await page.bringToFront();
    await expect.poll(() => page.getByTestId('status-text').textContent()).toBe('closed');
  }, TEST_MS);

  test('served by something other than lifeline serve, the console says the reason cannot be known from a browser', async () => {
    // A Lifeline app that serves the built console and nothing else: no handshake check.
    const bareHome = await startApp((app) => mountBuiltApp(app, 'console'));
    cleanup.push(() => bareHome.stop());
    const { page } = await visit(VIEWPORT, bareHome.httpUrl(''));
    await connect(page, other!.wsUrl('/nope'));
    await expect.poll(() => page.getByTestId('failure').textContent(), { timeout: 20_000 }).toBe(
      `Could not connect. Browsers do not say why a WebSocket handshake failed, and this page is not served by a Lifeline server that could make the same handshake and tell (lifeline serve does). ` +
        `lifeline connect ${other!.wsUrl('/nope')} prints the server's answer.`,
    );
    // Not knowing, it does not claim the refusal is for good: it keeps trying.
    const seen = upgradesAt(other!, '/nope');
    await waitFor(() => upgradesAt(other!, '/nope') >= seen + 2, 'further attempts', 20_000);
    await page.getByTestId('connect').click(); // Disconnect
  }, TEST_MS);
});

describe('the rest of the console', () => {
  test('importing an exported log shows it, marked, and leaves the live counters alone', async () => {
    const { page, pageErrors } = await visitOpen(home!.wsUrl('/echo'));
    for (const text of ['one', 'two']) {
      await page.getByTestId('composer').fill(text);
      await page.getByTestId('composer').press('Control+Enter');
    }
    const counts = async () => ({ in: number(await page.getByTestId('count-in').textContent()), out: number(await page.getByTestId('count-out').textContent()) });
    await expect.poll(counts).toEqual({ in: 2, out: 2 });

    await page.getByText('Export / import').click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-all').click()]);
    const file = await download.path();
    await page.getByTestId('import').setInputFiles(file);
    await expect.poll(() => page.getByTestId('count-imported').textContent()).toMatch(/imported ↓ 2 ↑ 2, not counted/);
    expect(await counts()).toEqual({ in: 2, out: 2 });
    // Every message is in the log twice now: live, and marked imported.
    await expect.poll(() => page.locator('.log-row.imported').count()).toBeGreaterThanOrEqual(4); // the messages and the events of the file
    expect(await page.locator('.log-row.imported[data-dir="in"] .c-preview').allTextContents()).toEqual(['importedone', 'importedtwo']);
    // A message after the import counts as usual.
    await page.getByTestId('composer').fill('three');
    await page.getByTestId('composer').press('Control+Enter');
    await expect.poll(counts).toEqual({ in: 3, out: 3 });
    expect(pageErrors).toEqual([]);
  }, TEST_MS);

  test('the server panel against a server without Lifeline stats says so once and stops asking, until Try again', async () => {
    const python = await startPythonServer(0, 'handshake_server.py', ['plain']);
    cleanup.push(() => stopPython(python));
    const statsRequests = () => python.events.filter((e) => e.event === 'request' && e.path === '/api/stats').length;
    const { page, pageErrors } = await visitOpen(python.url('/'));
    await page.getByTestId('panel-server').click();
    const problem = page.getByTestId('server-problem');
    await expect.poll(() => problem.textContent(), { timeout: 10_000 }).toBe(
      `No Lifeline stats at http://127.0.0.1:${python.port}/api/stats: nothing came back that this page may read. ` +
        'A Lifeline server answers a page of another origin at least with why it refuses, so this is not a Lifeline server (or an older one), or nothing listens there.',
    );
    expect(statsRequests()).toBe(1);
    expect(await page.locator('.token input').count()).toBe(0); // no admin token asked for: it would not help
    // The panel used to poll every second: by the page's own timers, three more requests would
    // have gone by now; a request the page makes after them reaches the server after them.
    await afterPageTimers(page, 3500);
    await page.evaluate((url) => fetch(url, { mode: 'no-cors' }).catch(() => undefined), python.url('/barrier').replace('ws:', 'http:'));
    await waitFor(() => python.events.some((e) => e.event === 'request' && e.path === '/barrier'), 'the barrier request at the server', 10_000);
    expect(statsRequests()).toBe(1);
    await page.getByTestId('server-retry').click();
    await waitFor(() => statsRequests() === 2, 'the request of "Try again"', 10_000);
    expect(pageErrors).toEqual([]);
  }, TEST_MS);

  test('the server panel against a lifeline serve of another origin says why it shows no stats, once', async () => {
    const { page } = await visitOpen(other!.wsUrl('/echo'));
    await page.getByTestId('panel-server').click();
    await expect.poll(() => page.getByTestId('server-problem').textContent(), { timeout: 10_000 }).toMatch(/^Without an admin token this server shows its stats only to its own pages/);
  }, TEST_MS);

  test('the composer empties after a send, ↑ brings the message back, and a message that was not sent stays', async () => {
    const { page } = await visitOpen(home!.wsUrl('/echo'));
    const composer = page.getByTestId('composer');
    await composer.fill('first');
    await composer.press('Control+Enter');
    await expect.poll(() => composer.inputValue()).toBe('');
    await composer.pressSequentially('second');
    await composer.press('Control+Enter');
    await expect.poll(() => page.locator('.log-row[data-dir="out"] .c-preview').allTextContents()).toEqual(['first', 'second']);
    await composer.press('ArrowUp');
    expect(await composer.inputValue()).toBe('second');

    await page.getByTestId('connect').click(); // Disconnect
    await page.getByTestId('status-text').filter({ hasText: /^closed/ }).waitFor();
    await composer.fill('kept');
    await composer.press('Control+Enter');
    expect(await composer.inputValue()).toBe('kept');
    expect(await page.getByTestId('composer-problem').textContent()).toMatch(/^Not sent: not connected/);
  }, TEST_MS);

  test('on a phone, a tapped log row brings its message into view, and Back to the log returns', async () => {
    const phone = { width: 390, height: 844 };
    const { page, pageErrors } = await visitOpen(home!.wsUrl('/echo'), phone);
    for (let i = 1; i <= 6; i++) {
      await page.getByTestId('composer').fill(`message ${i}`);
      await page.getByTestId('composer').press('Control+Enter');
    }
    const inView = async (locator: ReturnType<Page['locator']>) => {
      const box = await locator.boundingBox();
      return box !== null && box.y >= 0 && box.y + Math.min(box.height, 20) <= phone.height;
    };
    // Reading the log, its top at the top of the screen: the panels are below, out of sight.
    const row = page.locator('.log-row[data-dir="in"]').filter({ hasText: 'message 6' });
    await row.waitFor();
    await page.getByTestId('log').evaluate((el) => el.scrollIntoView({ block: 'start' }));
    const panelTop = async () => (await page.getByTestId('message-panel').boundingBox())!.y;
    expect(await inView(row)).toBe(true);
    expect(await panelTop()).toBeGreaterThan(phone.height / 2);
    await row.click();
    const payload = page.getByTestId('payload');
    await expect.poll(() => payload.textContent()).toBe('message 6');
    // The page brought the message up: the panel at the top, the payload in sight.
    await expect.poll(panelTop).toBeLessThan(120);
    expect(await inView(payload)).toBe(true);
    await page.getByTestId('back-to-log').click();
    await expect.poll(() => inView(page.locator('.log-row.selected'))).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(phone.width); // still no sideways scrolling
    expect(pageErrors).toEqual([]);
  }, TEST_MS);

  test('at 1280 px: chart labels are readable, code and the CI command keep their lines', async () => {
    const { page } = await visitOpen(home!.wsUrl('/echo'));
    await page.getByTestId('panel-server').click();
    await page.getByTestId('server-connections').waitFor();
    const label = page.locator('.server-charts .chart .axis text').first();
    await label.waitFor();
    expect((await label.boundingBox())!.height).toBeGreaterThanOrEqual(10); // 6 px before: drawn in a shrunken viewBox

    /** Lines the element's text is drawn on, and lines it has. */
    const lines = (testid: string) =>
      page.getByTestId(testid).evaluate((el) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        const tops = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top)));
        return { drawn: tops.size, written: (el.textContent ?? '').replace(/\n$/, '').split('\n').length };
      });
    await page.getByTestId('panel-script').click();
    expect(await page.getByTestId('ci-command').textContent()).toMatch(/^lifeline connect ws:\/\/\S+ --script \S+\.json$/);
    expect(await lines('ci-command')).toEqual({ drawn: 1, written: 1 });
    await page.getByTestId('panel-code').click();
    const code = await lines('snippet');
    expect(code.drawn).toBe(code.written);
  }, TEST_MS);
});
