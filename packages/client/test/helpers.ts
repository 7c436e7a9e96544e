import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ClientState, CloseInfo, DropInfo, LifelineClient, LifelineError, Message } from '@lifeline/client';
import { ensureDebianPackage, pythonModulePresent } from '../../../test/support/system-packages.js';
import { waitFor } from '../../../test/support/wait.js';
import { readJsonLines } from '../../../test/support/json-lines.js';

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

// ---- Debian's python3-websockets server -------------------------------------------------

export const PYTHON = '/usr/bin/python3';
const PY_SERVER = fileURLToPath(new URL('../../../test/fixtures/python/ws_server.py', import.meta.url));

export interface PythonServer {
  child: ChildProcess;
  port: number;
  events: { event: string; id?: number; code?: number; text?: string }[];
  exited: Promise<number | string>;
  url(path?: string): string;
}

export function ensurePythonWebsockets(): void {
  ensureDebianPackage('python3-websockets', pythonModulePresent(PYTHON, 'websockets'));
}

/** Starts test/fixtures/python/ws_server.py (PORT 0: any free port) and waits until it listens. */
export async function startPythonServer(port = 0): Promise<PythonServer> {
  const child = spawn(PYTHON, [PY_SERVER, String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
  });
  const server: PythonServer = {
    child,
    port,
    events: [],
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))),
    url: (path = '/') => `ws://127.0.0.1:${server.port}${path}`,
  };
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  readJsonLines(child.stdout!, (event) => server.events.push(event));
  let exited = false;
  void server.exited.then(() => (exited = true));
  const listening = await waitFor(
    () => {
      if (exited) throw new Error(`python server exited before listening: ${stderr}`);
      return server.events.find((e) => e.event === 'listening') as { port: number } | undefined;
    },
    'the python server to listen',
    10_000,
  );
  server.port = listening.port;
  return server;
}

export async function stopPython(server: PythonServer | undefined): Promise<void> {
  if (!server) return;
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await server.exited;
}
