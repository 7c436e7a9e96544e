import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { HandshakeOutcome } from '@lifeline/protocol';
import type { HandshakeReport } from '@lifeline/server';
import { serverTestRig } from '../../../test/support/rig.js';
import { closedPort, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const { startApp, cleanup } = serverTestRig();

/**
 * `app.handshakeCheckEndpoint()`: one real handshake per request, against real servers on
 * 127.0.0.1 (a Lifeline app on another port, bare `ws` and `net` servers), and every rule
 * that keeps it from being a general-purpose request forwarder.
 */

const TOKEN = 'correct-horse-battery-staple';

async function checker(options: Parameters<RunningApp['app']['handshakeCheckEndpoint']>[0] = {}): Promise<RunningApp> {
  return startApp((app) => app.handshakeCheckEndpoint(options));
}

/** The target: a Lifeline app with a WebSocket route of each kind. */
async function target(): Promise<RunningApp> {
  const running = await startApp(
    (app) => {
      app.ws('/raw', (socket) => socket.on('message', (m) => socket.send(m)));
      app.ws('/chat', { protocols: ['chat.v2'] }, () => {});
      app.ws('/lifeline', { lifeline: true }, () => {});
      app.ws('/private', { auth: { verify: () => false } }, () => {});
    },
    { allowedOrigins: (origin) => origin !== 'http://127.0.0.1:1' },
  );
  return running;
}

type Ask = { url: string; protocols?: string[] };

/** POSTs to the check through node:http (fetch would not let a test set Host); the answer's JSON, or its text. */
function ask(running: RunningApp, body: Ask | string, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown; headers: IncomingMessage['headers'] }> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(running.httpUrl('/api/handshake-check'), { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, json: /json/.test(res.headers['content-type'] ?? '') ? JSON.parse(text) : text, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function outcome(running: RunningApp, body: Ask, headers: Record<string, string> = {}): Promise<HandshakeOutcome> {
  const { status, json } = await ask(running, body, headers);
  expect(status, JSON.stringify(json)).toBe(200);
  return (json as HandshakeReport).outcome;
}

async function listen<T extends Server | TcpServer>(server: T): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup(
    () =>
      new Promise<void>((resolve) => {
        (server as Server).closeAllConnections?.();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

describe('what the handshake check reports', () => {
  it('against a Lifeline server on another port: 404, 400 for a subprotocol it does not speak, 403 for the Origin, 401, and 101 with the subprotocol', async () => {
    const [check, lifeline] = await Promise.all([checker(), target()]);
    const notFound = await outcome(check, { url: lifeline.wsUrl('/nope') });
    expect(notFound).toEqual({ kind: 'refused', status: 404, statusText: 'Not Found', headers: {} });
    // The target's body (it lists the routes) is never passed on.
    expect(JSON.stringify(notFound)).not.toContain('/raw');

    expect(await outcome(check, { url: lifeline.wsUrl('/chat'), protocols: ['chat.v9'] })).toMatchObject({ kind: 'refused', status: 400 });
    expect(await outcome(check, { url: lifeline.wsUrl('/chat'), protocols: ['chat.v9', 'chat.v2'] })).toEqual({ kind: 'accepted', protocol: 'chat.v2' });
    expect(await outcome(check, { url: lifeline.wsUrl('/lifeline'), protocols: ['lifeline.v1'] })).toEqual({ kind: 'accepted', protocol: 'lifeline.v1' });
    expect(await outcome(check, { url: lifeline.wsUrl('/private') })).toMatchObject({ kind: 'refused', status: 401 });
  });

  it('sends the caller’s Origin (a page’s own origin), so an origin rule refuses the check as it refused the browser', async () => {
    const [check, lifeline] = await Promise.all([checker(), target()]);
    const seen: IncomingMessage[] = [];
    const raw = createServer();
    raw.on('upgrade', (request: IncomingMessage, socket) => {
      socket.on('error', () => {}); // a reset by the checker; Node's HTTP server no longer listens after 'upgrade'
      seen.push(request);
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    });
    const port = await listen(raw);
    const own = `http://127.0.0.1:${check.port}`;
    expect(await outcome(check, { url: `ws://127.0.0.1:${port}/x` }, { Origin: own, Cookie: 'session=secret' })).toMatchObject({ kind: 'refused', status: 403 });
    expect(seen[0]!.headers.origin).toBe(own);
    expect(seen[0]!.headers.cookie).toBeUndefined(); // the caller's cookies stay with the caller
    expect(seen[0]!.headers.upgrade).toBe('websocket');
    expect(seen[0]!.method).toBe('GET');
    // Without an Origin from the caller (curl), none is sent, and the allowedOrigins rule of `target()` lets it through.
    expect(await outcome(check, { url: lifeline.wsUrl('/raw') })).toEqual({ kind: 'accepted', protocol: '' });
  });

  it('a server that accepts without the subprotocol asked for, one that picks another, 503 with Retry-After, 426 with its version, and a redirect', async () => {
    const check = await checker();
    const bare = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => false });
    await once(bare, 'listening');
    const closes: number[] = [];
    bare.on('connection', (ws) => ws.on('close', (code) => closes.push(code)));
    cleanup(() => new Promise((resolve) => bare.close(resolve)));
    const barePort = (bare.address() as AddressInfo).port;
    expect(await outcome(check, { url: `ws://127.0.0.1:${barePort}/`, protocols: ['lifeline.v1'] })).toMatchObject({ kind: 'accepted', protocol: '' });
    // Accepted connections are closed at once, with 1000.
    expect(await outcome(check, { url: `ws://127.0.0.1:${barePort}/` })).toEqual({ kind: 'accepted', protocol: '' });
    await waitFor(() => closes.includes(1000), 'the check to close its accepted connection with 1000');

    const answers: Record<string, string> = {
      '/other': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: other\r\nSec-WebSocket-Accept: x\r\n\r\n',
      '/full': 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nfull',
      '/old': 'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 8\r\nContent-Length: 0\r\n\r\n',
      '/moved': 'HTTP/1.1 301 Moved Permanently\r\nLocation: wss://example.test/ws\r\nContent-Length: 0\r\n\r\n',
    };
    const raw = createServer();
    raw.on('upgrade', (request: IncomingMessage, socket) => {
      socket.on('error', () => {}); // a reset by the checker; Node's HTTP server no longer listens after 'upgrade'
      socket.end(answers[request.url!]!);
    });
    const port = await listen(raw);
    expect(await outcome(check, { url: `ws://127.0.0.1:${port}/other`, protocols: ['mine'] })).toMatchObject({ kind: 'accepted', protocol: 'other' });
    expect(await outcome(check, { url: `ws://127.0.0.1:${port}/full` })).toEqual({ kind: 'refused', status: 503, statusText: 'Service Unavailable', headers: { retryAfter: '7' } });
    expect(await outcome(check, { url: `ws://127.0.0.1:${port}/old` })).toEqual({ kind: 'refused', status: 426, statusText: 'Upgrade Required', headers: { secWebSocketVersion: '8' } });
    expect(await outcome(check, { url: `ws://127.0.0.1:${port}/moved` })).toEqual({ kind: 'refused', status: 301, statusText: 'Moved Permanently', headers: { location: 'wss://example.test/ws' } });
  });

  it('nothing listening, a name that does not resolve, a server that never answers, and one whose headers are too big', async () => {
    const check = await checker({ timeoutMs: 300 });
    const port = await closedPort();
    expect(await outcome(check, { url: `ws://127.0.0.1:${port}/` })).toMatchObject({ kind: 'network', code: 'ECONNREFUSED' });
    // RFC 6761: .invalid never resolves. Without a resolver the lookup may time out instead.
    const dns = await outcome(check, { url: 'ws://no-such-host.invalid/' });
    expect(dns.kind === 'timeout' || (dns.kind === 'network' && ['ENOTFOUND', 'EAI_AGAIN'].includes(dns.code)), JSON.stringify(dns)).toBe(true);

    const held: TcpSocket[] = [];
    const silent = createTcpServer((socket) => held.push(socket));
    const silentPort = await listen(silent);
    cleanup(() => held.forEach((s) => s.destroy()));
    expect(await outcome(check, { url: `ws://127.0.0.1:${silentPort}/` })).toEqual({ kind: 'timeout', ms: 300 });

    const chatty = createTcpServer((socket) => socket.once('data', () => socket.end(`HTTP/1.1 404 Not Found\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`)));
    const chattyPort = await listen(chatty);
    expect(await outcome(check, { url: `ws://127.0.0.1:${chattyPort}/` })).toMatchObject({ kind: 'network' });
  });
});

describe('who may ask, and what', () => {
  it('refuses pages of another origin, cross-site fetches, and (without a token) Host names that are not loopback or an IP', async () => {
    const check = await checker();
    const url = 'ws://127.0.0.1:1/';
    expect((await ask(check, { url }, { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await ask(check, { url }, { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    const rebound = await ask(check, { url }, { Host: `evil.example:${check.port}` });
    expect(rebound.status).toBe(403);
    expect(JSON.stringify(rebound.json)).toMatch(/loopback name or an IP address/);
    // Its own pages may ask, by IP or by localhost.
    expect((await ask(check, { url }, { Origin: `http://127.0.0.1:${check.port}`, 'Sec-Fetch-Site': 'same-origin' })).status).toBe(200);
    expect((await ask(check, { url }, { Host: `localhost:${check.port}` })).status).toBe(200);
    // No CORS: a page of another origin cannot read an answer, and its preflight is not granted.
    const preflight = await fetch(check.httpUrl('/api/handshake-check'), { method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('with an admin token: 401 without it, and then any Host', async () => {
    const check = await checker({ token: TOKEN });
    const url = 'ws://127.0.0.1:1/';
    const none = await ask(check, { url });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await ask(check, { url }, { Authorization: `Bearer ${TOKEN}`, Host: `lifeline.example:${check.port}` })).status).toBe(200);
  });

  it('only JSON naming a ws:// or wss:// URL without credentials and valid subprotocols, in 4 KiB', async () => {
    const check = await checker();
    const bad: [Ask | string, RegExp][] = [
      ['not json', /not JSON/],
      [{ url: 'http://127.0.0.1:1/' }, /ws:\/\/ or wss:\/\//],
      [{ url: 'file:///etc/passwd' }, /ws:\/\/ or wss:\/\//],
      [{ url: 'ws://user:secret@127.0.0.1:1/' }, /user name or password/],
      [{ url: 'ws://127.0.0.1:1/', protocols: ['a b'] }, /subprotocol names/],
      [{ url: 'ws://127.0.0.1:1/', protocols: ['x\r\nInjected: 1'] }, /subprotocol names/],
      [{ url: 'ws://127.0.0.1:1/', protocols: ['a', 'a'] }, /twice/],
      [{ url: `ws://127.0.0.1:1/${'a'.repeat(3000)}` }, /at most 2048/],
    ];
    for (const [body, message] of bad) {
      const res = await ask(check, body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(JSON.stringify(res.json)).toMatch(message);
    }
    expect((await ask(check, { url: `ws://127.0.0.1:1/?${'a'.repeat(5000)}` })).status).toBe(413);
    const form = await fetch(check.httpUrl('/api/handshake-check'), { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"url":"ws://127.0.0.1:1/"}' });
    expect(form.status).toBe(415);
    expect((await fetch(check.httpUrl('/api/handshake-check'))).status).toBe(405);
  });

  it('at most perMinute checks a minute and maxConcurrent at a time, then 429 with Retry-After', async () => {
    const held: TcpSocket[] = [];
    const silent = createTcpServer((socket) => held.push(socket));
    const silentPort = await listen(silent);
    cleanup(() => held.forEach((s) => s.destroy()));
    const check = await checker({ perMinute: 3, maxConcurrent: 1, timeoutMs: 2000 });
    // One check hangs on a server that never answers; a second one at the same time is refused.
    const hanging = ask(check, { url: `ws://127.0.0.1:${silentPort}/` });
    await waitFor(() => held.length === 1, 'the first check to connect');
    const concurrent = await ask(check, { url: 'ws://127.0.0.1:1/' });
    expect(concurrent.status).toBe(429);
    expect(concurrent.headers['retry-after']).toBe('1');
    expect(((await hanging).json as HandshakeReport).outcome).toEqual({ kind: 'timeout', ms: 2000 });
    // Two more fit in the minute (three in all); the fourth does not.
    expect((await ask(check, { url: 'ws://127.0.0.1:1/' })).status).toBe(200);
    expect((await ask(check, { url: 'ws://127.0.0.1:1/' })).status).toBe(200);
    const over = await ask(check, { url: 'ws://127.0.0.1:1/' });
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(30);
    expect(JSON.stringify(over.json)).toMatch(/at most 1 at a time and 3 a minute/);
  });
});
