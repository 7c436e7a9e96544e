import { once } from 'node:events';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildBrowserScript } from '../../../test/support/browser-bundle.js';
import { spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';
import { launchCdpChromium, type CdpBrowser, type CdpPage } from './cdp.js';
import { startPageSite } from './helpers.js';

/**
 * @lifeline/client's browser bundle (esbuild of the package's browser entry, as an app's
 * bundler would build it) in real headless Chromium against `lifeline serve`: a server
 * restart, an offline period, a hidden tab, the back/forward cache.
 */


const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lifeline client test page</title>
<script src="/lifeline-client.js"></script></head>
<body><p id="status">loading</p>
<script>
// ?ws=URL&opts=JSON : one client, every event recorded in window.rec for the test to read.
const q = new URLSearchParams(location.search);
const rec = (window.rec = { states: [], messages: [], closes: [], errors: [], heartbeats: [], vis: [], events: [], sent: [] });
// One counter orders what the page sent and its visibility changes: "at once" is "in the same task".
let seq = 0;
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  rec.sent.push({ data: typeof data === 'string' ? data : '(binary)', seq: ++seq, at: Date.now() });
  return send.call(this, data);
};
const client = (window.client = Lifeline.createClient(q.get('ws'), JSON.parse(q.get('opts') || '{}')));
rec.states.push({ status: client.state.status, at: Date.now() });
client.on('state', (s) => {
  rec.states.push({ status: s.status, attempt: s.attempt, waitingFor: s.waitingFor, at: Date.now(), vis: document.visibilityState });
  document.getElementById('status').textContent = s.status;
});
client.on('message', (m) => rec.messages.push(m.error ? { error: m.error.code, text: m.text } : { data: m.data, at: Date.now() }));
client.on('close', (c) => rec.closes.push(c));
client.on('error', (e) => rec.errors.push(e.code));
client.on('heartbeat', (rtt) => rec.heartbeats.push({ rtt, at: Date.now(), vis: document.visibilityState }));
// The dispatch of visibilitychange, from its first listener (window, capturing) to its last
// (window, as it bubbles): what the client does in between, it does in that task.
addEventListener('visibilitychange', () => rec.vis.push({ state: document.visibilityState, at: Date.now(), seq: ++seq }), true);
addEventListener('visibilitychange', () => (rec.vis.at(-1).endSeq = ++seq));
for (const type of ['online', 'offline', 'pagehide', 'pageshow']) {
  addEventListener(type, (e) => rec.events.push({ type, persisted: e.persisted, at: Date.now() }));
}
</script></body></html>`;

interface Rec {
  states: { status: string; attempt?: number; waitingFor?: string; at: number; vis?: string }[];
  messages: { data?: unknown; error?: string; text?: string; at?: number }[];
  closes: { code: number; reason: string; action: string; at: number }[];
  errors: string[];
  heartbeats: { rtt: number; at: number; vis: string }[];
  vis: { state: string; at: number; seq: number; endSeq: number }[];
  events: { type: string; persisted?: boolean; at: number }[];
  sent: { data: string; seq: number; at: number }[];
}

let browser: CdpBrowser | undefined;
let site: Awaited<ReturnType<typeof startPageSite>> | undefined;
let bundleBytes = 0;
const serves = new Set<ServeProcess>();
const relays = new Set<Relay>();

beforeAll(async () => {
  const bundle = await buildBrowserScript("export * from '@lifeline/client';");
  const code = bundle.code;
  bundleBytes = code.length;
  // The browser entry must not reach ws or anything of Node's.
  expect(bundle.inputs.filter((input) => /node_modules\/ws\/|websocket-node/.test(input))).toEqual([]);
  site = await startPageSite(PAGE, { path: '/lifeline-client.js', code });
  browser = await launchCdpChromium();
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  for (const s of serves) await stopProcess(s);
  for (const r of relays) await r.close();
});

async function serve(args: string[] = []): Promise<ServeProcess> {
  const s = await spawnServe(args);
  serves.add(s);
  return s;
}

async function openPage(ws: string, opts: object): Promise<CdpPage> {
  const url = `http://127.0.0.1:${site!.port}/?ws=${encodeURIComponent(ws)}&opts=${encodeURIComponent(JSON.stringify(opts))}`;
  return browser!.newPage(url);
}

const recOf = (page: CdpPage) => page.evaluate<Rec>('window.rec');
const statusOf = (page: CdpPage) => page.evaluate<string>('client.state.status');

async function waitForRec(page: CdpPage, ready: (rec: Rec) => boolean, what: string, timeoutMs = 5000): Promise<Rec> {
  let last: Rec | undefined;
  await waitFor(async () => ready((last = await recOf(page))), what, timeoutMs, 50);
  return last!;
}

/**
 * A TCP relay in front of the server: the page's "network". `unplug()` makes it a black
 * hole (bytes in either direction vanish, nothing closes: what a dead Wi-Fi looks like
 * to TCP); `plug()` brings it back and resets the connections that died meanwhile.
 */
interface Relay {
  port: number;
  accepted: number;
  unplug(): void;
  plug(): void;
  close(): Promise<void>;
}

async function startRelay(targetPort: number): Promise<Relay> {
  let unplugged = false;
  const live = new Set<{ client: Socket; upstream: Socket; dead: boolean }>();
  const server: NetServer = createNetServer((client) => {
    relay.accepted++;
    const conn = { client, upstream: connect(targetPort, '127.0.0.1'), dead: unplugged };
    live.add(conn);
    const end = () => {
      live.delete(conn);
      conn.client.destroy();
      conn.upstream.destroy();
    };
    client.on('data', (d) => !conn.dead && !unplugged && conn.upstream.write(d));
    conn.upstream.on('data', (d) => !conn.dead && !unplugged && client.write(d));
    for (const s of [client, conn.upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const relay: Relay = {
    port: (server.address() as AddressInfo).port,
    accepted: 0,
    unplug() {
      unplugged = true;
      for (const c of live) c.dead = true;
    },
    plug() {
      unplugged = false;
      for (const c of live) if (c.dead) c.client.resetAndDestroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of live) c.client.destroy();
        server.close(() => resolve());
      }),
  };
  relays.add(relay);
  return relay;
}

describe('headless Chromium, browser bundle', () => {
  test('the page survives a lifeline serve restart (SIGKILL, same port): reconnects and flushes its outbox in order', async () => {
    expect(bundleBytes).toBeGreaterThan(1000);
    const first = await serve();
    const page = await openPage(first.wsUrl('/echo'), { reconnect: { initialDelay: 200, maxDelay: 1000 } });
    await waitFor(async () => (await statusOf(page)) === 'open', 'the page to connect');
    first.signal('SIGKILL');
    await first.exited;
    await waitFor(async () => (await statusOf(page)) === 'reconnecting', 'the page to notice');
    await page.evaluate(`for (let i = 0; i < 20; i++) client.send('while-down-' + i); client.queued`);
    await waitForRec(page, (r) => r.states.filter((s) => s.status === 'connecting').length >= 3, 'a refused attempt', 15_000);
    await serve(['--port', String(first.port)]);
    const rec = await waitForRec(page, (r) => r.messages.length === 20, 'the queued messages echoed', 10_000);
    expect(rec.messages.map((m) => m.data)).toEqual(Array.from({ length: 20 }, (_, i) => `while-down-${i}`));
    expect(rec.closes[0]).toMatchObject({ code: 1006, action: 'retry' });
    expect(rec.states.filter((s) => s.status === 'connecting').length).toBeGreaterThanOrEqual(2);
    await page.close();
  });

  test('an offline period (DevTools offline emulation + a black-holed network): heartbeat detects it, no attempts while offline, reconnect at once on "online"', async () => {
    const server = await serve();
    const relay = await startRelay(server.port);
    const page = await openPage(`ws://127.0.0.1:${relay.port}/echo`, {
      heartbeat: { message: 'hb', reply: 'hb', interval: 300, timeout: 700 },
      // A long backoff: a quick reconnect can only come from the online event.
      reconnect: { initialDelay: 30_000, maxDelay: 30_000 },
    });
    await waitForRec(page, (r) => r.heartbeats.length >= 2, 'two heartbeats');
    const acceptedBefore = relay.accepted;

    // Offline: DevTools network emulation sets navigator.onLine = false, fires "offline" and
    // fails new connections, but (Chromium 156, crbug.com/563644) leaves an open WebSocket
    // untouched: frames still flow. So the network itself is cut too, by the relay.
    relay.unplug();
    await page.send('Network.enable');
    await page.send('Network.emulateNetworkConditions', { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    const offlineAt = Date.now();
    let rec = await waitForRec(page, (r) => r.errors.includes('LL_HEARTBEAT_TIMEOUT'), 'the heartbeat to declare the link dead', 15_000);
    expect(rec.events.some((e) => e.type === 'offline')).toBe(true);
    expect(await page.evaluate('navigator.onLine')).toBe(false);
    rec = await waitForRec(page, (r) => r.states.at(-1)?.status === 'reconnecting', 'reconnecting');
    expect(rec.states.at(-1)!.waitingFor).toBe('online');
    await page.evaluate(`client.send('sent offline 1'); client.send('sent offline 2'); true`);
    const connectingBefore = rec.states.filter((s) => s.status === 'connecting').length;
    // Two seconds by the page's own timers: any timer the client had set within them has run.
    await page.evaluate('new Promise((resolve) => setTimeout(() => resolve(true), 2000))');
    rec = await recOf(page);
    // No spinning: not one attempt while the browser says it is offline.
    expect(rec.states.filter((s) => s.status === 'connecting').length).toBe(connectingBefore);
    expect(relay.accepted).toBe(acceptedBefore);
    expect(rec.states.at(-1)).toMatchObject({ status: 'reconnecting', waitingFor: 'online' });

    relay.plug();
    await page.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    const onlineAt = Date.now();
    rec = await waitForRec(page, (r) => r.messages.filter((m) => String(m.data).startsWith('sent offline')).length === 2, 'the outbox after online', 15_000);
    const reopened = rec.states.filter((s) => s.status === 'open').at(-1)!;
    expect(reopened.at - onlineAt).toBeLessThan(10_000); // not 30 s of backoff
    expect(rec.messages.filter((m) => String(m.data).startsWith('sent offline')).map((m) => m.data)).toEqual(['sent offline 1', 'sent offline 2']);
    expect(rec.events.some((e) => e.type === 'online')).toBe(true);
    expect(onlineAt - offlineAt).toBeGreaterThan(2000);
    await page.close();
  });

  test('a hidden tab (really hidden: timers throttled) keeps its heartbeat without a false disconnect, and probes at once when visible', async () => {
    const server = await serve();
    const page = await openPage(server.wsUrl('/test'), {
      codec: 'json',
      heartbeat: { message: 'heartCheck', reply: JSON.stringify('heartCheck'), interval: 300, timeout: 1000 },
    });
    await waitForRec(page, (r) => r.heartbeats.length >= 3, 'three heartbeats while visible');
    // Another tab in front: this one becomes hidden.
    const other = await browser!.newPage(`http://127.0.0.1:${site!.port}/other`);
    let rec = await waitForRec(page, (r) => r.vis.at(-1)?.state === 'hidden', 'the page to be hidden');
    expect(await page.evaluate('document.visibilityState')).toBe('hidden');
    const hiddenAt = rec.vis.at(-1)!.at;
    rec = await waitForRec(page, (r) => r.heartbeats.filter((h) => h.at > hiddenAt + 1000).length >= 3, 'three heartbeats while hidden', 30_000);
    const hiddenBeats = rec.heartbeats.filter((h) => h.at > hiddenAt + 1000);
    // Heartbeats go on while hidden, at Chromium's throttled pace (about one wake-up per
    // second instead of every 300 ms) ...
    expect(hiddenBeats.length).toBeGreaterThanOrEqual(3);
    expect(hiddenBeats.every((h) => h.vis === 'hidden')).toBe(true);
    // (Judged on when the probes went out, from throttled timers; an answer's arrival also
    // depends on how fast a loaded server and machine answer.)
    const hiddenProbes = rec.sent.filter((m) => m.data === 'heartCheck' && m.at > hiddenAt + 1000 && m.at <= hiddenBeats.at(-1)!.at);
    expect(hiddenProbes.length).toBeGreaterThanOrEqual(2);
    const gaps = hiddenProbes.slice(1).map((m, i) => m.at - hiddenProbes[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThan(600);
    // ... and never end in a false disconnect.
    expect(rec.closes).toEqual([]);
    expect(rec.errors).toEqual([]);
    expect(rec.states.at(-1)!.status).toBe('open');

    // Visible again: the client probes at once instead of waiting for its timer.
    await other.close();
    await browser!.send('Target.activateTarget', { targetId: page.targetId });
    rec = await waitForRec(page, (r) => r.vis.at(-1)?.state === 'visible', 'the page to be visible', 15_000);
    const visible = rec.vis.at(-1)!;
    rec = await waitForRec(page, (r) => r.heartbeats.some((h) => h.at >= visible.at), 'a heartbeat after becoming visible', 15_000);
    // The probe went out while visibilitychange was being dispatched, not from a timer.
    const probe = rec.sent.find((m) => m.data === 'heartCheck' && m.seq > visible.seq && m.seq < visible.endSeq);
    expect(probe, JSON.stringify({ visible, sent: rec.sent.slice(-5) })).toBeDefined();
    expect(rec.closes).toEqual([]);
    await page.close();
  });

  test('back/forward cache: closed on pagehide, restored from the cache, reconnected on pageshow', async () => {
    const server = await serve(['--log-level', 'info']);
    const page = await openPage(server.wsUrl('/echo'), {});
    await waitFor(async () => (await statusOf(page)) === 'open', 'the page to connect');
    const eventsBefore = browser!.events.length;
    await page.send('Page.navigate', { url: `http://127.0.0.1:${site!.port}/other` });
    await waitFor(
      () => browser!.events.slice(eventsBefore).some((e) => e.method === 'Page.loadEventFired' && e.sessionId === page.sessionId),
      'the other page to load',
      5000,
    );
    await waitFor(
      () => server.stderr.some((line) => line.includes('"event":"close"') && line.includes('page hidden')),
      'the server to see the pagehide close',
      5000,
    );
    // Back, as the browser's back button does (retried while the session settles on the
    // new document after the navigation).
    await waitFor(
      () => page.evaluate('history.back(), true').catch(() => false),
      'history.back() in the other page',
      5000,
      100,
    );
    const rec = await waitForRec(page, (r) => r.events.some((e) => e.type === 'pageshow' && e.persisted), 'a pageshow from the cache', 5000);
    // Restored with its JavaScript state: the same client, waiting for pageshow, now back.
    await waitFor(async () => (await statusOf(page)) === 'open', 'the restored page to reconnect', 5000);
    const after = await recOf(page);
    const waits = after.states.filter((s) => s.status === 'reconnecting');
    expect(waits.at(-1)!.waitingFor).toBe('pageshow');
    expect(after.states.at(-1)!.status).toBe('open');
    expect(rec.events.filter((e) => e.type === 'pagehide').map((e) => e.persisted)).toEqual([true]);
    const close = server.stderr
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { event: string; code?: number; reason?: string })
      .find((l) => l.event === 'close');
    expect(close).toMatchObject({ code: 1000, reason: 'page hidden' });
    await page.close();
  });
});
