import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, launchChromium, type ChromiumSession } from './support/chromium.js';
import { serveOn, SERVER_RUNTIMES } from './support/runtimes.js';
import { spawnServe, stopProcess, type ServeProcess } from './support/servers.js';
import { waitFor } from './support/wait.js';

/**
 * A page written like the seed's browser client (test/fixtures/seed-page/index.html),
 * served from http://127.0.0.1:PORT, in Debian's headless Chromium, against a real
 * `lifeline serve` process that is SIGKILLed and restarted on the same port.
 */

const PAGE = readFileSync(new URL('./fixtures/seed-page/index.html', import.meta.url));
// The page sends heartCheck after this long without a message, and closes if nothing answers
// within as long again: a second leaves a loaded machine's server and page time to answer.
const HEARTBEAT_MS = 1000;
const RECONNECT_MS = 500;

interface SeedState {
  status: string;
  opens: number;
  closes: { code: number; reason: string; wasClean: boolean; connection: number }[];
  errors: number;
  messages: { connection: number; data: string; value: unknown }[];
  heartbeatReplies: number;
  heartbeatsSent: number;
  heartbeatTimeouts: number;
  parseErrors: { data: string; error: string }[];
  reconnectsScheduled: number;
  liveSockets: number;
  maxLiveSockets: number;
}

const servers: ServeProcess[] = [];
let session: ChromiumSession | undefined;
let staticServer: Server | undefined;
let origin = '';

beforeAll(async () => {
  session = await launchChromium();
  staticServer = createServer((request, response) => {
    if (request.method === 'GET' && new URL(request.url ?? '/', 'http://x').pathname === '/') {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      response.end(PAGE);
    } else {
      response.writeHead(404, { 'Content-Type': 'text/plain' });
      response.end('not found\n');
    }
  });
  await new Promise<void>((resolve) => staticServer!.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await session?.close();
  for (const server of servers) await stopProcess(server);
  if (staticServer) await new Promise<void>((resolve) => staticServer!.close(() => resolve()));
});

/**
 * The page's `window.seedClient.state`. The function runs inside the page, so it must not
 * refer to anything of this module (the test tsconfig has no DOM types, hence globalThis).
 */
const stateOf = (page: Page): Promise<SeedState> =>
  page.evaluate(() => (globalThis as unknown as { seedClient: { state: SeedState } }).seedClient.state);

const sendFromPage = (page: Page, text: string): Promise<boolean> =>
  page.evaluate((t) => (globalThis as unknown as { seedClient: { send(t: string): boolean } }).seedClient.send(t), text);

const stopPage = (page: Page): Promise<void> =>
  page.evaluate(() => (globalThis as unknown as { seedClient: { stop(): void } }).seedClient.stop());

/** Polls the page's state until `ready(state)` holds; returns that state. */
async function waitForState(page: Page, ready: (state: SeedState) => boolean, what: string, timeoutMs = 15_000): Promise<SeedState> {
  let last: SeedState | undefined;
  await waitFor(async () => ready((last = await stateOf(page))), what, timeoutMs);
  return last!;
}

const pageUrl = (wsUrl: string) =>
  `${origin}/?ws=${encodeURIComponent(wsUrl)}&heartbeat=${HEARTBEAT_MS}&reconnect=${RECONNECT_MS}`;

const dataOf = (state: SeedState, connection: number) => state.messages.filter((m) => m.connection === connection).map((m) => m.data);

// On each runtime's own server (docs/server.md "Runtimes"); `lifeline serve --runtime bun|deno`
// is the runtime's process under the command, and SIGKILL/SIGSTOP reach both (support/servers.ts).
describe.each(SERVER_RUNTIMES)('lifeline serve --runtime %s', (runtime) => {
  it('the seed-style page talks to /test, keeps the link alive with heartCheck, and reconnects after the server is killed', async () => {
    const on = serveOn(runtime);
    const first = await spawnServe(on.args, 60_000, on.env);
    servers.push(first);
    const port = first.port;
    const page = await session!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.goto(pageUrl(first.wsUrl('/test')));
    expect(new URL(page.url()).origin).toBe(origin);

    // 1. Connected: the greeting, then the answer to JSON.stringify(123).
    let state = await waitForState(page, (s) => s.messages.length >= 3, 'the page to receive its first three messages');
    expect(state.opens).toBe(1);
    expect(state.messages.slice(0, 3).map((m) => m.data)).toEqual(['111111111', '"123"', '111111111']);
    expect(state.messages.slice(0, 3).map((m) => m.value)).toEqual([111111111, '123', 111111111]);

    // 2. Several heartbeat periods of app-level heartbeat without a disconnect.
    const before = state.heartbeatReplies;
    state = await waitForState(page, (s) => s.heartbeatReplies >= before + 4 || s.closes.length > 0, 'four more heartbeat replies', 30_000);
    expect(state.opens).toBe(1);
    expect(state.closes).toEqual([]);
    expect(state.heartbeatTimeouts).toBe(0);
    expect(state.heartbeatReplies).toBeGreaterThanOrEqual(before + 4);
    // As the seed's Flask route did: "heartCheck" is answered with "\"heartCheck\"", then "111111111".
    // (The state may be read between the two frames of the newest answer.)
    const afterGreeting = state.messages.slice(3).map((m) => m.data);
    expect(afterGreeting).toEqual(afterGreeting.map((_, i) => (i % 2 === 0 ? '"heartCheck"' : '111111111')));
    expect(state.heartbeatReplies).toBeLessThanOrEqual(state.heartbeatsSent);

    // 3. The server dies without a goodbye; the page notices and keeps trying.
    first.signal('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    state = await waitForState(
      page,
      (s) => s.closes.length >= 1 && s.reconnectsScheduled >= 2,
      'the page to see the close and retry at least once while the server is down',
    );
    expect(state.closes[0]).toMatchObject({ code: 1006, wasClean: false, connection: 1 });
    expect(state.opens).toBe(1);

    // 4. The server comes back on the same port; the page reconnects by itself.
    const second = await spawnServe(['--port', String(port), ...on.args], 60_000, on.env);
    servers.push(second);
    expect(second.port).toBe(port);
    state = await waitForState(page, (s) => s.opens >= 2 && dataOf(s, 2).length >= 3, 'the page to reconnect and get its greeting again');
    expect(state.opens).toBe(2);
    expect(dataOf(state, 2).slice(0, 3)).toEqual(['111111111', '"123"', '111111111']);

    // 5. And it exchanges messages on the new connection, heartbeat included.
    expect(await sendFromPage(page, 'after restart')).toBe(true);
    state = await waitForState(page, (s) => dataOf(s, 2).includes('"after restart"'), 'the answer to "after restart"');
    const heartbeatsBeforeWait = state.heartbeatReplies;
    const closesBeforeWait = state.closes.length;
    state = await waitForState(page, (s) => s.heartbeatReplies > heartbeatsBeforeWait || s.closes.length > closesBeforeWait, 'a heartbeat reply on the new connection', 30_000);
    expect(state.closes).toHaveLength(closesBeforeWait);
    expect(state.heartbeatReplies).toBeGreaterThan(heartbeatsBeforeWait);
    expect(state.opens).toBe(2);
    expect(state.status).toBe('open');

    // Never more than one socket at a time (the lock flag), and no message ever failed JSON.parse.
    expect(state.maxLiveSockets).toBe(1);
    expect(state.liveSockets).toBe(1);
    expect(state.parseErrors).toEqual([]);
    expect(state.heartbeatTimeouts).toBe(0);
    expect(pageErrors).toEqual([]);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, runtime === 'node' ? 'seed-page.png' : `seed-page-${runtime}.png`), fullPage: true });

    await stopPage(page);
    await page.close();
  });

  it('a server that stops answering: the page closes the socket after a heartCheck goes unanswered, then reconnects', async () => {
    const on = serveOn(runtime);
    const server = await spawnServe(on.args, 60_000, on.env);
    servers.push(server);
    const page = await session!.newPage();
    try {
      await page.goto(pageUrl(server.wsUrl('/test')));
      await waitForState(page, (s) => s.heartbeatReplies >= 1, 'a first heartbeat reply');

      // Freeze the server (SIGSTOP): the TCP connection stays up but nothing answers.
      server.signal('SIGSTOP');
      let state: SeedState;
      try {
        state = await waitForState(page, (s) => s.heartbeatTimeouts >= 1, 'the page to give up on the silent socket', 4 * HEARTBEAT_MS + 10_000);
        // The deadline closed it; no close event yet, as the frozen server cannot answer the close frame.
        expect(state.opens).toBe(1);
        expect(state.closes).toEqual([]);
        expect(state.heartbeatTimeouts).toBe(1);
        expect(state.heartbeatReplies).toBe(state.heartbeatsSent - 1);
      } finally {
        server.signal('SIGCONT');
      }

      // The server wakes, completes the closing handshake, and the page comes back.
      state = await waitForState(page, (s) => s.opens >= 2 && dataOf(s, 2).length >= 3, 'the page to reconnect after its heartbeat closed the socket');
      // The page's close() carries no code, so the completed handshake reports 1005.
      expect(state.closes).toEqual([{ code: 1005, reason: '', wasClean: true, connection: 1 }]);
      expect(dataOf(state, 2).slice(0, 3)).toEqual(['111111111', '"123"', '111111111']);
      expect(state.maxLiveSockets).toBe(1);
      expect(state.parseErrors).toEqual([]);
    } finally {
      await page.close();
      await stopProcess(server);
    }
  });
});
