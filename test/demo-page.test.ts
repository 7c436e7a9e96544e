import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startChaosProxy, type ChaosProxy } from './support/chaos-proxy.js';
import { ARTIFACTS, launchChromium, type ChromiumSession } from './support/chromium.js';
import { closedPort, spawnServe, stopProcess, type ServeProcess } from './support/servers.js';
import { waitFor } from './support/wait.js';

/**
 * The demo page (apps/demo, issue 5) as a visitor gets it: built by `npm run build`, served by
 * a real `lifeline serve` process at /demo, in Debian's headless Chromium. The server is
 * SIGKILLed and started again on the same port; a TCP proxy between page and server cuts the
 * link without touching the server, for the exactly-once proof. Screenshots go to ARTIFACTS;
 * the resume test's is also the README's picture, docs/images/demo.png, rewritten when
 * missing or with UPDATE_README_SCREENSHOT=1.
 */

const VIEWPORT = { width: 1280, height: 800 };
const README_SCREENSHOT = fileURLToPath(new URL('../docs/images/demo.png', import.meta.url));
/** Bounds of the shared-tab tests: generous, for a loaded 2-core machine (their waits end at events; a quiet run takes seconds). */
const LOADED_MS = 60_000;

let browser: ChromiumSession | undefined;
const servers: ServeProcess[] = [];
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  for (const server of servers.splice(0)) await stopProcess(server);
});

afterAll(async () => {
  await browser?.close();
});

type PanelId = 'raw' | 'lifeline';

interface Visit {
  page: Page;
  /** Every URL the page asked for (documents, scripts, styles, icons, WebSockets). */
  requested: string[];
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
}

/** Opens `${origin}/demo` (no trailing slash, as a person types it) in a fresh page. */
async function visit(origin: string, viewport = VIEWPORT): Promise<Visit> {
  const page = await browser!.newPage();
  cleanup.push(() => page.close());
  await page.setViewportSize(viewport);
  const requested: string[] = [];
  const pageErrors: string[] = [];
  page.on('request', (request) => requested.push(request.url()));
  page.on('websocket', (ws) => requested.push(ws.url()));
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  const response = await page.goto(`${origin}/demo`);
  expect(response?.status()).toBe(200);
  expect(page.url()).toBe(`${origin}/demo/`);
  return { page, requested, pageErrors };
}

/**
 * A `lifeline serve` process and the page loaded through a TCP proxy in front of it (page and
 * WebSockets alike), which breaks the link only when told: `cutAll()`, `blackholeLinks()`, `targetPort`.
 */
async function visitThroughProxy(): Promise<Visit & { server: ServeProcess; proxy: ChaosProxy }> {
  const server = await spawnServe();
  servers.push(server);
  const proxy = await startChaosProxy({ targetPort: server.port, seed: 1 });
  proxy.chaos = false; // no random cuts
  cleanup.push(() => proxy.close());
  return { server, proxy, ...(await visit(`http://127.0.0.1:${proxy.port}`)) };
}

const panel = (page: Page, id: PanelId): Locator => page.locator(`#${id}`);

async function waitForStatus(page: Page, id: PanelId, status: string, timeout = 10_000): Promise<void> {
  await panel(page, id).locator(`.status[data-status="${status}"]`).waitFor({ timeout });
}

const text = async (locator: Locator) => ((await locator.textContent()) ?? '').trim();

/** Types into a panel's send box and presses Enter, as a person would. */
async function type(page: Page, id: PanelId, message: string): Promise<void> {
  const input = panel(page, id).locator('input[name="message"]');
  await input.fill(message);
  await input.press('Enter');
}

/** The panel's log, newest first. */
const logOf = (page: Page, id: PanelId) => panel(page, id).locator('[data-testid="log"] li .text').allTextContents();

interface SentRow {
  seq: number;
  state: string;
  echoes: number;
}

/** The Lifeline panel's "Your messages" list, oldest first. */
async function sentRows(page: Page): Promise<SentRow[]> {
  const rows = await panel(page, 'lifeline')
    .locator('[data-testid="sent"] li[data-seq]')
    .evaluateAll((items) => items.map((li) => ({ seq: Number((li as HTMLElement).dataset.seq), state: (li as HTMLElement).dataset.state ?? '', echoes: Number((li as HTMLElement).dataset.echoes) })));
  return rows.reverse();
}

const sessionIdOf = (page: Page) => panel(page, 'lifeline').locator('[data-testid="session"]').getAttribute('data-session-id');

/** Clicks "Check the server's log" and returns the sequence numbers the current session received, in its order. */
async function serverLog(page: Page): Promise<{ sessionId: string | null; seqs: number[]; summary: string }> {
  const sessionId = await sessionIdOf(page);
  await panel(page, 'lifeline').getByRole('button', { name: "Check the server's log" }).click();
  const shown = panel(page, 'lifeline').locator(`[data-testid="server-log"][data-session-id="${sessionId}"]`);
  await shown.waitFor({ timeout: 5000 });
  // The answer is replaced on every click; read it once it is the one for this click's session.
  const seqs = ((await shown.getAttribute('data-seqs')) ?? '').split(',').filter(Boolean).map(Number);
  return { sessionId, seqs, summary: await text(shown) };
}

/** The result stream's own check (apps/demo: steps 1, 2, 3 … per run and session), read in one evaluation. */
const streamCheck = (page: Page): Promise<{ received: number; gaps: number; repeats: number; run: number; step: number }> =>
  panel(page, 'lifeline')
    .locator('[data-testid="results"]')
    .evaluate((el) => {
      const read = (name: string) => Number(el.getAttribute(`data-${name}`));
      return { received: read('received'), gaps: read('gaps'), repeats: read('repeats'), run: read('run'), step: read('step') };
    });

/**
 * Waits until a panel is reconnecting *and* shows a countdown and an attempt number of at
 * least `minAttempt` (each failed attempt against a dead server raises it). The fields are
 * read in one evaluation, so they all come from the same rendering.
 */
interface Box {
  top: number;
  bottom: number;
}

/**
 * Waits until the panel counts down to an attempt ≥ `minAttempt`, and returns what it showed
 * then, read in one evaluation: the next attempt may start (and hide "Retry now") a moment
 * later, so nothing here is read again from a page that moved on.
 */
async function waitForCountdown(
  page: Page,
  id: PanelId,
  minAttempt: number,
): Promise<{ status: string; headline: string; countdown: string; attempt: number; rtt: string; headlineBox: Box | null; retryBox: Box | null }> {
  let seen = { status: '', headline: '', countdown: '', attempt: 0, rtt: '', headlineBox: null as Box | null, retryBox: null as Box | null };
  await waitFor(
    async () => {
      seen = await panel(page, id).evaluate((el) => {
        const node = (testid: string) => el.querySelector(`[data-testid="${testid}"]`);
        const field = (testid: string) => node(testid)?.textContent?.trim() ?? '';
        const box = (testid: string) => {
          const rect = (node(testid) as HTMLElement | null)?.getBoundingClientRect();
          return rect && rect.height > 0 ? { top: rect.top, bottom: rect.bottom } : null;
        };
        return {
          status: el.querySelector('.status')?.getAttribute('data-status') ?? '',
          headline: field('headline'),
          countdown: field('countdown'),
          attempt: Number(field('attempt')),
          rtt: field('rtt'),
          headlineBox: box('headline'),
          retryBox: box('retry-now'),
        };
      });
      return seen.status === 'reconnecting' && /^\d+ s$/.test(seen.countdown) && seen.attempt >= minAttempt;
    },
    `${id}: reconnecting with a countdown, attempt ≥ ${minAttempt}`,
    15_000,
    25,
  );
  return seen;
}

/** Every request of the page went to 127.0.0.1: nothing from a CDN, fonts or anything else outside. */
function expectLocalOnly(requested: string[]): void {
  expect(requested.length).toBeGreaterThan(0);
  for (const url of requested) expect(new URL(url).hostname, url).toBe('127.0.0.1');
}

describe('the demo page, served by lifeline serve at /demo', () => {
  test('loads with nothing from outside, connects both panels, exchanges messages, reconnects after a SIGKILL and shows the reset', async () => {
    const first = await spawnServe();
    servers.push(first);
    const origin = `http://127.0.0.1:${first.port}`;
    const { page, requested, pageErrors } = await visit(origin);

    // 1. Both panels connect: the seed route greets, the Lifeline session starts and streams.
    await waitForStatus(page, 'raw', 'open');
    await waitForStatus(page, 'lifeline', 'open');
    await waitFor(async () => (await logOf(page, 'raw')).includes('111111111'), 'the seed greeting');
    const firstSession = await sessionIdOf(page);
    expect(firstSession).toMatch(/.{8,}/);
    expect(await text(panel(page, 'lifeline').locator('[data-testid="resumed"]'))).toBe('no — new session');
    await waitFor(async () => (await streamCheck(page)).received >= 3, 'three pushed results', 5000);

    // 2. Raw panel, reached with the keyboard only: Tab to its send box, type, Enter.
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await waitFor(
      async () => {
        await page.keyboard.press('Tab');
        return page.evaluate(() => document.activeElement?.matches('#raw input[name="message"]') ?? false);
      },
      'Tab to reach the raw send box',
      5000,
      0,
    );
    await page.keyboard.type('hello seed');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await logOf(page, 'raw')).includes('"hello seed"'), 'the seed route’s JSON answer');
    expect((await logOf(page, 'raw')).slice(0, 3)).toEqual(['111111111', '"hello seed"', 'hello seed']);

    // 3. Lifeline panel: a numbered message comes back once, as the session's first.
    await type(page, 'lifeline', 'before the crash');
    await waitFor(async () => (await sentRows(page)).some((r) => r.state === 'echoed'), 'the echo');
    expect(await sentRows(page)).toEqual([{ seq: 1, state: 'echoed', echoes: 1 }]);
    expect(await text(panel(page, 'lifeline').locator('[data-testid="sent"] li[data-seq="1"] .state'))).toBe('echoed as server #1');
    await waitFor(async () => /^\d+ ms$/.test(await text(panel(page, 'lifeline').locator('[data-testid="rtt"]'))), 'the Lifeline RTT');
    // The seed heartbeat probes after 5 s of silence; its answer is the raw panel's RTT.
    await waitFor(async () => /^\d+ ms$/.test(await text(panel(page, 'raw').locator('[data-testid="rtt"]'))), 'the heartCheck RTT', 10_000);
    await page.screenshot({ path: join(ARTIFACTS, 'demo-connected.png'), fullPage: true });
    expect(pageErrors).toEqual([]);

    // 4. The server dies without a goodbye: both panels say so, count attempts and count down.
    first.signal('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    for (const id of ['raw', 'lifeline'] as const) {
      const seen = await waitForCountdown(page, id, 3); // attempts 1 and 2 of this outage failed against the dead server
      expect(seen.headline).toMatch(/^reconnecting — attempt \d+ in \d+ s$/);
      // No round trip is shown for a link that is not there (both had one while open).
      expect(seen.rtt).toBe('—');
      // "Retry now" is shown during the countdown, on the headline's row.
      expect(seen.retryBox, '"Retry now" during the countdown').not.toBeNull();
      expect(seen.retryBox!.top).toBeLessThan(seen.headlineBox!.bottom);
      expect(seen.retryBox!.bottom).toBeGreaterThan(seen.headlineBox!.top);
      // The log says what 1006 means, once for the drop, and the failed attempts since are one line.
      const lines = await logOf(page, id);
      expect(lines.filter((l) => l.startsWith('connection closed: 1006 — closed without a close frame: the network dropped or the server crashed'))).toHaveLength(1);
      const failed = lines.filter((l) => /^attempts? \d+/.test(l));
      expect(failed, lines.join('\n')).toHaveLength(1);
      expect(failed[0]).toMatch(/^attempts 1–\d+ failed \(1006: no answer: the server is down, restarting or unreachable\); attempt \d+ in [\d.]+ s$/);
    }
    expect(await text(panel(page, 'lifeline').locator('[data-testid="last-close"]'))).toBe('1006 (not clean)');

    // 5. Typed during the outage: queued on the page, not lost.
    await type(page, 'raw', 'typed while down');
    for (const words of ['offline one', 'offline two', 'offline three']) await type(page, 'lifeline', words);
    expect((await sentRows(page)).slice(1)).toEqual([2, 3, 4].map((seq) => ({ seq, state: 'queued', echoes: 0 })));
    expect(await text(panel(page, 'lifeline').locator('[data-testid="queued"]'))).toBe('3');
    await page.screenshot({ path: join(ARTIFACTS, 'demo-reconnecting.png'), fullPage: true });

    // 6. A new server on the same port: both panels come back by themselves.
    const second = await spawnServe(['--port', String(first.port)]);
    servers.push(second);
    await waitForStatus(page, 'raw', 'open', 15_000);
    await waitForStatus(page, 'lifeline', 'open', 15_000);

    // The new process never knew the old session: the page says so (reset), on a new session...
    const reset = panel(page, 'lifeline').locator('[data-testid="reset"]');
    await reset.waitFor({ timeout: 5000 });
    expect(await reset.getAttribute('data-reason')).toBe('unknown-session');
    expect(await text(reset)).toContain('everything written to the old one had been confirmed.');
    expect(await text(reset)).not.toMatch(/\b0 /);
    const secondSession = await sessionIdOf(page);
    expect(secondSession).not.toBe(firstSession);
    // ...and the messages queued during the outage arrive there, each once, in order.
    await waitFor(async () => (await sentRows(page)).every((r) => r.state === 'echoed'), 'the queued messages to be echoed', 5000);
    expect(await sentRows(page)).toEqual([1, 2, 3, 4].map((seq) => ({ seq, state: 'echoed', echoes: 1 })));
    const log = await serverLog(page);
    expect(log.sessionId).toBe(secondSession);
    expect(log.seqs).toEqual([2, 3, 4]);
    expect(log.summary).toContain('#2–4 — in order, each once');
    expect(await text(panel(page, 'lifeline').locator('[data-testid="sent"] li[data-seq="1"] .state'))).toBe('echoed as server #1 of an earlier session');
    // The raw panel's queued message went too, after the new greeting.
    await waitFor(async () => (await logOf(page, 'raw')).includes('"typed while down"'), 'the raw message queued during the outage');
    // The new session streams from run 1, step 1: the page's own check saw no gap or repeat.
    await waitFor(async () => (await streamCheck(page)).step >= 2, 'results from the new session');
    expect(await streamCheck(page)).toMatchObject({ gaps: 0, repeats: 0, run: 1 });

    await page.screenshot({ path: join(ARTIFACTS, 'demo-after-restart.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    expectLocalOnly(requested);
    expect(requested.filter((url) => url.startsWith('ws:')).map((url) => new URL(url).pathname)).toEqual(expect.arrayContaining(['/test', '/results']));
  }, 120_000); // a long scenario: two server starts, a kill, several reconnects; generous for a busy machine

  test('Lifeline mode across a TCP outage (server untouched): every message typed before, into and during it arrives exactly once, in order, on the same session', async () => {
    const { server, proxy, page, requested, pageErrors } = await visitThroughProxy();
    await waitForStatus(page, 'raw', 'open');
    await waitForStatus(page, 'lifeline', 'open');
    const sessionId = await sessionIdOf(page);
    await waitFor(async () => (await streamCheck(page)).received >= 2, 'pushed results');

    // Before: delivered and echoed.
    await type(page, 'lifeline', 'before 1');
    await type(page, 'lifeline', 'before 2');
    await waitFor(async () => (await sentRows(page)).filter((r) => r.state === 'echoed').length === 2, 'two echoes');

    // Into the void: the link looks open, but nothing gets through either way (no FIN, no RST).
    proxy.blackholeLinks();
    await type(page, 'lifeline', 'into the void 1');
    await type(page, 'lifeline', 'into the void 2');
    expect((await sentRows(page)).slice(2)).toEqual([3, 4].map((seq) => ({ seq, state: 'sent', echoes: 0 })));
    await new Promise((resolve) => setTimeout(resolve, 700)); // the server computes on; its results vanish too

    // The link drops, and every attempt to reconnect fails for a while.
    proxy.targetPort = await closedPort();
    proxy.cutAll();
    const seen = await waitForCountdown(page, 'lifeline', 2);
    expect(seen.headline).toMatch(/^reconnecting — attempt \d+ in \d+ s$/);
    await type(page, 'lifeline', 'during the outage 1');
    await type(page, 'lifeline', 'during the outage 2');
    expect((await sentRows(page)).slice(4)).toEqual([5, 6].map((seq) => ({ seq, state: 'queued', echoes: 0 })));
    await page.screenshot({ path: join(ARTIFACTS, 'demo-tcp-outage.png'), fullPage: true });

    // The path comes back: the same session resumes, and nothing is lost, repeated or reordered.
    proxy.targetPort = server.port;
    await waitForStatus(page, 'lifeline', 'open', 15_000);
    expect(await sessionIdOf(page)).toBe(sessionId);
    expect(await text(panel(page, 'lifeline').locator('[data-testid="resumed"]'))).toBe('yes — nothing lost');
    await waitFor(async () => (await sentRows(page)).every((r) => r.state === 'echoed'), 'every message to be echoed', 5000);
    const rows = await sentRows(page);
    expect(rows).toEqual([1, 2, 3, 4, 5, 6].map((seq) => ({ seq, state: 'echoed', echoes: 1 })));
    // The echo says where each landed in the server's receive log: 1st, 2nd, … 6th.
    const landed = await panel(page, 'lifeline').locator('[data-testid="sent"] li[data-seq] .state').allTextContents();
    expect(landed.map((s) => s.trim()).reverse()).toEqual([1, 2, 3, 4, 5, 6].map((i) => `echoed as server #${i}`));
    const log = await serverLog(page);
    expect(log).toMatchObject({ sessionId, seqs: [1, 2, 3, 4, 5, 6] });
    expect(log.summary).toContain('received 6: #1–6 — in order, each once');
    expect(await panel(page, 'lifeline').locator('[data-testid="reset"]').count()).toBe(0);

    // The results the server pushed while the link was dead were held and replayed, in order.
    await waitFor(async () => (await streamCheck(page)).received >= 8, 'results after the resume');
    const stream = await streamCheck(page);
    expect(stream).toMatchObject({ gaps: 0, repeats: 0, run: 1 });
    expect(stream.step).toBe(stream.received);
    expect(await text(panel(page, 'lifeline').locator('[data-testid="stream-check"]'))).toMatch(/0 missing · 0 repeated or out of order · [1-9]\d* replayed after the last reconnect/);

    // For the picture: the raw panel back too, with its heartCheck RTT (a probe after 5 s of silence).
    await waitForStatus(page, 'raw', 'open', 15_000);
    await waitFor(async () => /^\d+ ms$/.test(await text(panel(page, 'raw').locator('[data-testid="rtt"]'))), 'the heartCheck RTT', 10_000);
    await page.screenshot({ path: join(ARTIFACTS, 'demo-resumed.png'), fullPage: true });
    // The README's picture changes on every run (times, ids): rewritten only when asked, or when missing.
    if (process.env.UPDATE_README_SCREENSHOT === '1' || !existsSync(README_SCREENSHOT)) {
      mkdirSync(dirname(README_SCREENSHOT), { recursive: true });
      copyFileSync(join(ARTIFACTS, 'demo-resumed.png'), README_SCREENSHOT);
    }
    expect(pageErrors).toEqual([]);
    expectLocalOnly(requested);
  });

  test('a restart with messages lost in flight: the reset lists them as unconfirmed, and "Resend" delivers each once to the new session', async () => {
    const { server: first, proxy, page, pageErrors } = await visitThroughProxy();
    await waitForStatus(page, 'lifeline', 'open');
    await type(page, 'lifeline', 'delivered');
    await waitFor(async () => (await sentRows(page))[0]?.state === 'echoed', 'the first echo');

    // Written to the session but never acknowledged: the link goes dead, then the server dies.
    proxy.blackholeLinks();
    await type(page, 'lifeline', 'in flight 1');
    await type(page, 'lifeline', 'in flight 2');
    first.signal('SIGKILL');
    await first.exited;
    const second = await spawnServe(['--port', String(first.port)]);
    servers.push(second);

    const reset = panel(page, 'lifeline').locator('[data-testid="reset"]');
    await reset.waitFor({ timeout: 20_000 });
    expect(await reset.getAttribute('data-reason')).toBe('unknown-session');
    expect(await text(reset)).toContain('2 messages written to the old one were never confirmed.');
    expect(await sentRows(page)).toEqual([
      { seq: 1, state: 'echoed', echoes: 1 },
      { seq: 2, state: 'unconfirmed', echoes: 0 },
      { seq: 3, state: 'unconfirmed', echoes: 0 },
    ]);
    await page.screenshot({ path: join(ARTIFACTS, 'demo-unconfirmed.png'), fullPage: true });

    await reset.getByRole('button', { name: 'Resend 2 unconfirmed' }).click();
    await waitFor(async () => (await sentRows(page)).every((r) => r.state === 'echoed'), 'the resent messages to be echoed');
    expect(await sentRows(page)).toEqual([1, 2, 3].map((seq) => ({ seq, state: 'echoed', echoes: 1 })));
    expect((await serverLog(page)).seqs).toEqual([2, 3]);
    expect(await reset.getByRole('button').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  test('two tabs share one connection and say so; the tab that holds it closes and the other takes the same session over', async () => {
    const server = await spawnServe();
    servers.push(server);
    const origin = `http://127.0.0.1:${server.port}`;
    const first = await visit(origin);
    await waitForStatus(first.page, 'lifeline', 'open', LOADED_MS);
    const second = await visit(origin);
    await waitForStatus(second.page, 'lifeline', 'open', LOADED_MS);
    const sharing = (page: Page) => panel(page, 'lifeline').locator('[data-testid="sharing"]');
    await waitFor(async () => (await sharing(first.page).getAttribute('data-storage')) === 'persistent', 'IndexedDB to be open', LOADED_MS);
    expect(await sharing(first.page).getAttribute('data-role')).toBe('leader');
    expect(await sharing(second.page).getAttribute('data-role')).toBe('follower');
    expect(await text(sharing(second.page))).toMatch(/^One connection for all tabs: another tab holds it; .*Open this page in a second tab: .*Kept in IndexedDB: the session, what waits to be sent and what was received are stored\. Type while the server is down, close the tab, and open the page again/);
    // One WebSocket for /results whatever the number of tabs (each tab's raw panel has its own).
    const connections = async () => {
      const stats = (await (await fetch(server.httpUrl('/api/stats'))).json()) as { connections: { byRoute: { route: string; lifeline: number; raw: number }[] } };
      return Object.fromEntries(stats.connections.byRoute.map((r) => [r.route, r.lifeline + r.raw]));
    };
    expect(await connections()).toMatchObject({ '/results': 1, '/test': 2 });
    const sessionId = await sessionIdOf(first.page);
    expect(await sessionIdOf(second.page)).toBe(sessionId);
    expect(await text(panel(second.page, 'lifeline').locator('[data-testid="resumed"]'))).toBe('no — new session');

    // A message typed in the second tab goes through the first; both see its echo, once.
    await type(second.page, 'lifeline', 'from the second tab');
    await waitFor(async () => (await sentRows(second.page))[0]?.state === 'echoed', 'the echo in the second tab', LOADED_MS);
    const label = await sharing(second.page).getAttribute('data-tab');
    await waitFor(async () => (await logOf(first.page, 'lifeline')).some((l) => l.startsWith(`echo of tab ${label}'s #1 “from the second tab”`)), 'the echo in the first tab', LOADED_MS);

    // The first tab closes: the second takes the connection, and the same session, over.
    await first.page.close();
    await waitFor(async () => (await sharing(second.page).getAttribute('data-role')) === 'leader', 'the second tab to hold the connection', LOADED_MS);
    // The role changes first; until its own connection's first state arrives the tab still shows
    // the old leader's `open`, so wait for the resume itself (the old leader's session was new).
    const resumed = panel(second.page, 'lifeline').locator('[data-testid="resumed"]');
    await waitFor(async () => (await text(resumed)) === 'yes — nothing lost', 'the second tab to resume the session', LOADED_MS);
    await waitForStatus(second.page, 'lifeline', 'open', LOADED_MS);
    expect(await sessionIdOf(second.page)).toBe(sessionId);
    await type(second.page, 'lifeline', 'after the handover');
    await waitFor(async () => (await sentRows(second.page)).every((r) => r.state === 'echoed'), 'the echo after the handover', LOADED_MS);
    expect(await sentRows(second.page)).toEqual([1, 2].map((seq) => ({ seq, state: 'echoed', echoes: 1 })));
    expect((await serverLog(second.page)).seqs).toEqual([1, 2]);
    await waitFor(async () => (await connections())['/results'] === 1, 'one /results connection on the server', LOADED_MS);
    expect([first.pageErrors, second.pageErrors]).toEqual([[], []]);
  }, 4 * LOADED_MS);

  test('typed while the server is down, the tab closed, the page opened again once the server is back: what was typed is sent, once, in order', async () => {
    const first = await spawnServe();
    servers.push(first);
    const origin = `http://127.0.0.1:${first.port}`;
    const { page, pageErrors } = await visit(origin);
    await waitForStatus(page, 'lifeline', 'open', LOADED_MS);
    first.signal('SIGKILL');
    await first.exited;
    await waitFor(async () => (await panel(page, 'lifeline').locator('.status').getAttribute('data-status')) === 'reconnecting', 'the page to notice', LOADED_MS);
    for (const words of ['typed 1', 'typed 2', 'typed 3']) await type(page, 'lifeline', words);
    expect(await sentRows(page)).toEqual([1, 2, 3].map((seq) => ({ seq, state: 'queued', echoes: 0 })));
    const label = await panel(page, 'lifeline').locator('[data-testid="sharing"]').getAttribute('data-tab');
    // Once the connection's holder has them in IndexedDB, the page counts them as waiting there.
    await waitFor(async () => (await text(panel(page, 'lifeline').locator('[data-testid="queued"]'))) === '3', 'the three to wait', LOADED_MS);
    expect(pageErrors).toEqual([]);
    await page.close();

    const second = await spawnServe(['--port', String(first.port)]);
    servers.push(second);
    const again = await visit(origin);
    await waitForStatus(again.page, 'lifeline', 'open', LOADED_MS);
    // The restarted server forgot the old session; the kept messages went to the new one, each once, in order.
    const echoes = async () => (await logOf(again.page, 'lifeline')).filter((l) => l.startsWith(`echo of tab ${label}'s`)).reverse();
    await waitFor(async () => (await echoes()).length === 3, 'the three echoes', LOADED_MS);
    expect((await echoes()).map((l) => l.replace(/ — .*/, ''))).toEqual([1, 2, 3].map((n) => `echo of tab ${label}'s #${n} “typed ${n}”`));
    expect(await panel(again.page, 'lifeline').locator('[data-testid="reset"]').getAttribute('data-reason')).toBe('unknown-session');
    expect(await sentRows(again.page)).toEqual([]); // a new page life: its own list starts empty
    expect(again.pageErrors).toEqual([]);
  }, 4 * LOADED_MS);

  test('fits a phone screen (no sideways scrolling, panels stacked), and starts a new run by request', async () => {
    const server = await spawnServe();
    servers.push(server);
    const { page, pageErrors } = await visit(`http://127.0.0.1:${server.port}`, { width: 390, height: 844 });
    await waitForStatus(page, 'raw', 'open');
    await waitForStatus(page, 'lifeline', 'open');
    await type(page, 'lifeline', 'a long message that has to wrap on a narrow screen instead of pushing the page sideways');
    await waitFor(async () => (await sentRows(page)).some((r) => r.state === 'echoed'), 'the echo');
    const layout = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      raw: document.querySelector('#raw')!.getBoundingClientRect().toJSON() as DOMRect,
      lifeline: document.querySelector('#lifeline')!.getBoundingClientRect().toJSON() as DOMRect,
    }));
    expect(layout.scrollWidth).toBeLessThanOrEqual(layout.innerWidth);
    expect(layout.lifeline.top).toBeGreaterThanOrEqual(layout.raw.bottom); // stacked, not side by side

    // A request from the page: a new run of 3 steps, which the server streams and ends.
    await panel(page, 'lifeline').locator('input[name="steps"]').fill('3');
    await panel(page, 'lifeline').getByRole('button', { name: 'Start a new run' }).click();
    await waitFor(async () => (await logOf(page, 'lifeline')).includes('run 2 started: 3 steps of 20,000 samples'), 'the answer to run');
    await waitFor(async () => (await streamCheck(page)).run === 2 && (await streamCheck(page)).step === 3, 'run 2 to end', 5000);
    expect(await text(panel(page, 'lifeline').locator('.detail'))).toMatch(/^run 2, step 3 of 3 \(done\)/);
    await page.screenshot({ path: join(ARTIFACTS, 'demo-phone.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  test('serves the built app: index.html revalidated, hashed assets cached for a year, /demo/ not /demo', async () => {
    const server = await spawnServe();
    servers.push(server);
    const index = await fetch(server.httpUrl('/demo/'));
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/demo\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const asset of assets) {
      const res = await fetch(server.httpUrl(asset));
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('cache-control'), asset).toBe('public, max-age=31536000, immutable');
      await res.arrayBuffer();
    }
    const redirect = await fetch(server.httpUrl('/demo'), { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/demo/');
  });
});
