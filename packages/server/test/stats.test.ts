import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppStats } from '@lifeline/server';
import { checkStatsAccess, isLoopbackBind } from '../src/stats.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { sleep, waitFor } from '../../../test/support/wait.js';

let running: RunningApp | undefined;
let plain: Server | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await new Promise<void>((resolve) => (plain ? plain.close(() => resolve()) : resolve()));
  plain?.closeAllConnections();
  plain = undefined;
});

const TOKEN = 'correct-horse-battery-staple';

function echoApp(options: { token?: string } = {}) {
  return startApp((app) => {
    app.ws('/echo', { lifeline: true }, (socket) => socket.on('message', (m) => socket.send(m)));
    app.ws('/quiet', () => {});
    app.statsEndpoint(options.token ? { token: options.token } : {});
  });
}

async function getStats(url: string, headers: Record<string, string> = {}): Promise<AppStats> {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as AppStats;
}

describe('isLoopbackBind', () => {
  it('knows 127.0.0.0/8, ::1, IPv4-mapped loopback and local sockets', () => {
    for (const address of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '/tmp/lifeline.sock', '\\\\.\\pipe\\x']) {
      expect(isLoopbackBind(address), address).toBe(true);
    }
    for (const address of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', '128.0.0.1', 'fe80::1', null]) {
      expect(isLoopbackBind(address), String(address)).toBe(false);
    }
  });
});

describe('checkStatsAccess', () => {
  it('without a token: open on a loopback bind, 403 with what to do on any other bind or an unknown one', () => {
    expect(checkStatsAccess(undefined, undefined, ['127.0.0.1'])).toEqual({ ok: true, byToken: false });
    expect(checkStatsAccess(undefined, undefined, ['::1', '127.0.0.1'])).toEqual({ ok: true, byToken: false });
    for (const binds of [['0.0.0.0'], ['::'], ['127.0.0.1', '10.1.2.3'], [], [null]]) {
      const access = checkStatsAccess(undefined, undefined, binds);
      expect(access.ok, JSON.stringify(binds)).toBe(false);
      if (!access.ok) {
        expect(access.status).toBe(403);
        expect(access.message).toMatch(/--admin-token/);
        expect(access.message).toMatch(/LIFELINE_ADMIN_TOKEN/);
      }
    }
  });

  it('with a token: required on every bind, loopback too; compared whole, never echoed', () => {
    for (const binds of [['0.0.0.0'], ['127.0.0.1']]) {
      expect(checkStatsAccess(`Bearer ${TOKEN}`, TOKEN, binds)).toEqual({ ok: true, byToken: true });
      expect(checkStatsAccess(`bearer   ${TOKEN}`, TOKEN, binds).ok).toBe(true);
      for (const header of [undefined, '', 'Bearer', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, 'Bearer x']) {
        const access = checkStatsAccess(header, TOKEN, binds);
        expect(access.ok, String(header)).toBe(false);
        if (!access.ok) {
          expect(access.status).toBe(401);
          expect(access.message).not.toContain(TOKEN);
        }
      }
    }
  });
});

describe('GET /api/stats', () => {
  it('counts connections by route, Lifeline sessions, messages and bytes, and lists the routes', async () => {
    running = await echoApp();
    const before = await getStats(running.httpUrl('/api/stats'));
    expect(before.connections).toEqual({ total: 0, max: 50_000, byRoute: [] });
    expect(before.sessions).toEqual({ live: 0, connected: 0, waiting: 0 });
    expect(before.totals).toEqual({ messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 });
    expect(before.routes.ws).toEqual([
      { path: '/echo', lifeline: true },
      { path: '/quiet', lifeline: false },
    ]);
    expect(before.routes.http).toEqual([{ path: '/api/stats', methods: ['GET', 'HEAD', 'OPTIONS'] }]);
    expect(before.channels).toEqual([]);
    expect(before.fanOut).toMatchObject({ publications: 0, deliveries: 0 });
    expect(before.uptimeMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(before.startedAt)).toBeLessThanOrEqual(Date.now());

    const raw = new WebSocket(running.wsUrl('/echo'));
    const quiet = new WebSocket(running.wsUrl('/quiet'));
    await Promise.all([once(raw, 'open'), once(quiet, 'open')]);
    const echoed: string[] = [];
    raw.on('message', (d: Buffer) => echoed.push(d.toString()));
    for (let i = 0; i < 10; i++) raw.send(`message ${i}`);
    await waitFor(() => echoed.length === 10, 'echoes');
    const session = new LifelineTestClient(running.wsUrl('/echo'));
    await session.connect();
    session.send({ n: 1 });
    await waitFor(() => session.messages.length === 1, 'lifeline echo');

    const during = await getStats(running.httpUrl('/api/stats'));
    expect(during.connections.total).toBe(3);
    expect(during.connections.byRoute).toEqual(
      expect.arrayContaining([
        { route: '/echo', raw: 1, lifeline: 1, waiting: 0 },
        { route: '/quiet', raw: 1, lifeline: 0, waiting: 0 },
      ]),
    );
    expect(during.sessions).toEqual({ live: 1, connected: 1, waiting: 0 });
    expect(during.channels).toEqual([]);
    await session.request('$subscribe', { ch: 'news' });
    const subscribed = await getStats(running.httpUrl('/api/stats'));
    expect(subscribed.channels).toEqual([{ channel: 'news', subscribers: 1 }]);
    expect(during.totals.messagesIn).toBe(11);
    expect(during.totals.messagesOut).toBe(11);
    expect(during.totals.bytesIn).toBeGreaterThan(10 * 'message 0'.length);
    expect(during.totals.bytesOut).toBeGreaterThan(10 * 'message 0'.length);

    // The Lifeline connection drops: the session waits to be resumed.
    session.drop();
    raw.close();
    quiet.close();
    await waitFor(async () => (await getStats(running!.httpUrl('/api/stats'))).connections.total === 0, 'closes', 5000, 50);
    const after = await getStats(running.httpUrl('/api/stats'));
    expect(after.sessions).toEqual({ live: 1, connected: 0, waiting: 1 });
    expect(after.connections.byRoute).toEqual([{ route: '/echo', raw: 0, lifeline: 0, waiting: 1 }]);
    // Closed connections keep their counts in the totals.
    expect(after.totals.messagesIn).toBe(11);
    expect(after.totals.messagesOut).toBe(11);
    expect(after.totals.bytesIn).toBeGreaterThanOrEqual(during.totals.bytesIn);
  });

  it('reports per-second rates over the last seconds', async () => {
    const opened = Date.now();
    running = await echoApp(); // the rates' baseline is taken in here
    const started = Date.now();
    const ws = new WebSocket(running.wsUrl('/echo'));
    await once(ws, 'open');
    const asked = Date.now();
    const first = await getStats(running.httpUrl('/api/stats'));
    const answered = Date.now();
    // No rate before a second of history; one after (a loaded machine may take that long to get here).
    const possible = answered - opened < 1000 ? [null] : asked - started >= 1000 ? ['a rate'] : [null, 'a rate'];
    expect(possible).toContain(first.rates === null ? null : 'a rate');
    let got = 0;
    ws.on('message', () => got++);
    // 50 messages a second for 1.5 s: about 50/s each way.
    for (let i = 0; i < 15; i++) {
      for (let j = 0; j < 5; j++) ws.send('x');
      await sleep(100);
    }
    await waitFor(() => got === 75, 'echoes');
    const stats = await getStats(running.httpUrl('/api/stats'));
    // Averaged over at least a second and at most the last 5 s plus a sample (1 s), and it counts
    // what happened in it: some of the 75 messages, never more per second than 75 over the window.
    expect(stats.rates!.windowMs).toBeGreaterThanOrEqual(1000);
    expect(stats.rates!.windowMs).toBeLessThanOrEqual(Date.now() - opened);
    expect(stats.rates!.messagesIn).toBeGreaterThan(0);
    expect(stats.rates!.messagesIn).toBeLessThanOrEqual(Math.ceil((75 * 1000) / stats.rates!.windowMs));
    expect(stats.rates!.messagesOut).toBe(stats.rates!.messagesIn);
    expect(stats.rates!.bytesIn).toBeGreaterThan(stats.rates!.messagesIn);
    ws.close();
  });

  it('with a token: 401 without it or with a wrong one, 200 with it; CORS only for a token holder', async () => {
    running = await echoApp({ token: TOKEN });
    const url = running.httpUrl('/api/stats');
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await none.text()).toMatch(/Authorization: Bearer/);
    const wrong = await fetch(url, { headers: { Authorization: 'Bearer not-the-token' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain(TOKEN);

    const origin = 'http://127.0.0.1:1';
    const preflight = await fetch(url, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Headers': 'authorization' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toBe('Authorization');
    const ok = await fetch(url, { headers: { Authorization: `Bearer ${TOKEN}`, Origin: origin } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(origin);
    expect(((await ok.json()) as AppStats).routes.ws.length).toBe(2);
  });

  it('without a token, a loopback server shows its stats only to its own origin; a page of another origin reads why not', async () => {
    running = await echoApp();
    const own = await fetch(running.httpUrl('/api/stats'), { headers: { Origin: `http://127.0.0.1:${running.port}` } });
    expect(own.status).toBe(200);
    expect(own.headers.get('access-control-allow-origin')).toBeNull();
    const foreign = await fetch(running.httpUrl('/api/stats'), { headers: { Origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    // The refusal, not the stats, is readable by that page: it can tell a Lifeline server that refuses from no server at all.
    expect(foreign.headers.get('access-control-allow-origin')).toBe('http://evil.example');
    const text = await foreign.text();
    expect(text).toMatch(/only to its own pages .* admin token/);
    expect(text).not.toMatch(/connections/);
  });

  it('with a token, a refusal is readable by a page of another origin (so it can ask for the token)', async () => {
    running = await echoApp({ token: TOKEN });
    const res = await fetch(running.httpUrl('/api/stats'), { headers: { Origin: 'http://127.0.0.1:1' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:1');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('without a token, an app that cannot tell its bind address (middleware only) answers 403', async () => {
    const app = createApp({ logger: 'silent' });
    app.statsEndpoint();
    plain = createServer((req, res) => {
      if (!app.handleRequest(req, res)) res.end('not the app');
    });
    await new Promise<void>((resolve) => plain!.listen(0, '127.0.0.1', resolve));
    const res = await fetch(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/api/stats`);
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/not bound to a loopback address only, and no admin token is set/);
    // Attached, it knows it is on loopback.
    app.attach(plain);
    expect((await fetch(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/api/stats`)).status).toBe(200);
    app.detach(plain);
  });

  it('refuses a short token without repeating it, and app.stats() works without the endpoint', () => {
    const app = createApp({ logger: 'silent' });
    expect(() => app.statsEndpoint({ token: 'abc' })).toThrow(/at least 8 printable/);
    expect(() => app.statsEndpoint({ token: 'has spaces in it' })).toThrow(/without spaces/);
    let refusal: unknown;
    try {
      app.statsEndpoint({ token: 'secret1' });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toMatch(/at least 8 printable/);
    expect((refusal as Error).message).not.toContain('secret1');
    const stats = createApp({ logger: 'silent' }).stats();
    expect(stats.connections.total).toBe(0);
    expect(stats.rates).toBeNull(); // one sample only
  });
});
