/**
 * attach(), middleware() and handleRequest() on servers Lifeline does not own: the Express
 * and Fastify examples as shipped, and plain node:http. Real sockets on 127.0.0.1.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { createApp, type App } from '@lifeline/server';
import { start as startExpress } from '../examples/express.js';
import { start as startFastify } from '../examples/fastify.js';
import { rawHttp, upgradeRequest } from './support/raw-http.js';
import { waitFor } from './support/wait.js';

/** Everything a test opened, undone in reverse order after it. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const QUICK = { drainTimeout: 1000, retryWindow: 0 };

interface Client {
  ws: WebSocket;
  next(): Promise<string>;
  closed: Promise<{ code: number; reason: string }>;
}

/** A `ws` client that queues what it receives; resolves once open, rejects on a refused handshake. */
async function connect(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  cleanups.push(() => ws.terminate());
  const inbox: string[] = [];
  const waiting: ((text: string) => void)[] = [];
  ws.on('message', (data) => {
    const text = data.toString();
    const resolve = waiting.shift();
    if (resolve) resolve(text);
    else inbox.push(text);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    closed,
    next: () => {
      const text = inbox.shift();
      if (text !== undefined) return Promise.resolve(text);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message from ${url} within 5 s`)), 5000);
        waiting.push((t) => {
          clearTimeout(timer);
          resolve(t);
        });
      });
    },
  };
}

/** GET over a fresh connection (no keep-alive pool left behind). */
async function get(port: number, path: string) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { connection: 'close' } });
  return { status: response.status, headers: response.headers, body: await response.text() };
}

function pathOf(request: IncomingMessage): string {
  return new URL(request.url ?? '/', 'http://x').pathname;
}

interface Running {
  lifeline: App;
  server: Server;
  port: number;
  close(): Promise<void>;
}

const frameworks: [string, (port: number, host: string) => Promise<Running>, RegExp][] = [
  ['Express', startExpress, /Cannot GET \/nope/],
  ['Fastify', startFastify, /Route GET:\/nope not found/],
];

describe.each(frameworks)('%s example', (_name, start, frameworkNotFound) => {
  async function startExample(): Promise<Running> {
    const running = await start(0, '127.0.0.1');
    cleanups.push(() => running.close());
    expect(running.port).toBeGreaterThan(0);
    return running;
  }

  it('keeps serving its own HTTP routes and its own 404s', async () => {
    const { port } = await startExample();
    const health = await get(port, '/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ ok: true });
    const missing = await get(port, '/nope');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatch(frameworkNotFound);
  });

  it('routes WebSocket upgrades with path params to the handler', async () => {
    const { port, lifeline } = await startExample();
    const lobby = await connect(`ws://127.0.0.1:${port}/chat/lobby`);
    const other = await connect(`ws://127.0.0.1:${port}/chat/caf%C3%A9?x=1`);
    lobby.ws.send('hello');
    other.ws.send('bonjour');
    expect(await lobby.next()).toBe('[lobby] hello');
    expect(await other.next()).toBe('[café] bonjour');
    expect(lifeline.connections.size).toBe(2);
  });

  it('answers an upgrade to an unknown path with 404 naming the known routes', async () => {
    const { port } = await startExample();
    const answer = await rawHttp(port, upgradeRequest('/nope', port));
    expect(answer.status).toBe(404);
    expect(answer.body).toBe('No WebSocket route at /nope. Known WebSocket routes: /chat/:room.\n');
  });

  it('answers a plain HTTP GET on the WebSocket path with 426 and the ws:// URL', async () => {
    const { port } = await startExample();
    const answer = await get(port, '/chat/lobby?x=1');
    expect(answer.status).toBe(426);
    expect(answer.headers.get('upgrade')).toBe('websocket');
    expect(answer.body).toContain(`Connect with a WebSocket client to ws://127.0.0.1:${port}/chat/lobby?x=1`);
  });

  it("shutdown() closes its WebSockets with 1012 and leaves the framework's server running", async () => {
    const { port, lifeline, server } = await startExample();
    const a = await connect(`ws://127.0.0.1:${port}/chat/a`);
    const b = await connect(`ws://127.0.0.1:${port}/chat/b`);
    expect(server.listenerCount('upgrade')).toBe(1);

    await lifeline.shutdown(QUICK);
    expect((await a.closed).code).toBe(1012);
    expect((await b.closed).code).toBe(1012);
    expect(lifeline.state).toBe('closed');
    expect(lifeline.connections.size).toBe(0);

    expect(server.listening).toBe(true);
    expect(server.listenerCount('upgrade')).toBe(0); // detached
    const health = await get(port, '/health');
    expect(health.status).toBe(200);
  });
});

describe('plain node:http', () => {
  /** A server of the test's own: Lifeline's HTTP answers first, then the server's own. */
  async function listen(handle: (request: IncomingMessage) => string | undefined = () => undefined) {
    const lifeline = createApp({ logger: 'silent' });
    lifeline.ws('/chat/:room', (socket) => {
      socket.on('message', (message) => socket.send(`[${socket.params.room}] ${message.text}`));
    });
    lifeline.get('/lifeline/status', (_req, res) => {
      res.end(`connections=${lifeline.connections.size}`);
    });
    const server = createServer((request, response) => {
      if (lifeline.handleRequest(request, response)) return;
      const text = handle(request);
      response.writeHead(text === undefined ? 404 : 200).end(text ?? 'not mine');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      await lifeline.shutdown(QUICK);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return { lifeline, server, port: (server.address() as AddressInfo).port };
  }

  it('serves WebSockets, its HTTP routes, 426 and 404 next to the server’s own handler', async () => {
    const { lifeline, server, port } = await listen((request) => (pathOf(request) === '/mine' ? 'mine' : undefined));
    lifeline.attach(server);
    lifeline.attach(server); // twice is once
    expect(server.listenerCount('upgrade')).toBe(1);

    const client = await connect(`ws://127.0.0.1:${port}/chat/x`);
    client.ws.send('hi');
    expect(await client.next()).toBe('[x] hi');

    expect(await get(port, '/mine')).toMatchObject({ status: 200, body: 'mine' });
    expect(await get(port, '/other')).toMatchObject({ status: 404, body: 'not mine' });
    expect(await get(port, '/lifeline/status')).toMatchObject({ status: 200, body: 'connections=1' });
    const plain = await get(port, '/chat/x');
    expect(plain.status).toBe(426);
    expect(plain.body).toContain(`ws://127.0.0.1:${port}/chat/x`);
    const unknown = await rawHttp(port, upgradeRequest('/elsewhere', port));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('Known WebSocket routes: /chat/:room.');
  });

  it("unknownPaths: 'ignore' leaves other upgrades to another listener on the same server", async () => {
    const { lifeline, server, port } = await listen();
    lifeline.attach(server, { unknownPaths: 'ignore' });
    // A second WebSocket server on the same HTTP server, for /other only. It must itself
    // leave alone what is not its own (a `{ server, path }` WebSocketServer would answer 400).
    const other = new WebSocketServer({ noServer: true });
    cleanups.push(() => new Promise((resolve) => other.close(resolve)));
    other.on('connection', (ws) => ws.on('message', (data) => ws.send(`other got ${String(data)}`)));
    const otherListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (pathOf(request) === '/other') other.handleUpgrade(request, socket, head, (ws) => other.emit('connection', ws, request));
    };
    server.on('upgrade', otherListener);
    cleanups.push(() => server.off('upgrade', otherListener));

    const theirs = await connect(`ws://127.0.0.1:${port}/other`);
    const ours = await connect(`ws://127.0.0.1:${port}/chat/x`);
    theirs.ws.send('ping');
    ours.ws.send('ping');
    expect(await theirs.next()).toBe('other got ping');
    expect(await ours.next()).toBe('[x] ping');
    expect(lifeline.connections.size).toBe(1);
  });

  it("unknownPaths defaults to 'reject' even with another listener present", async () => {
    const { lifeline, server, port } = await listen();
    lifeline.attach(server);
    const seen: string[] = [];
    const otherListener = (request: IncomingMessage) => void seen.push(pathOf(request));
    server.on('upgrade', otherListener);
    cleanups.push(() => server.off('upgrade', otherListener));
    const answer = await rawHttp(port, upgradeRequest('/other', port));
    expect(answer.status).toBe(404);
    expect(answer.body).toContain('No WebSocket route at /other.');
    expect(seen).toEqual(['/other']); // every listener still hears it; Lifeline has answered
  });

  it('detach() stops routing new upgrades and keeps open connections open', async () => {
    const { lifeline, server, port } = await listen();
    lifeline.attach(server);
    const client = await connect(`ws://127.0.0.1:${port}/chat/x`);
    lifeline.detach(server);
    expect(server.listenerCount('upgrade')).toBe(0);

    client.ws.send('still here');
    expect(await client.next()).toBe('[x] still here');
    // With no `upgrade` listener Node hands the request to the request handler.
    await expect(connect(`ws://127.0.0.1:${port}/chat/y`)).rejects.toThrow(/Unexpected server response: 426/);
    expect(lifeline.connections.size).toBe(1);
  });

  it("shutdown() closes attached connections with 1012 and a retry hint, and leaves the server listening", async () => {
    const { lifeline, server, port } = await listen((request) => (pathOf(request) === '/mine' ? 'mine' : undefined));
    lifeline.attach(server);
    const client = await connect(`ws://127.0.0.1:${port}/chat/x`);
    await lifeline.shutdown(QUICK);
    const closed = await client.closed;
    expect(closed.code).toBe(1012);
    expect(closed.reason).toBe('server restart; retry-after=0');
    expect(server.listening).toBe(true);
    expect(await get(port, '/mine')).toMatchObject({ status: 200, body: 'mine' });
    await waitFor(() => lifeline.state === 'closed', 'state closed');
    // Upgrades now reach the request handler: a WebSocket client is told to retry, not to use ws://.
    await expect(connect(`ws://127.0.0.1:${port}/chat/y`)).rejects.toThrow(/Unexpected server response: 503/);
    expect(() => lifeline.attach(server)).toThrow(expect.objectContaining({ code: 'LL_SHUTTING_DOWN' }));
  });

  it('handleUpgrade() returns whether it took the request, so one listener can dispatch to several servers', async () => {
    const { lifeline, server, port } = await listen();
    const other = new WebSocketServer({ noServer: true });
    cleanups.push(() => new Promise((resolve) => other.close(resolve)));
    other.on('connection', (ws) => ws.send('other'));
    const dispatch = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (lifeline.handleUpgrade(request, socket, head, { unknownPaths: 'ignore' })) return;
      if (pathOf(request) === '/other') other.handleUpgrade(request, socket, head, (ws) => other.emit('connection', ws, request));
      else socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    };
    server.on('upgrade', dispatch);
    cleanups.push(() => server.off('upgrade', dispatch));
    const theirs = await connect(`ws://127.0.0.1:${port}/other`);
    expect(await theirs.next()).toBe('other');
    const ours = await connect(`ws://127.0.0.1:${port}/chat/z`);
    ours.ws.send('hi');
    expect(await ours.next()).toBe('[z] hi');
    expect((await rawHttp(port, upgradeRequest('/nobody', port))).status).toBe(404);
  });

  it('a non-GET plain request to a WebSocket path is 405, not 426', async () => {
    const { port } = await listen();
    const res = await fetch(`http://127.0.0.1:${port}/chat/x`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
  });
});
