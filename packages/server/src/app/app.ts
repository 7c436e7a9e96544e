/**
 * The app: its routes (WebSocket and HTTP), publishing, listen/attach, the admin endpoints'
 * wiring and the order of a graceful shutdown. The jobs themselves live beside it: the
 * upgrade path (upgrade.ts), the open connections and what they need from the app
 * (connections.ts), draining them at shutdown (shutdown.ts), HTTP routing
 * (http-routes.ts), shared sessions (shared-sessions.ts), the admin endpoints (admin/),
 * authentication (auth/).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { LifelineError, type ChannelPosition, type PresenceMember } from '@lifeline/protocol';
import type { PublicationPayload } from '../channels/broker.js';
import { ChannelHub } from '../channels/hub.js';
import { MemoryBroker } from '../channels/memory-broker.js';
import type { RawSocket } from '../connection/raw-socket.js';
import type { ChannelOptions, Socket } from '../connection/socket.js';
import { HeartbeatSweep } from '../leaves/heartbeat-sweep.js';
import { pathOf } from '../leaves/http.js';
import type { Logger } from '../leaves/logger.js';
import { InboundLimit } from '../leaves/rate-limit.js';
import { RouteTable } from '../leaves/router.js';
import type { SharedSessionStore } from '../lifeline/session-store.js';
import { nativeServerFor } from '../transport/native.js';
import { NodeUpgrade, nodeRuntime } from '../transport/node/upgrade.js';
import type { NativeServer } from '../transport/server.js';
import { adminGate, bindAddressOf } from './admin/access.js';
import { HANDSHAKE_CHECK_DEFAULTS, handshakeCheckHandler, type HandshakeCheckOptions } from './admin/handshake-check.js';
import { healthHandlers, type HealthEndpointsOptions } from './admin/health.js';
import { createMetrics, type MetricsEndpointOptions } from './admin/metrics.js';
import { StatsCollector, statsHandlers, type AppStats, type StatsEndpointOptions, type StatsSource } from './admin/stats.js';
import { addressKey } from './client-address.js';
import { Connections } from './connections.js';
import type { HttpHandler, WsHandler } from './handlers.js';
import { answerWsPathOverHttp, HttpRoutes, notFound, type HttpMethod } from './http-routes.js';
import { resolveOptions, type AppOptions, type ResolvedOptions, type ShutdownOptions } from './options.js';
import { DEFAULT_PUBLISH_PATH, publishHandler, type PublishEndpointOptions } from './publish-endpoint.js';
import { SharedSessions } from './shared-sessions.js';
import { drainConnections } from './shutdown.js';
import { Upgrades } from './upgrade.js';
import { createWsRoute, type WsRoute, type WsRouteDefaults, type WsRouteOptions } from './ws-route.js';

export type { HttpHandler, WsHandler } from './handlers.js';
export type { WsRouteOptions } from './ws-route.js';

export interface AttachOptions {
  /**
   * Upgrades to paths with no WebSocket route: `reject` (default) answers 404 naming the
   * known routes; `ignore` leaves them to other `upgrade` listeners on the same server
   * (a dev server's hot reload, another WebSocket library).
   */
  unknownPaths?: 'reject' | 'ignore';
}

export type AppState = 'running' | 'draining' | 'closed';

export interface ListenOptions {
  /** Serve TLS (`https://`, `wss://`) with this certificate chain and private key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/**
 * A Lifeline server: WebSocket routes, a few HTTP routes for its own pages and APIs, one
 * heartbeat sweep, limits, and graceful shutdown. Use `listen()` for a server of its own,
 * or `attach()` to add the WebSocket side to an existing Node HTTP server (Express,
 * Fastify, plain `http`).
 */
export class App {
  readonly options: ResolvedOptions;
  /** Channels (PROTOCOL.md §3): subscriptions of this process's connections, and the fan-out. */
  readonly hub: ChannelHub;
  /** Lifeline sessions shared with other processes (PROTOCOL.md §2.7); undefined: in memory only. */
  readonly sessionStore: SharedSessionStore | undefined;
  private readonly conns: Connections;
  private readonly wsRoutes = new RouteTable<WsRoute>();
  private readonly httpRoutes = new HttpRoutes();
  private readonly upgrades: Upgrades;
  private readonly routeDefaults: WsRouteDefaults;
  private readonly attached = new Map<Server, (req: IncomingMessage, socket: Duplex, head: Buffer) => void>();
  private readonly sweep: HeartbeatSweep | undefined;
  private readonly shared: SharedSessions | undefined;
  private ownServer: Server | undefined;
  /** Bun.serve or Deno.serve, when the app runs there (options.runtime); undefined on Node. */
  private readonly native: NativeServer | undefined;
  private nativeListening = false;
  private currentState: AppState = 'running';
  private shutdownPromise: Promise<void> | undefined;
  private readonly createdAt = Date.now();
  private statsCollector: StatsCollector | undefined;
  /** The broker was made here (the default in-memory one), so shutdown closes it. */
  private readonly ownBroker: boolean;

  constructor(options: AppOptions = {}) {
    this.options = resolveOptions(options);
    this.ownBroker = options.broker === undefined;
    this.sessionStore = options.sessionStore;
    this.hub = new ChannelHub(options.broker ?? new MemoryBroker(), {
      limits: this.options.limits,
      report: (event, fields) => this.logger.log('error', event, fields),
    });
    const conns = (this.conns = new Connections(this.options, this.hub, this.sessionStore));
    const hb = this.options.heartbeat;
    if (hb) this.sweep = new HeartbeatSweep(conns.sweepTargets, hb.interval, hb.timeout);
    if (this.sessionStore) this.shared = new SharedSessions(this.sessionStore, conns.lifelineRoutes, () => this.logger);
    const rateLimit = this.options.rateLimit;
    const inboundLimit = rateLimit ? new InboundLimit(rateLimit) : undefined;
    this.native = nativeServerFor(this.options.runtime, { maxBufferedBytes: this.options.maxBufferedBytes, heartbeatTimeout: hb ? hb.timeout : 0 });
    this.routeDefaults = { maxPayload: this.options.maxPayload, inboundLimit, runtime: this.native?.runtime ?? nodeRuntime };
    this.upgrades = new Upgrades(this.options, conns, this.wsRoutes, () => this.currentState === 'running');
  }

  /** Open raw-mode WebSocket connections (Lifeline sessions are in `sessions`). */
  get connections(): Set<Socket> {
    return this.conns.raw as Set<RawSocket> as Set<Socket>;
  }

  /**
   * Open WebSocket connections (raw and Lifeline, upgrades in progress included) counted
   * under `address` for `maxConnectionsPerIp` (an IPv6 address counts for its /64).
   */
  connectionsFrom(address: string): number {
    return this.upgrades.perAddress?.count(addressKey(address)) ?? 0;
  }

  /**
   * Options for a channel, a pattern one segment deep (`prices:*`), or `*` for every
   * channel: history, presence, who may do what, the slow-subscriber policy. The most
   * specific match applies. See docs/server.md#channels.
   */
  channel(pattern: string, options: ChannelOptions): this {
    this.hub.options.set(pattern, options);
    return this;
  }

  /**
   * Publishes `data` on `channel` to every subscriber, on every process that shares the
   * broker. A `Uint8Array` is sent as bytes, anything else as a JSON value. `key` names what
   * the publication replaces for the `coalesce` slow-subscriber policy (a ticker symbol, a
   * cursor's user). Resolves with its offset and epoch.
   */
  publish(channel: string, data: unknown, options: { key?: string } = {}): Promise<ChannelPosition> {
    const payload: PublicationPayload = data instanceof Uint8Array ? { bytes: data } : { data: data === undefined ? null : data };
    return this.hub.publish(channel, payload, options.key);
  }

  /**
   * The members present on a channel (with presence enabled), on every process sharing the
   * broker. Rejects `LL_UNAVAILABLE` when the broker must be asked (no connection of this
   * process follows the channel) and cannot answer.
   */
  presence(channel: string): Promise<PresenceMember[]> {
    return this.hub.presenceOf(channel);
  }

  /**
   * Serves `POST /api/publish` (PROTOCOL.md §3.5): `Authorization: Bearer <apiKey>` and a
   * JSON body `{ "channel", "data", "key"? }` publish one message, so a backend in any
   * language can push to subscribers with one HTTP call. Bodies over `maxPayload` get 413.
   */
  publishEndpoint(options: PublishEndpointOptions): this {
    return this.http('POST', options.path ?? DEFAULT_PUBLISH_PATH, publishHandler(this.hub, options.apiKey, this.options.maxPayload, this.options.limits));
  }

  /** Open WebSocket connections, raw and Lifeline. */
  get connectionCount(): number {
    return this.conns.count;
  }

  /** Live Lifeline sessions, connected or waiting to be resumed, on every route. */
  get sessions(): Socket[] {
    return this.conns.sessions;
  }

  /**
   * What the server is doing now: connections by route, sessions, message and byte totals
   * and per-second rates, routes (docs/server.md, "Stats"). Sums the live connections'
   * own counters, so it costs nothing until called.
   */
  stats(): AppStats {
    return this.collector().snapshot();
  }

  /**
   * Answers `GET /api/stats` (or `options.path`) with `stats()` as JSON. With `options.token`
   * every request needs `Authorization: Bearer <token>`; without one, only a server bound
   * to loopback alone answers (403 otherwise). Off unless called; `lifeline serve` calls it.
   */
  statsEndpoint(options: StatsEndpointOptions = {}): this {
    const handlers = statsHandlers(options, () => this.stats(), () => this.bindAddresses());
    const path = options.path ?? '/api/stats';
    this.get(path, handlers.get);
    this.http('OPTIONS', path, handlers.options);
    this.collector(); // the baseline of the first rate
    return this;
  }

  /**
   * `POST /api/handshake-check` (or `options.path`): makes one WebSocket opening handshake
   * for a page this server serves and reports what came back (status line, the headers that
   * explain a refusal, the subprotocol selected, or the network error), which a browser
   * cannot learn itself. Narrow by design (admin/handshake-check.ts, docs/server.md): the
   * admin endpoints' access rule, same-origin pages only, ws/wss URLs only, no body returned,
   * bounded in time and size, `maxConcurrent` at a time and `perMinute` a minute. Off unless
   * called; `lifeline serve` calls it for its console.
   */
  handshakeCheckEndpoint(options: HandshakeCheckOptions = {}): this {
    return this.http('POST', options.path ?? HANDSHAKE_CHECK_DEFAULTS.path, handshakeCheckHandler(options, () => this.bindAddresses()));
  }

  /**
   * `GET /metrics` (or `options.path`) in the Prometheus text format: connections by route
   * and mode, sessions, messages and bytes, closes by code, resumes and resets, replay-buffer
   * depth, channel fan-out and slow-subscriber actions, and Node's own metrics (event-loop
   * lag, heap, GC). Access as for `/api/stats`: `options.token` as a bearer token, or a
   * loopback bind. Off unless called; `lifeline serve` calls it.
   */
  metricsEndpoint(options: MetricsEndpointOptions = {}): this {
    if (this.conns.metricsEvents) throw new LifelineError('LL_INVALID_OPTION', 'metricsEndpoint() was called twice: one registry per app.');
    const conns = this.conns;
    const collector = this.collector();
    const { registry, events } = createMetrics({
      hub: this.hub,
      totals: () => collector.totals(),
      connections: () => conns.countsByRouteAndMode(),
      sessions: () => conns.sessionCounts(),
    });
    conns.metricsEvents = events;
    const admitted = adminGate(options.token, () => this.bindAddresses());
    this.get(options.path ?? '/metrics', (request, response) => {
      if (!admitted(request, response)) return;
      registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
          response.end(text);
        },
        () => {
          response.writeHead(500);
          response.end();
        },
      );
    });
    return this;
  }

  /**
   * `GET /healthz` (liveness: 200 while the app serves, 503 once closed) and `GET /readyz`
   * (readiness: 503 with the reason while draining, at `maxConnections`, or while the broker
   * or the shared session store is unavailable). Off unless called; `lifeline serve` calls it.
   */
  healthEndpoints(options: HealthEndpointsOptions = {}): this {
    const app = this;
    const handlers = healthHandlers({
      get state() {
        return app.state;
      },
      get connectionCount() {
        return app.connectionCount;
      },
      maxConnections: this.options.maxConnections,
      brokerAvailable: () => this.hub.broker.available?.() ?? true,
      sessionStoreAvailable: () => this.sessionStore?.available?.() ?? true,
    });
    this.get(options.livePath ?? '/healthz', handlers.live);
    this.get(options.readyPath ?? '/readyz', handlers.ready);
    return this;
  }

  private collector(): StatsCollector {
    return (this.statsCollector ??= new StatsCollector(this.statsSource()));
  }

  private bindAddresses(): (string | null)[] {
    const bound = [...this.attached.keys()].map(bindAddressOf);
    if (this.nativeListening && this.native?.address) bound.push(this.native.address.address);
    return bound;
  }

  private statsSource(): StatsSource {
    const app = this;
    const conns = this.conns;
    return {
      createdAt: this.createdAt,
      get connectionCount() {
        return conns.count;
      },
      maxConnections: this.options.maxConnections,
      rawSockets: conns.raw,
      liveSessions: {
        *[Symbol.iterator]() {
          for (const route of conns.lifelineRoutes) yield* route.store.values();
        },
      },
      lifelineTransports: {
        *[Symbol.iterator]() {
          for (const link of conns.links) yield link.transport;
        },
      },
      endedTotals: conns.endedTotals,
      hub: this.hub,
      get routeList() {
        return {
          ws: app.wsPaths.map((path) => ({ path, lifeline: conns.lifelineRoutes.some((route) => route.path === path) })),
          http: app.httpRoutes.list,
        };
      },
    };
  }

  get state(): AppState {
    return this.currentState;
  }

  get logger(): Logger {
    return this.options.logger;
  }

  /** Paths of the WebSocket routes, in the order they were added. */
  get wsPaths(): string[] {
    return this.wsRoutes.paths;
  }

  /** Adds a WebSocket route. `path` may hold parameters (`/rooms/:id`) and end in `*`. */
  ws(path: string, handler: WsHandler): this;
  ws(path: string, options: WsRouteOptions, handler: WsHandler): this;
  ws(path: string, a: WsHandler | WsRouteOptions, b?: WsHandler): this {
    const options = typeof a === 'function' ? {} : a;
    const handler = typeof a === 'function' ? a : b;
    if (typeof handler !== 'function') {
      throw new LifelineError('LL_INVALID_ROUTE', `app.ws("${path}") needs a handler function: app.ws(path, (socket) => { … }).`);
    }
    const route = createWsRoute(path, options, handler, this.conns, this.routeDefaults);
    this.wsRoutes.add(path, route);
    if (route.lifeline) {
      this.conns.lifelineRoutes.push(route.lifeline);
      if (this.attached.size > 0 || this.nativeListening) this.shared?.startKeepAlive();
    }
    return this;
  }

  /** Adds an HTTP route, for the server's own pages and APIs. Not a general HTTP framework. */
  http(method: HttpMethod, path: string, handler: HttpHandler): this {
    this.httpRoutes.add(method, path, handler);
    return this;
  }

  get(path: string, handler: HttpHandler): this {
    return this.http('GET', path, handler);
  }

  /**
   * Answers a plain HTTP request if it is for this app: one of its HTTP routes, or a
   * WebSocket route asked over plain HTTP (426 with a hint to use ws://). Returns false
   * when the request is not the app's, so a framework can carry on.
   */
  handleRequest(request: IncomingMessage, response: ServerResponse): boolean {
    const pathname = pathOf(request.url);
    if (this.httpRoutes.handle(this.logger, request, response, pathname)) return true;
    if (this.wsRoutes.find(pathname)) {
      answerWsPathOverHttp(request, response, pathname, this.currentState === 'running');
      return true;
    }
    return false;
  }

  /** Connect/Express-style middleware: `expressApp.use(app.middleware())`. */
  middleware(): (request: IncomingMessage, response: ServerResponse, next: (error?: unknown) => void) => void {
    return (request, response, next) => {
      if (!this.handleRequest(request, response)) next();
    };
  }

  /**
   * Mounts the WebSocket side on an existing HTTP(S) server: every `upgrade` goes through
   * this app's routes. Plain HTTP stays with the server's own handler (see middleware()).
   */
  attach(server: Server, options: AttachOptions = {}): this {
    if (this.currentState !== 'running') throw new LifelineError('LL_SHUTTING_DOWN', 'This app has been shut down; create a new one to attach.');
    this.nodeOnly('attach()');
    if (this.attached.has(server)) return this;
    const unknownPaths = options.unknownPaths ?? 'reject';
    const upgrades = this.upgrades;
    const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      upgrades.handle(new NodeUpgrade(request, socket, head), unknownPaths);
    };
    server.on('upgrade', listener);
    this.attached.set(server, listener);
    this.sweep?.start();
    this.shared?.startKeepAlive();
    return this;
  }

  /** Removes what attach() added. Open connections stay open. */
  detach(server: Server): this {
    const listener = this.attached.get(server);
    if (listener) server.off('upgrade', listener);
    this.attached.delete(server);
    return this;
  }

  /**
   * Starts an HTTP server of the app's own on `host:port` (port 0: any free port).
   * Resolves with the bound address.
   */
  listen(port: number, host = '127.0.0.1', options: ListenOptions = {}): Promise<AddressInfo> {
    if (this.ownServer) return Promise.reject(new LifelineError('LL_ALREADY_LISTENING', 'This app is already listening; call shutdown() first.'));
    if (this.currentState !== 'running') return Promise.reject(new LifelineError('LL_SHUTTING_DOWN', 'This app has been shut down.'));
    if (this.native) return this.listenNative(this.native, port, host, options);
    const timeout = this.options.handshakeTimeout;
    const serverOptions = {
      // Bounds the time to a complete upgrade request (slowloris); Node checks it on this period.
      headersTimeout: timeout,
      requestTimeout: Math.max(timeout, 30_000),
      connectionsCheckingInterval: Math.min(1000, Math.max(50, timeout / 4)),
    };
    const onRequest = (request: IncomingMessage, response: ServerResponse) => {
      if (!this.handleRequest(request, response)) notFound(request, response, this.httpRoutes.paths, this.wsRoutes.paths);
    };
    // With a certificate, https:// and wss://; the upgrade path is the same.
    const server: Server = options.tls
      ? (createHttpsServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, onRequest) as unknown as Server)
      : createServer(serverOptions, onRequest);
    this.ownServer = server;
    this.attach(server);
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => {
        this.ownServer = undefined;
        this.detach(server);
        reject(error);
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** listen() on Bun or Deno: the runtime's own server calls the app's HTTP side and its upgrade path. */
  private async listenNative(native: NativeServer, port: number, host: string, options: ListenOptions): Promise<AddressInfo> {
    if (this.nativeListening) throw new LifelineError('LL_ALREADY_LISTENING', 'This app is already listening; call shutdown() first.');
    this.nativeListening = true;
    const tls = options.tls ? { cert: String(options.tls.cert), key: String(options.tls.key) } : undefined;
    try {
      const address = await native.listen(
        {
          request: (request, response) => {
            if (!this.handleRequest(request, response)) notFound(request, response, this.httpRoutes.paths, this.wsRoutes.paths);
          },
          upgrade: (pending) => this.upgrades.handle(pending, 'reject'),
        },
        port,
        host,
        tls,
      );
      this.sweep?.start();
      this.shared?.startKeepAlive();
      return address;
    } catch (error) {
      this.nativeListening = false;
      throw error;
    }
  }

  /** attach() and handleUpgrade() take Node's HTTP server; on Bun or Deno the app listens on the runtime's own. */
  private nodeOnly(what: string): void {
    if (this.native) {
      throw new LifelineError(
        'LL_INVALID_OPTION',
        `${what} takes a node:http server, but this app uses ${this.native.name}'s own server (listen()). To attach to a node:http server on ${this.native.name}, create the app with { runtime: 'node' }.`,
      );
    }
  }

  /** The server started by listen(), if any. */
  get server(): Server | undefined {
    return this.ownServer;
  }

  /**
   * Graceful shutdown: refuse new connections (503), close every socket with 1012 (or
   * 1001) and a retry-after hint spread over `retryWindow`, let buffered messages drain
   * for up to `drainTimeout`, then cut off whatever is left. Safe to call more than once.
   */
  shutdown(overrides: ShutdownOptions = {}): Promise<void> {
    this.shutdownPromise ??= this.runShutdown({ ...this.options.shutdown, ...overrides });
    return this.shutdownPromise;
  }

  private async runShutdown(options: Required<ShutdownOptions>): Promise<void> {
    this.currentState = 'draining';
    const started = Date.now();
    this.logger.log('info', 'shutdown', { connections: this.conns.count, code: options.code });
    const ownClosed = this.ownServer ? closeServer(this.ownServer) : Promise.resolve();
    if (this.nativeListening) this.native!.stopListening();
    await drainConnections(this.conns, this.sessionStore, this.logger, options);
    this.sweep?.stop();
    this.shared?.stop();
    this.statsCollector?.stop();
    this.hub.close();
    if (this.ownBroker) await this.hub.broker.close();
    this.ownServer?.closeAllConnections();
    await ownClosed;
    if (this.nativeListening) await this.native!.closeAll();
    for (const server of [...this.attached.keys()]) this.detach(server);
    this.currentState = 'closed';
    this.logger.log('info', 'shutdown-done', { durationMs: Date.now() - started });
  }

  /**
   * Routes one upgrade request, for servers that dispatch `upgrade` events themselves.
   * Returns true when the app took the request (upgraded or refused it), false when the
   * path is not one of its routes and `unknownPaths` is `ignore` — then the caller must
   * answer it.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, options: AttachOptions = {}): boolean {
    this.nodeOnly('handleUpgrade()');
    return this.upgrades.handle(new NodeUpgrade(request, socket, head), options.unknownPaths ?? 'reject');
  }
}

export function createApp(options?: AppOptions): App {
  return new App(options);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
