/**
 * Issue 8's abuse limits over real sockets: inbound rate limits per connection (messages/s,
 * bytes/s; close 1008, drop, and Lifeline links throttled by TCP backpressure), connections
 * per client address (429 with Retry-After, X-Forwarded-For only when trusted, no leaked
 * counts). Every test checks that another client is still served normally afterwards.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createApp, DEFAULTS, type AppOptions, type DropInfo, type Socket } from '@lifeline/server';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { rawHttp, upgradeRequest } from '../../../test/support/raw-http.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { sleep, timerLateness, waitFor } from '../../../test/support/wait.js';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';

const cleanup = cleanupAfterEach();
let running: RunningApp | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** An app whose `/e` echoes raw messages and whose `/l` (Lifeline mode) echoes payloads; server-side sockets are recorded. */
async function start(options: AppOptions): Promise<{ app: RunningApp; sockets: Socket[]; closes: { code: number; reason: string }[] }> {
  const sockets: Socket[] = [];
  const closes: { code: number; reason: string }[] = [];
  const record = (s: Socket) => {
    sockets.push(s);
    s.on('close', (code, reason) => closes.push({ code, reason }));
    s.on('message', (m) => s.send(m));
  };
  running = await startApp((app) => {
    app.ws('/e', record);
    app.ws('/l', { lifeline: true }, record);
  }, options);
  return { app: running, sockets, closes };
}

async function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers });
  cleanup(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

function collect(ws: WebSocket): string[] {
  const got: string[] = [];
  ws.on('message', (data: Buffer) => got.push(data.toString()));
  return got;
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
}

/** A fresh raw client gets its echo: the server still serves others. */
async function othersServed(app: RunningApp, path = '/e'): Promise<void> {
  const ws = await open(app.wsUrl(path));
  const got = collect(ws);
  ws.send('still served');
  await waitFor(() => got.includes('still served'), 'an echo for another client', 10_000);
  ws.close();
}

async function lifelineClient(url: string): Promise<LifelineTestClient> {
  const c = new LifelineTestClient(url);
  cleanup(() => c.close());
  await c.connect();
  return c;
}

describe('inbound rate limits', () => {
  it('are on by default: a raw client over 1,000 messages/s (burst 2,000) is closed with 1008 naming the limit', async () => {
    expect(DEFAULTS.rateLimit).toMatchObject({ messagesPerSecond: 1000, bytesPerSecond: 2 * 1024 * 1024, action: 'close', burstSeconds: 2 });
    expect(DEFAULTS.maxConnectionsPerIp).toBe(1000);
    const { app, closes } = await start({});
    const ws = await open(app.wsUrl('/e'));
    const got = collect(ws);
    const closed = closeOf(ws);
    const from = Date.now();
    for (let i = 0; i < 3000; i++) ws.send(`m${i}`);
    expect(await closed).toEqual({ code: 1008, reason: 'rate limit: over 1000 messages/s' });
    const seconds = (Date.now() - from) / 1000;
    expect(got.length).toBeGreaterThanOrEqual(2000);
    // The burst, plus what refilled at 1,000/s while the 3,000 arrived (however long that took here).
    expect(got.length).toBeLessThanOrEqual(2000 + Math.ceil(1000 * seconds) + 1);
    expect(got.slice(0, 3)).toEqual(['m0', 'm1', 'm2']);
    await waitFor(() => closes.length === 1, 'the server-side close');
    expect(closes[0]).toEqual({ code: 1008, reason: 'rate limit: over 1000 messages/s' });
    await othersServed(app);
  });

  it('messages/s, action close: the burst passes, the next message closes with 1008; the handler and its close event see why', async () => {
    const { app, closes, sockets } = await start({ rateLimit: { messagesPerSecond: 10, messageBurst: 20 } });
    const ws = await open(app.wsUrl('/e'));
    const got = collect(ws);
    const closed = closeOf(ws);
    const from = Date.now();
    for (let i = 0; i < 50; i++) ws.send(String(i));
    expect(await closed).toEqual({ code: 1008, reason: 'rate limit: over 10 messages/s' });
    const seconds = (Date.now() - from) / 1000;
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => String(i)));
    expect(got.length).toBeGreaterThanOrEqual(20);
    expect(got.length).toBeLessThanOrEqual(20 + Math.ceil(10 * seconds) + 1); // plus what refilled while they arrived
    await waitFor(() => closes.length === 1, 'the server-side close');
    expect(closes[0]!.code).toBe(1008);
    expect(sockets[0]!.stats.messagesIn).toBe(got.length);
    await othersServed(app);
  });

  it('refills lazily from the clock: a client within its rate is never closed', async () => {
    const { app } = await start({ rateLimit: { messagesPerSecond: 50, messageBurst: 5 } });
    const ws = await open(app.wsUrl('/e'));
    const got = collect(ws);
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 5; i++) ws.send(`${round}.${i}`);
      await waitFor(() => got.length === (round + 1) * 5, `round ${round}`);
      await sleep(150); // 7.5 messages' worth of refill, capped at the burst of 5
    }
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
    await othersServed(app);
  });

  it('bytes/s, action close: over the byte burst closes with 1008 naming bytes/s', async () => {
    const { app, closes } = await start({ maxPayload: 1000, rateLimit: { bytesPerSecond: 1000, byteBurst: 2500 } });
    const ws = await open(app.wsUrl('/e'));
    const got = collect(ws);
    const closed = closeOf(ws);
    for (let i = 0; i < 4; i++) ws.send(String(i).repeat(1000)); // 2,500 bytes of burst: two pass
    expect(await closed).toEqual({ code: 1008, reason: 'rate limit: over 1000 bytes/s' });
    expect(got.map((m) => m[0])).toEqual(['0', '1']);
    await waitFor(() => closes.length === 1, 'the server-side close');
    expect(closes[0]).toEqual({ code: 1008, reason: 'rate limit: over 1000 bytes/s' });
    await othersServed(app);
  });

  it('action drop: messages over the limit are discarded, counted and reported; the rest are delivered and the connection lives on', async () => {
    const { app, sockets } = await start({ rateLimit: { messagesPerSecond: 20, messageBurst: 10, action: 'drop' } });
    const ws = await open(app.wsUrl('/e'));
    const got = collect(ws);
    await waitFor(() => sockets.length === 1, 'the handler');
    const drops: DropInfo[] = [];
    sockets[0]!.on('drop', (info) => drops.push(info));
    const from = Date.now();
    for (let i = 0; i < 30; i++) ws.send(`a${i}`);
    await waitFor(() => got.length + drops.length === 30, 'every message delivered or dropped');
    const seconds = (Date.now() - from) / 1000;
    expect(got.length).toBeGreaterThanOrEqual(10);
    expect(got.length).toBeLessThanOrEqual(10 + Math.ceil(20 * seconds) + 1); // plus what refilled while they arrived
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => `a${i}`)); // the first ones, in order
    expect(sockets[0]!.stats).toMatchObject({ rateLimited: drops.length, messagesIn: got.length, dropped: 0 });
    expect(drops[0]).toEqual({ reason: 'rate-limit', size: 3, limit: 'messages' });
    expect(ws.readyState).toBe(WebSocket.OPEN);
    // The bucket refills: later messages are delivered on the same connection.
    await sleep(300);
    ws.send('later');
    await waitFor(() => got.includes('later'), 'a message after the refill');
    expect(sockets[0]!.isOpen).toBe(true);
    ws.close();
    await othersServed(app);
  });

  it('action drop on bytes: the drop event names the byte limit', async () => {
    const { app, sockets } = await start({ maxPayload: 100, rateLimit: { bytesPerSecond: 100, byteBurst: 150, action: 'drop' } });
    const ws = await open(app.wsUrl('/e'));
    const got = collect(ws);
    await waitFor(() => sockets.length === 1, 'the handler');
    const drops: DropInfo[] = [];
    sockets[0]!.on('drop', (info) => drops.push(info));
    ws.send('x'.repeat(100));
    ws.send('y'.repeat(100));
    await waitFor(() => got.length === 1 && drops.length === 1, 'one echo, one drop');
    expect(drops).toEqual([{ reason: 'rate-limit', size: 100, limit: 'bytes' }]);
    expect(sockets[0]!.stats.rateLimited).toBe(1);
    await othersServed(app);
  });

  it('Lifeline mode: over the limit the link stops reading until it is within it (TCP backpressure): nothing lost, reordered or closed, whatever the action', async () => {
    for (const action of ['close', 'drop'] as const) {
      const { app, sockets } = await start({ rateLimit: { messagesPerSecond: 100, messageBurst: 20, action } });
      const client = await lifelineClient(app.wsUrl('/l'));
      const lateness = timerLateness();
      const started = Date.now();
      // 120 envelopes in one write: what TCP already delivered is processed (a numbered
      // envelope cannot be skipped), charged to the bucket as debt, and the link stops reading.
      const n = 120;
      for (let i = 1; i <= n; i++) client.send(i);
      await waitFor(() => client.messages.length === n, `${n} echoes`, 5000);
      // Meanwhile another client, raw or Lifeline, is served at once.
      const t = Date.now();
      await othersServed(app);
      const other = await lifelineClient(app.wsUrl('/l'));
      other.send('ping');
      await waitFor(() => other.messages.includes('ping'), 'the other session’s echo', 10_000);
      const servedIn = Date.now() - t;
      // The next envelope is read only once the debt is paid: about (120 − 20 + 10) envelopes at 100/s.
      client.send(n + 1);
      await waitFor(() => client.messages.length === n + 1, 'the echo after the pause', 10_000);
      const elapsed = Date.now() - started;
      const late = lateness.stop();
      // Served at once (not after the throttled link's second of debt), give or take how late
      // this loaded process ran its timers meanwhile.
      expect(servedIn, `timers ran up to ${Math.round(late)} ms late`).toBeLessThan(500 + 3 * late);
      expect(client.messages).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 1));
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed, `timers ran up to ${Math.round(late)} ms late`).toBeLessThan(5000 + 3 * late);
      expect(client.errors).toEqual([]);
      expect(client.ws?.readyState).toBe(WebSocket.OPEN);
      expect(sockets[0]!.closed).toBeNull();
      expect(sockets[0]!.isOpen).toBe(true);
      expect(sockets[0]!.stats.rateLimited).toBe(0);
      client.close();
      other.close();
      await running!.stop();
      running = undefined;
    }
  });

  it('validates: byteBurst below maxPayload, a route maxPayload over an explicit byteBurst, bad values — LL_INVALID_OPTION naming the option', () => {
    const bad = (options: AppOptions) => () => createApp({ logger: 'silent', ...options });
    expect(bad({ rateLimit: { byteBurst: 1000 } })).toThrow(/rateLimit\.byteBurst is 1000; expected at least maxPayload \(1048576\)/);
    expect(bad({ rateLimit: { byteBurst: 1000 } })).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION' }));
    expect(bad({ rateLimit: { messagesPerSecond: -1 } })).toThrow(/rateLimit\.messagesPerSecond/);
    expect(bad({ rateLimit: { messageBurst: 0 } })).toThrow(/rateLimit\.messageBurst/);
    expect(bad({ rateLimit: { action: 'throttle' as 'drop' } })).toThrow(/rateLimit\.action/);
    expect(bad({ maxConnectionsPerIp: 1.5 })).toThrow(/maxConnectionsPerIp/);
    expect(bad({ trustProxy: 'yes' as unknown as boolean })).toThrow(/trustProxy/);
    // Byte limit off: the burst does not matter.
    expect(() => createApp({ logger: 'silent', rateLimit: { bytesPerSecond: 0, byteBurst: 10 } })).not.toThrow();
    // A larger maxPayload raises the default byte burst (app-wide and per route) …
    expect(() => createApp({ logger: 'silent', maxPayload: 16 * 1024 * 1024 }).ws('/big', { maxPayload: 64 * 1024 * 1024 }, () => {})).not.toThrow();
    // … but not one the application chose.
    const app = createApp({ logger: 'silent', rateLimit: { byteBurst: 2 * 1024 * 1024 } });
    expect(() => app.ws('/big', { maxPayload: 4 * 1024 * 1024 }, () => {})).toThrow(/Route "\/big": maxPayload 4194304 is over rateLimit\.byteBurst/);
  });

  it('a route whose maxPayload is over the default byte burst still takes a message of that size', async () => {
    running = await startApp((app) => app.ws('/big', { maxPayload: 6 * 1024 * 1024 }, (s) => s.on('message', (m) => s.send(String(m.size)))));
    const ws = await open(running.wsUrl('/big'));
    const got = collect(ws);
    ws.send(Buffer.alloc(6 * 1024 * 1024));
    await waitFor(() => got.length === 1, 'the size back');
    expect(got).toEqual([String(6 * 1024 * 1024)]);
    ws.close();
  });

  it('rateLimit: false turns the limits off', async () => {
    const { app } = await start({ rateLimit: false });
    const ws = await open(app.wsUrl('/e'));
    const got = collect(ws);
    for (let i = 0; i < 5000; i++) ws.send('x');
    await waitFor(() => got.length === 5000, '5000 echoes');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });
});

describe('connections per client address', () => {
  it('the next upgrade over maxConnectionsPerIp is answered 429 with Retry-After; raw and Lifeline count; closed ones are given back', async () => {
    const { app } = await start({ maxConnectionsPerIp: 3 });
    const a = await open(app.wsUrl('/e'));
    const b = await open(app.wsUrl('/e'));
    const c = await lifelineClient(app.wsUrl('/l'));
    expect(app.app.connectionsFrom('127.0.0.1')).toBe(3);
    const refused = await rawHttp(app.port, upgradeRequest('/e', app.port));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('10');
    expect(refused.body).toBe('Too many connections from 127.0.0.1: at most 3 per address. Close some, or retry later.\n');
    expect(app.app.connectionsFrom('127.0.0.1')).toBe(3);
    // Plain HTTP is not a WebSocket connection and is not limited.
    expect((await fetch(app.httpUrl('/nothing'))).status).toBe(404);
    a.close();
    await waitFor(() => app.app.connectionsFrom('127.0.0.1') === 2, 'a slot given back');
    await othersServed(app);
    b.terminate();
    c.close();
    await waitFor(() => app.app.connectionsFrom('127.0.0.1') === 0, 'every slot given back');
  });

  it('no leaks: upgrades refused later (426, 400, 403), a Lifeline link without hello, terminated and server-closed connections all give their slot back', async () => {
    const { app } = await start({ maxConnectionsPerIp: 2, handshakeTimeout: 300, allowedOrigins: (origin) => origin !== 'https://evil.example' });
    // Refused after the address check: wrong version, offered subprotocol mismatch, Origin.
    expect((await rawHttp(app.port, upgradeRequest('/e', app.port, { 'Sec-WebSocket-Version': '8' }))).status).toBe(426);
    expect((await rawHttp(app.port, upgradeRequest('/e', app.port, { 'Sec-WebSocket-Key': 'short' }))).status).toBe(400);
    expect((await rawHttp(app.port, upgradeRequest('/e', app.port, { Origin: 'https://evil.example' }))).status).toBe(403);
    await waitFor(() => app.app.connectionsFrom('127.0.0.1') === 0, 'refused upgrades given back');
    // A Lifeline connection that never says hello is closed by the server (1008).
    const silent = new LifelineTestClient(app.wsUrl('/l'));
    cleanup(() => silent.close());
    await silent.connect({ hello: false });
    expect(app.app.connectionsFrom('127.0.0.1')).toBe(1);
    expect((await silent.closed()).code).toBe(1008);
    // One the client cuts.
    const cut = await open(app.wsUrl('/e'));
    cut.terminate();
    await waitFor(() => app.app.connectionsFrom('127.0.0.1') === 0, 'slots given back');
    // Still two slots: two connections open, a third is refused.
    const x = await open(app.wsUrl('/e'));
    const y = await lifelineClient(app.wsUrl('/l'));
    expect((await rawHttp(app.port, upgradeRequest('/l', app.port))).status).toBe(429);
    x.close();
    y.close();
    await waitFor(() => app.app.connectionsFrom('127.0.0.1') === 0, 'every slot given back');
    await othersServed(app);
  });

  it('a connection closed for its rate gives its slot back too', async () => {
    const { app } = await start({ maxConnectionsPerIp: 1, rateLimit: { messagesPerSecond: 1, messageBurst: 1 } });
    const ws = await open(app.wsUrl('/e'));
    const closed = closeOf(ws);
    ws.send('1');
    ws.send('2');
    expect((await closed).code).toBe(1008);
    await waitFor(() => app.app.connectionsFrom('127.0.0.1') === 0, 'the slot given back');
    await othersServed(app);
  });

  it('X-Forwarded-For is ignored unless trustProxy: every client behind one proxy shares its address', async () => {
    const { app } = await start({ maxConnectionsPerIp: 1 });
    await open(app.wsUrl('/e'), { 'X-Forwarded-For': '203.0.113.7' });
    const second = await rawHttp(app.port, upgradeRequest('/e', app.port, { 'X-Forwarded-For': '203.0.113.8' }));
    expect(second.status).toBe(429);
    expect(second.body).toContain('from 127.0.0.1');
    expect(app.app.connectionsFrom('203.0.113.7')).toBe(0);
  });

  it('with trustProxy, the client is the entry the proxy appended (the rightmost, or n-th from the right with n proxies); spoofed entries to its left prove nothing', async () => {
    const { app } = await start({ maxConnectionsPerIp: 1, trustProxy: true });
    const first = await open(app.wsUrl('/e'), { 'X-Forwarded-For': '203.0.113.7' });
    expect(app.app.connectionsFrom('203.0.113.7')).toBe(1);
    expect(app.app.connectionsFrom('127.0.0.1')).toBe(0);
    const again = await rawHttp(app.port, upgradeRequest('/e', app.port, { 'X-Forwarded-For': '203.0.113.7' }));
    expect(again.status).toBe(429);
    expect(again.body).toContain('from 203.0.113.7');
    // A client that writes its own X-Forwarded-For cannot pose as someone else: the proxy appends the real address.
    const spoofed = await rawHttp(app.port, upgradeRequest('/e', app.port, { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7' }));
    expect(spoofed.status).toBe(429);
    // Another client behind the same proxy has its own count.
    const other = await open(app.wsUrl('/e'), { 'X-Forwarded-For': '203.0.113.9:41234' });
    const got = collect(other);
    other.send('hi');
    await waitFor(() => got.includes('hi'), 'the other client served');
    expect(app.app.connectionsFrom('203.0.113.9')).toBe(1);
    first.close();
    other.close();
    await waitFor(() => app.app.connectionsFrom('203.0.113.7') + app.app.connectionsFrom('203.0.113.9') === 0, 'slots given back');
    await running!.stop();

    // Two proxies (a CDN, then a load balancer): the client is second from the right.
    const two = await start({ maxConnectionsPerIp: 1, trustProxy: 2 });
    await open(two.app.wsUrl('/e'), { 'X-Forwarded-For': '10.9.9.9, 203.0.113.7, 192.0.2.1' });
    expect(two.app.app.connectionsFrom('203.0.113.7')).toBe(1);
    await othersServed(two.app);
  });

  it('clientAddress(request) decides first; IPv6 clients count per /64', async () => {
    const { app } = await start({ maxConnectionsPerIp: 1, clientAddress: (request) => request.headers['x-client-ip'] as string | undefined });
    await open(app.wsUrl('/e'), { 'X-Client-IP': '2001:db8:1:2::1' });
    expect(app.app.connectionsFrom('2001:db8:1:2:ffff::9')).toBe(1);
    const sameNet = await rawHttp(app.port, upgradeRequest('/e', app.port, { 'X-Client-IP': '2001:db8:1:2:aaaa:bbbb:cccc:dddd' }));
    expect(sameNet.status).toBe(429);
    await open(app.wsUrl('/e'), { 'X-Client-IP': '2001:db8:1:3::1' }); // another /64
    await open(app.wsUrl('/e'), { 'X-Client-IP': '::ffff:192.0.2.5' });
    expect(app.app.connectionsFrom('192.0.2.5')).toBe(1);
    await othersServed(app); // no header: the TCP peer, 127.0.0.1
  });

  it('maxConnectionsPerIp: 0 turns the limit off', async () => {
    const { app } = await start({ maxConnectionsPerIp: 0 });
    const sockets = await Promise.all(Array.from({ length: 5 }, () => open(app.wsUrl('/e'))));
    expect(app.app.connectionsFrom('127.0.0.1')).toBe(0); // not counted at all
    for (const ws of sockets) ws.close();
    await othersServed(app);
  });

  it('attach() to a server of your own applies the same limit', async () => {
    const { createServer } = await import('node:http');
    const server = createServer();
    const app = createApp({ logger: 'silent', maxConnectionsPerIp: 1 }).ws('/e', (s) => s.on('message', (m) => s.send(m)));
    app.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup(async () => {
      await app.shutdown({ drainTimeout: 500, retryWindow: 0 });
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    const ws = await open(`ws://127.0.0.1:${port}/e`);
    expect((await rawHttp(port, upgradeRequest('/e', port))).status).toBe(429);
    ws.close();
    await waitFor(() => app.connectionsFrom('127.0.0.1') === 0, 'the slot given back');
    const again = await open(`ws://127.0.0.1:${port}/e`);
    again.close();
  });
});
