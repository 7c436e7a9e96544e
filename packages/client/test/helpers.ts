import { once } from 'node:events';
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ClientState, CloseInfo, DropInfo, LifelineClient, LifelineError, Message } from '@lifeline/client';
import type { LifelineOptions, Socket } from '@lifeline/server';
import { startChaosProxy, type ChaosProxy } from '../../../test/support/chaos-proxy.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

/** Everything a client emitted, in order. */
export interface Recording<In = unknown, Out = unknown> {
  states: ClientState[];
  messages: Message<In>[];
  closes: CloseInfo[];
  drops: DropInfo<Out>[];
  errors: LifelineError[];
  opens: number;
  heartbeats: number[];
}

export function record<In, Out>(client: LifelineClient<In, Out>): Recording<In, Out> {
  const r: Recording<In, Out> = { states: [client.state], messages: [], closes: [], drops: [], errors: [], opens: 0, heartbeats: [] };
  client.on('state', (s) => r.states.push(s));
  client.on('message', (m) => r.messages.push(m));
  client.on('close', (c) => r.closes.push(c));
  client.on('drop', (d) => r.drops.push(d));
  client.on('error', (e) => r.errors.push(e));
  client.on('open', () => r.opens++);
  client.on('heartbeat', (rtt) => r.heartbeats.push(rtt));
  return r;
}

export async function waitForStatus(client: LifelineClient<any, any>, status: ClientState['status'], timeoutMs = 5000): Promise<ClientState> {
  await waitFor(() => client.state.status === status, `client status ${status} (is ${client.state.status})`, timeoutMs);
  return client.state;
}

export interface BareServerOptions {
  /** Echo every message back (default true). */
  echo?: boolean;
  /** Called for each connection after the server's own bookkeeping. */
  onConnection?: (ws: WebSocket) => void;
  /** Don't answer the client's close frame until {@link BareServer.releaseCloses} (a slow peer). */
  holdCloses?: boolean;
}

/**
 * A bare `ws` server (no Lifeline code) on 127.0.0.1 that records what it sees and can be
 * stopped hard (TCP cut, the client sees 1006) and started again on the same port.
 */
export class BareServer {
  wss: WebSocketServer | undefined;
  port = 0;
  readonly live = new Set<WebSocket>();
  /** Most sockets open at the same time since the last reset. */
  maxLive = 0;
  connections = 0;
  received: string[] = [];
  private held: (() => void)[] | undefined;

  constructor(private readonly options: BareServerOptions = {}) {
    if (options.holdCloses) this.held = [];
  }

  /** Answers every close frame held so far, and from now on at once. */
  releaseCloses(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const answer of held) answer();
  }

  async start(port = this.port): Promise<this> {
    const wss = new WebSocketServer({ port, host: '127.0.0.1', clientTracking: false });
    await once(wss, 'listening');
    this.wss = wss;
    this.port = (wss.address() as AddressInfo).port;
    wss.on('connection', (ws) => {
      this.connections++;
      this.live.add(ws);
      this.maxLive = Math.max(this.maxLive, this.live.size);
      ws.on('close', () => this.live.delete(ws));
      ws.on('error', () => {});
      ws.on('message', (data: RawData, isBinary: boolean) => {
        if (!isBinary) this.received.push(data.toString());
        if (this.options.echo !== false) ws.send(data, { binary: isBinary });
      });
      if (this.options.holdCloses) {
        // Hold the closing handshake: ws answers a close frame by calling close() on the
        // socket, so the answer (and the TCP close) waits for releaseCloses(); meanwhile the
        // server still sees the socket as open and keeps sending to it.
        const original = ws.close.bind(ws);
        ws.close = ((code?: number, reason?: string) => {
          if (this.held) this.held.push(() => original(code, reason));
          else original(code, reason);
        }) as typeof ws.close;
      }
      this.options.onConnection?.(ws);
    });
    return this;
  }

  url(path = '/'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** Cuts every connection without a close frame and stops listening. */
  async kill(): Promise<void> {
    for (const ws of this.live) ws.terminate();
    this.live.clear();
    const wss = this.wss;
    this.wss = undefined;
    if (wss) await new Promise<void>((resolve) => wss.close(() => resolve()));
  }

  broadcast(text: string): void {
    for (const ws of this.live) ws.send(text);
  }
}

/** A plain HTTP server on 127.0.0.1 for what a test needs (static pages, refusals). */
export async function startHttp(handler: RequestListener): Promise<{ server: HttpServer; port: number; close(): Promise<void> }> {
  const server = createHttpServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The site a Chromium test loads: `page` at `/`, a plain other page at `/other` (a tab to put
 * in front), and the bundled client as a script at `script.path`.
 */
export function startPageSite(page: string, script: { path: string; code: string }): ReturnType<typeof startHttp> {
  return startHttp((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (path === script.path) {
      response.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      response.end(script.code);
    } else if (path === '/' || path === '/other') {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      response.end(path === '/' ? page : '<!doctype html><title>other</title><p>another page');
    } else {
      response.writeHead(404);
      response.end();
    }
  });
}

// ---- a Lifeline server behind a proxy the test controls -----------------------------------

export interface LifelineRig {
  app: RunningApp;
  proxy: ChaosProxy;
  /** Server-side sockets (sessions), in the order their handlers ran. */
  sessions: Socket[];
  /** What the server handlers received, per session id. */
  received: Map<string, unknown[]>;
  /** Sessions whose handler heard the close (the session ended on the server), with the code. */
  ended: Map<string, number>;
  /** The server's log events (`session-resume`, …), in order. */
  events: string[];
  /** The route /s through the proxy. */
  url: string;
}

/**
 * A Lifeline server with an echo-and-record route at /s, behind a proxy that does nothing
 * until told (cut, black-hole, point elsewhere). `schedule` stops both after the test.
 */
export async function startLifelineRig(
  schedule: (stop: () => unknown) => void,
  options: { lifeline?: LifelineOptions; handler?: (socket: Socket) => void; heartbeat?: { interval: number; timeout: number } } = {},
): Promise<LifelineRig> {
  const sessions: Socket[] = [];
  const received = new Map<string, unknown[]>();
  const ended = new Map<string, number>();
  const events: string[] = [];
  const logger = { enabled: () => true, log: (_level: string, event: string) => void events.push(event) };
  const app = await startApp(
    (a) =>
      a.ws('/s', { lifeline: options.lifeline ?? true }, (socket) => {
        sessions.push(socket);
        const log: unknown[] = [];
        received.set(socket.sessionId!, log);
        socket.on('message', (m) => log.push(m.binary ? [...m.data] : m.json()));
        socket.on('close', (code) => ended.set(socket.sessionId!, code));
        options.handler?.(socket);
      }),
    { logger, ...(options.heartbeat ? { heartbeat: options.heartbeat } : {}) },
  );
  schedule(() => app.stop());
  const proxy = await startChaosProxy({ targetPort: app.port, seed: 1 });
  proxy.chaos = false;
  schedule(() => proxy.close());
  return { app, proxy, sessions, received, ended, events, url: `ws://127.0.0.1:${proxy.port}/s` };
}

// ---- Debian's python3-websockets server -------------------------------------------------

export { ensurePythonWebsockets, PYTHON, startPythonServer, stopPython, type PythonServer } from '../../../test/support/python-server.js';
