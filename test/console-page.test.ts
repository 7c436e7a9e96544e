import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ARTIFACTS, launchChromium, type ChromiumSession } from './support/chromium.js';
import { spawnServe, stopProcess, type ServeProcess } from './support/servers.js';
import { waitFor } from './support/wait.js';

/**
 * The WebSocket test console (apps/console, issue 6) as a person gets it: built by
 * `npm run build`, served by a real `lifeline serve` process at /console, in Debian's
 * headless Chromium, driven through its controls. Screenshots go to ARTIFACTS; the first
 * test also writes docs/images/console.png, the README's picture.
 */

const VIEWPORT = { width: 1280, height: 800 };
const README_SCREENSHOT = fileURLToPath(new URL('../docs/images/console.png', import.meta.url));
const BUILT = fileURLToPath(new URL('../apps/console/dist/index.html', import.meta.url));

let browser: ChromiumSession | undefined;
let serve: ServeProcess | undefined;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run "npm run build" first (npm test does).`);
  mkdirSync(ARTIFACTS, { recursive: true });
  [browser, serve] = await Promise.all([launchChromium(), spawnServe()]);
});

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

afterAll(async () => {
  await browser?.close();
  await stopProcess(serve);
});

interface Visit {
  page: Page;
  pageErrors: string[];
}

async function visit(viewport = VIEWPORT): Promise<Visit> {
  const page = await browser!.newPage();
  cleanup.push(() => page.close());
  await page.setViewportSize(viewport);
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.goto(serve!.httpUrl('/console/'));
  return { page, pageErrors };
}

async function connect(page: Page, url?: string): Promise<void> {
  if (url !== undefined) await page.getByTestId('url').fill(url);
  await page.getByTestId('connect').click();
}

const number = (text: string | null) => Number((text ?? '').replace(/[^\d]/g, ''));

/** Types a message in the composer in `mode` and sends it with Ctrl+Enter. */
async function send(page: Page, mode: 'text' | 'json' | 'hex' | 'base64', text: string): Promise<void> {
  await page.getByTestId('draft-mode').selectOption(mode);
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('composer').press('Control+Enter');
}

/** The payload view of the newest received row of `kind`, after selecting it. */
async function openNewest(page: Page, kind: 'text' | 'json' | 'binary'): Promise<{ view: string | null; text: string }> {
  const row = page.locator(`.log-row[data-dir="in"][data-kind="${kind}"]`).last();
  await row.waitFor();
  await row.click();
  const payload = page.getByTestId('payload');
  return { view: await payload.getAttribute('data-view'), text: await payload.innerText() };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the console against lifeline serve', () => {
  test('connects to /echo and shows text, JSON and binary in the log, each in its own view', async () => {
    const { page, pageErrors } = await visit();
    // The URL field starts at this server's /echo.
    expect(await page.getByTestId('url').inputValue()).toBe(serve!.wsUrl('/echo'));
    await connect(page);
    await page.getByTestId('status-text').filter({ hasText: /^open/ }).waitFor();

    await send(page, 'text', 'hello console');
    const text = await openNewest(page, 'text');
    expect(text).toEqual({ view: 'raw', text: 'hello console' });

    await send(page, 'json', '{"type": "greeting", "n": [1, 2], "ok": true}');
    const json = await openNewest(page, 'json');
    expect(json.view).toBe('pretty');
    expect(json.text).toBe('{\n  "type": "greeting",\n  "n": [\n    1,\n    2\n  ],\n  "ok": true\n}');
    // Sent compact, as the log row shows.
    await expect.poll(() => page.locator('.log-row[data-dir="out"][data-kind="json"] .c-preview').last().innerText()).toBe('{"type":"greeting","n":[1,2],"ok":true}');

    await send(page, 'hex', '00 ff 10 2a 48 69');
    const hex = await openNewest(page, 'binary');
    expect(hex.view).toBe('hex');
    expect(hex.text).toContain('00000000  00 ff 10 2a 48 69');
    expect(hex.text).toContain('|...*Hi|');

    await send(page, 'base64', 'AAEC');
    await expect.poll(() => page.locator('.log-row[data-dir="in"][data-kind="binary"] .c-preview').last().innerText()).toBe('00 01 02');

    // The pictures: a JSON message opened, a JSON draft ready.
    await page.locator('.log-row[data-dir="in"][data-kind="json"]').last().click();
    await page.getByTestId('draft-mode').selectOption('json');
    await page.getByTestId('composer').fill('{\n  "type": "subscribe",\n  "channel": "prices"\n}');
    await page.screenshot({ path: join(ARTIFACTS, 'console-echo.png') });
    mkdirSync(join(README_SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: README_SCREENSHOT });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, 'console-phone.png'), fullPage: true });
    await page.setViewportSize(VIEWPORT);

    // Invalid JSON is refused before it is sent, with where it broke.
    await page.getByTestId('draft-mode').selectOption('json');
    await page.getByTestId('composer').fill('{"a": }');
    await expect.poll(() => page.getByTestId('composer-problem').innerText()).toMatch(/^Not JSON: line 1, column 7/);
    await expect.poll(() => page.getByTestId('send').isDisabled()).toBe(true);

    // Each row has time, gap, direction, type and size.
    const row = page.locator('.log-row[data-dir="in"][data-kind="json"]').last();
    expect(await row.locator('.c-time').innerText()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    expect(await row.locator('.c-gap').innerText()).toMatch(/^\+[\d.]+ (ms|s)$/);
    expect(await row.locator('.c-size').innerText()).toBe('39 B');
    expect(number(await page.getByTestId('count-in').innerText())).toBe(4);

    expect(pageErrors).toEqual([]);
  });

  test('Lifeline mode: a session, its events, JSON values echoed; copy as code says the same', async () => {
    const { page, pageErrors } = await visit();
    await page.getByTestId('lifeline').check();
    await connect(page);
    await expect.poll(() => page.getByTestId('status').innerText()).toMatch(/subprotocol lifeline\.v1\s+session \S+…/);
    await expect.poll(() => page.locator('.log-row.dir-sys .c-preview').allInnerTexts()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^lifelinehello: asking for a new session$/), expect.stringMatching(/^lifelinesession \S+ started$/)]),
    );
    await send(page, 'json', '{"n": 1}');
    const json = await openNewest(page, 'json');
    expect(json).toEqual({ view: 'pretty', text: '{\n  "n": 1\n}' });
    await page.getByTestId('panel-code').click();
    expect(await page.getByTestId('snippet').innerText()).toContain('mode: lifeline(),');
    expect(pageErrors).toEqual([]);
  });

  test('heartbeat and auto-reply: probes answered and measured, a rule answers a matching message', async () => {
    const { page, pageErrors } = await visit();
    await page.getByTestId('heartbeat').check();
    await page.getByLabel('every').fill('1000'); // /echo answers the probe "ping" with "ping"
    await connect(page);
    await expect.poll(() => page.getByTestId('status').innerText(), { timeout: 10_000 }).toMatch(/RTT \d+ ms/);
    expect(await page.locator('.log-row .tag', { hasText: 'heartbeat' }).count()).toBeGreaterThanOrEqual(2);

    await page.getByTestId('panel-automation').click();
    await page.getByRole('button', { name: 'Add a rule' }).click();
    const rule = page.locator('.rule');
    await rule.getByLabel('match').selectOption('equals');
    await rule.getByLabel('pattern').fill('knock knock');
    await rule.getByLabel('reply', { exact: true }).fill('who is there? ({{text}})');
    await send(page, 'text', 'knock knock');
    await expect.poll(() => page.locator('.log-row[data-dir="out"] .c-preview').last().innerText()).toBe('auto-replywho is there? (knock knock)');
    expect(await rule.innerText()).toContain('Fired 1 time(s).');

    // A rule that matches its own echoed reply would answer forever: it is turned off.
    await rule.getByLabel('match').selectOption('contains');
    await rule.getByLabel('pattern').fill('knock');
    await send(page, 'text', 'knock');
    await expect.poll(() => rule.innerText(), { timeout: 5000 }).toMatch(/Turned off: it fired 20 times within a second/);
    expect(await rule.getByRole('checkbox').isChecked()).toBe(false);
    expect(pageErrors).toEqual([]);
  });

  test('keyboard only: connect, write, send, walk the log, open a message; export NDJSON and import it in a new tab', async () => {
    const { page, pageErrors } = await visit();
    await page.keyboard.press('c');
    await page.getByTestId('status-text').filter({ hasText: /^open/ }).waitFor();
    await page.keyboard.press('m');
    await page.keyboard.type('typed, not clicked');
    await page.keyboard.press('Control+Enter');
    await page.locator('.log-row[data-dir="in"][data-kind="text"]').waitFor();
    await page.keyboard.press('Escape'); // leave the composer
    await page.keyboard.press('l');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    expect(await page.getByTestId('payload').innerText()).toBe('typed, not clicked');
    await page.keyboard.press('k');
    expect(await page.locator('.log-row.selected').getAttribute('data-dir')).toBe('out');

    await page.getByText('Export / import').click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-all').click()]);
    const file = join(ARTIFACTS, 'console-export.ndjson');
    await download.saveAs(file);
    const records = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { dir: string; type: string; text?: string });
    expect(records.filter((r) => r.dir !== 'sys')).toEqual([
      expect.objectContaining({ dir: 'out', type: 'text', text: 'typed, not clicked' }),
      expect.objectContaining({ dir: 'in', type: 'text', text: 'typed, not clicked' }),
    ]);
    await page.keyboard.press('Escape');
    await page.keyboard.press('t'); // a new tab, and the file read into its log
    await page.getByText('Export / import').click();
    await page.getByTestId('import').setInputFiles(file);
    await expect.poll(() => page.getByText(/^Imported \d+ entries from console-export\.ndjson\.$/).count()).toBe(1);
    expect(number(await page.getByTestId('count-in').innerText())).toBe(1);
    expect(await page.locator('.log-row[data-dir="in"] .c-preview').innerText()).toBe('typed, not clicked');
    expect(pageErrors).toEqual([]);
  });

  test('a refused connection says so in words; a wrong path gets the server’s list of routes', async () => {
    const { page } = await visit();
    const port = await freePort();
    await page.getByTestId('reconnect').uncheck();
    await connect(page, `ws://127.0.0.1:${port}/echo`);
    const failure = page.getByTestId('failure');
    await expect.poll(() => failure.innerText(), { timeout: 10_000 }).toMatch(new RegExp(`^Could not connect: nothing answered at 127\\.0\\.0\\.1:${port}\\. The connection was refused`));
    await expect.poll(() => page.getByTestId('status-text').innerText()).toBe('closed');
    expect(await page.locator('.log-row.level-error').first().innerText()).toMatch(/closed 1006: closed without a close frame: the network dropped or the server crashed/);
    await page.screenshot({ path: join(ARTIFACTS, 'console-refused.png') });

    await connect(page, serve!.wsUrl('/no-such-route'));
    await expect.poll(() => failure.innerText(), { timeout: 10_000 }).toMatch(/^Could not connect: the server has no WebSocket at this path\. It says: Nothing at \/no-such-route\..*\/echo/);
  });

  test('the server panel shows a second client arriving', async () => {
    const { page } = await visit();
    await connect(page);
    await page.getByTestId('status-text').filter({ hasText: /^open/ }).waitFor();
    await page.getByTestId('panel-server').click();
    const echoRow = page.locator('[data-testid="server-routes"] tr[data-route="/echo"] td').first();
    await expect.poll(() => echoRow.innerText(), { timeout: 5000 }).toBe('1');
    const before = number(await page.getByTestId('server-connections').innerText());

    const second = new WebSocket(serve!.wsUrl('/echo'));
    cleanup.push(() => second.close());
    await new Promise((resolve, reject) => second.once('open', resolve).once('error', reject));
    await expect.poll(() => echoRow.innerText(), { timeout: 5000 }).toBe('2');
    expect(number(await page.getByTestId('server-connections').innerText())).toBe(before + 1);
    expect(await page.getByTestId('server-channels').innerText()).toMatch(/^None/);
    await page.screenshot({ path: join(ARTIFACTS, 'console-server-panel.png') });

    second.close();
    await expect.poll(() => echoRow.innerText(), { timeout: 5000 }).toBe('1');
  });

  test('a script runs in the Script panel: every step passes against /echo', async () => {
    const { page } = await visit();
    await connect(page);
    await page.getByTestId('status-text').filter({ hasText: /^open/ }).waitFor();
    await page.getByTestId('panel-script').click();
    await page.getByTestId('script-run').click(); // the starter script: text, JSON and bytes, each echoed
    await expect.poll(() => page.getByTestId('script-summary').innerText(), { timeout: 10_000 }).toMatch(/^All 6 steps passed in \d+ ms\.$/);
    expect(await page.locator('[data-testid="script-results"] li.pass').count()).toBe(6);
    await page.screenshot({ path: join(ARTIFACTS, 'console-script.png') });
  });

  test('chaos: after a server restart, naive clients come back as a herd, @lifeline/client spread out', async () => {
    const { page, pageErrors } = await visit();
    await page.getByTestId('panel-chaos').click();
    const panel = page.getByTestId('chaos-panel');
    const clients = 10;
    await panel.locator('input[type=number]').first().fill(String(clients));
    const scenario = async (kind: 'naive' | 'lifeline-client', restart: 'crash' | 'graceful') => {
      await panel.locator('select').first().selectOption(kind);
      await page.getByTestId('chaos-start').click();
      await expect.poll(() => page.getByTestId('chaos-status').innerText(), { timeout: 10_000 }).toMatch(new RegExp(`^${clients} open`));
      await panel.locator('select').nth(2).selectOption(restart);
      // A crash leaves the server down for a second; a graceful restart tells each client when to come back (hints over 2 s).
      await panel.getByLabel('down').fill(restart === 'crash' ? '1' : '0');
      if (restart === 'graceful') await panel.getByLabel('hints over').fill('2');
      await page.getByTestId('chaos-restart').click();
      await expect.poll(() => page.getByTestId('chaos-status').innerText(), { timeout: 15_000 }).toMatch(new RegExp(`^${clients} open`));
      const text = await page.getByTestId('chaos-histogram').innerText();
      await page.screenshot({ path: join(ARTIFACTS, `console-chaos-${kind}.png`) });
      await panel.getByRole('button', { name: 'Stop' }).click();
      return { text, peak: Number(/At most (\d+) within the same 100 ms/.exec(text)?.[1]) };
    };
    const naive = await scenario('naive', 'crash');
    expect(naive.text).toContain('a thundering herd');
    expect(naive.peak).toBe(clients);
    const spread = await scenario('lifeline-client', 'graceful');
    expect(spread.peak, spread.text).toBeLessThan(clients / 2);
    console.log(`console chaos figures (${clients} clients): naive after a crash, at most ${naive.peak} attempts within 100 ms; @lifeline/client after a graceful restart, at most ${spread.peak}`);
    expect(pageErrors).toEqual([]);
  });

  test('100,000 messages: the log stays bounded in rows and memory, and responsive', async () => {
    const { page, pageErrors } = await visit();
    const cdp = await page.context().newCDPSession(page);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return ((await cdp.send('Runtime.getHeapUsage')) as { usedSize: number }).usedSize;
    };
    // The longest stretch without a frame: what a person would feel as a freeze.
    await page.evaluate(() => {
      const g = globalThis as unknown as { maxFrameGap: number; requestAnimationFrame(cb: (t: number) => void): number };
      g.maxFrameGap = 0;
      let last = performance.now();
      const frame = (t: number) => {
        g.maxFrameGap = Math.max(g.maxFrameGap, t - last);
        last = t;
        g.requestAnimationFrame(frame);
      };
      g.requestAnimationFrame(frame);
    });
    const maxFrameGap = () => page.evaluate(() => (globalThis as unknown as { maxFrameGap: number }).maxFrameGap);
    await connect(page);
    await page.getByTestId('status-text').filter({ hasText: /^open/ }).waitFor();

    /** Sends `copies` of a text in one burst and waits for every echo. */
    const flood = async (copies: number) => {
      const expected = number(await page.getByTestId('count-in').innerText()) + copies;
      await page.getByTestId('draft-mode').selectOption('text');
      await page.getByTestId('composer').fill('{"n": 1, "payload": "abcdefghijklmnopqrstuvwxyz"}');
      await page.getByTestId('repeat').fill(String(copies));
      const started = Date.now();
      await page.getByTestId('send').click();
      await expect.poll(async () => number(await page.getByTestId('count-in').innerText()), { timeout: 60_000 }).toBe(expected);
      return Date.now() - started;
    };
    const kept = async () => number((await page.getByTestId('log-count').innerText()).split('kept')[0]!);

    // Default cap, 10,000: 100,000 messages (50,000 each way) pass through, 10,000 stay.
    const firstFloodMs = await flood(50_000);
    expect(await kept()).toBe(10_000);
    const heapAfter100k = await heap();
    await flood(10_000);
    expect(await kept()).toBe(10_000);
    const heapAfter120k = await heap();

    // A cap of 100,000 holds all of the next 100,000, still drawing only the rows in sight.
    await page.getByTestId('cap').selectOption('100000');
    await page.getByTestId('clear').click();
    await expect.poll(() => page.getByTestId('count-in').innerText()).toBe('0'); // repainted before counting on
    const bigFloodMs = await flood(50_000);
    expect(await kept()).toBe(100_000);
    const rows = await page.locator('.log-row').count();
    expect(rows).toBeLessThan(80);
    const heapAt100k = await heap();

    // Responsive: a search over 100,000 entries, and a jump to the middle of the log.
    let t = Date.now();
    await page.getByTestId('search').fill('no such message');
    await page.getByText('No message matches the filter.').waitFor();
    const searchMs = Date.now() - t;
    await page.getByTestId('search').fill('');
    await expect.poll(() => page.locator('.log-row').count()).toBeGreaterThan(10);
    t = Date.now();
    await page.getByTestId('log').evaluate((el) => (el.scrollTop = el.scrollHeight / 2));
    await page.locator('.log-row').nth(5).waitFor();
    await page.getByTestId('log').evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(undefined))));
    const scrollMs = Date.now() - t;
    const frameGap = await maxFrameGap();
    await page.screenshot({ path: join(ARTIFACTS, 'console-100k.png') });

    console.log(
      `console log figures: 100,000 messages through a 10,000 cap in ${firstFloodMs} ms; ` +
        `JS heap after 100k ${(heapAfter100k / 1e6).toFixed(1)} MB, after 120k ${(heapAfter120k / 1e6).toFixed(1)} MB; ` +
        `100,000 kept: ${(heapAt100k / 1e6).toFixed(1)} MB, flood ${bigFloodMs} ms, ${rows} rows in the DOM, ` +
        `search ${searchMs} ms, scroll to the middle ${scrollMs} ms, longest frame gap ${Math.round(frameGap)} ms`,
    );
    // Bounded: 20,000 more messages through the full ring left the heap where it was.
    expect(heapAfter120k).toBeLessThan(heapAfter100k * 1.25 + 4e6);
    expect(searchMs).toBeLessThan(1500);
    expect(scrollMs).toBeLessThan(1000);
    expect(pageErrors).toEqual([]);
  }, 150_000);
});
