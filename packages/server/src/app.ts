import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatRetryHint, LifelineError, MAX_HEARTBEAT_INTERVAL, type ChannelPosition, type DecodeLimits, type PresenceMember } from '@lifeline/protocol';
import { WebSocketServer } from 'ws';
import { checkOrigin, checkUpgradeHeaders, writeRejection, type Rejection } from './handshake.js';
import { isAuthProtocol, RouteAuth, type AuthOptions } from './auth.js';
import { HeartbeatSweep, type SweepTarget } from './heartbeat-sweep.js';
import type { Logger } from './logger.js';
import { LifelineRoute, type LifelineAppHost } from './lifeline-route.js';
import type { Link } from './link.js';
import {
  resolveLifelineOptions,
  resolveOptions,
  type AppOptions,
  type LifelineOptions,
  type ResolvedOptions,
  type ShutdownOptions,
} from './options.js';
import { RouteTable, type RouteParams } from './router.js';
import { InvalidMessageError } from './message.js';
import { Socket, type SocketHost } from './socket.js';
import { addressKey, clientAddressOf, ConnectionsPerAddress } from './client-address.js';
import { InboundLimit } from './rate-limit.js';
import type { SharedSessionStore } from './session-store.js';
import type { PublicationPayload } from './channels/broker.js';
import { ChannelHub } from './channels/hub.js';
import { MemoryBroker } from './channels/memory-broker.js';
import type { ChannelOptions } from './channels/names.js';
import { DEFAULT_PUBLISH_PATH, publishHandler, type PublishEndpointOptions } from './channels/publish-endpoint.js';
import { HANDSHAKE_CHECK_DEFAULTS, handshakeCheckHandler, type HandshakeCheckOptions } from './handshake-check.js';
import { healthHandlers, type HealthEndpointsOptions } from './health.js';
import { createMetrics, type MetricsEndpointOptions, type MetricsEvents } from './metrics.js';
import { addEnded, adminGate, bindAddressOf, StatsCollector, statsHandlers, transportBytes, type AppStats, type StatsCounts, type StatsEndpointOptions, type StatsSource } from './stats.js';

/** What /metrics reads of a session without importing the class. */
type SessionSocketLike = Socket & { readonly connected: boolean };

/** A route handler; if it returns a promise, a rejection closes the socket with 1011. */
export type WsHandler = (socket: Socket, request: IncomingMessage) => unknown;
export type HttpHandler = (request: IncomingMessage, response: ServerResponse, params: RouteParams) => unknown;

export interface WsRouteOptions {
  /**
   * Subprotocols this route speaks, in order of preference. The first one the client also
   * offers is selected; a client that offers only others is refused with 400. A client
   * that offers none connects without a subprotocol. Unset: the first offered is accepted.
   */
  protocols?: readonly string[];
  /** Largest message on this route, in bytes (close 1009 beyond it). Default: the app's `maxPayload`. */
  maxPayload?: number;
  /**
   * For raw clients that send an app-level heartbeat text (the seed page sends "heartCheck"):
   * a text frame exactly equal to `message` is answered with `reply` and not delivered.
   */
  textHeartbeat?: { message: string; reply: string };
  /**
   * Lifeline mode (PROTOCOL.md §2): the route also offers `lifeline.v1` and
   * `lifeline.v1.msgpack`; a client that negotiates one gets a session that survives
   * reconnects. Clients that offer neither stay in raw mode on the same route.
   */
  lifeline?: boolean | LifelineOptions;
  /**
   * Authentication (docs/server.md, "Authentication"): `verify(token, request)` decides each
   * connection's token (header, subprotocol entry, query, cookie, or the first message) and
   * its result is `socket.identity`. A route with a `cookie` refuses foreign origins.
   */
  auth?: AuthOptions;
}

interface WsRoute {
  path: string;
  handler: WsHandler;
  server: WebSocketServer;
  textHeartbeat: { message: Buffer; reply: string } | undefined;
  lifeline: LifelineRoute | undefined;
  auth: RouteAuth | undefined;
  /** Inbound rate limit of the route's connections (the app's, with the byte burst raised to the route's maxPayload if need be). */
  inboundLimit: InboundLimit | undefined;
}

type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

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
export class App implements SocketHost, LifelineAppHost {
  readonly options: ResolvedOptions;
  /** Open raw-mode WebSocket connections (Lifeline sessions are in `sessions`). */
  readonly connections = new Set<Socket>();
  /** Open connections in Lifeline mode (transports; a session outlives them). */
  private readonly links = new Set<Link>();
  private readonly lifelineRoutes: LifelineRoute[] = [];
  private readonly wsRoutes = new RouteTable<WsRoute>();
  private readonly httpRoutes = new RouteTable<Map<string, HttpHandler>>();
  private readonly httpRoutesByPath = new Map<string, Map<string, HttpHandler>>();
  private readonly attached = new Map<Server, (req: IncomingMessage, socket: Duplex, head: Buffer) => void>();
  private readonly sweep: HeartbeatSweep | undefined;
  private ownServer: Server | undefined;
  private nextId = 0;
  private currentState: AppState = 'running';
  private shutdownPromise: Promise<void> | undefined;
  private readonly createdAt = Date.now();
  /** Final counts of closed connections, added once at close (stats.ts); live ones are summed when asked. */
  private readonly endedTotals: StatsCounts = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
  private statsCollector: StatsCollector | undefined;
  private metricsEvents: MetricsEvents | undefined;

  /** Channels (PROTOCOL.md §3): subscriptions of this process's connections, and the fan-out. */
  readonly hub: ChannelHub;
  /** The broker was made here (the default in-memory one), so shutdown closes it. */
  private readonly ownBroker: boolean;
  /** `maxConnectionsPerIp`: open connections per client address; undefined when there is no limit. */
  private readonly perAddress: ConnectionsPerAddress | undefined;
  /** The app's inbound rate limit, shared by routes with no larger maxPayload; undefined when off. */
  private readonly inboundLimit: InboundLimit | undefined;
  private proxyHintLogged = false;
  /** Lifeline sessions shared with other processes (PROTOCOL.md §2.7); undefined: in memory only. */
  readonly sessionStore: SharedSessionStore | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(options: AppOptions = {}) {
    this.options = resolveOptions(options);
    const hb = this.options.heartbeat;
    if (hb) this.sweep = new HeartbeatSweep(sweepTargets(this.connections, this.links), hb.interval, hb.timeout);
    this.ownBroker = options.broker === undefined;
    this.sessionStore = options.sessionStore;
    // A session whose client resumed on another node is handed over (or, if taken, ends
    // here at once) rather than waiting out its resume window.
    this.sessionStore?.onClaimed((sessionId, kind, attach) => this.sessionClaimed(sessionId, kind, attach));
    // Back after being unreachable: Redis may have restarted empty; every session here checks, and stores itself again if so.
    this.sessionStore?.onReconnect?.(() => {
      for (const route of this.lifelineRoutes) for (const session of route.store.values()) session.checkStored();
    });
    this.hub = new ChannelHub(options.broker ?? new MemoryBroker(), {
      limits: this.options.limits,
      report: (event, fields) => this.logger.log('error', event, fields),
    });
    const { maxConnectionsPerIp, rateLimit } = this.options;
    if (maxConnectionsPerIp > 0) this.perAddress = new ConnectionsPerAddress(maxConnectionsPerIp);
    if (rateLimit) this.inboundLimit = new InboundLimit(rateLimit);
  }

  /**
   * Open WebSocket connections (raw and Lifeline, upgrades in progress included) counted
   * under `address` for `maxConnectionsPerIp` (an IPv6 address counts for its /64).
   */
  connectionsFrom(address: string): number {
    return this.perAddress?.count(addressKey(address)) ?? 0;
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

  /** @internal */
  get maxChannels(): number {
    return this.options.maxChannels;
  }

  /** Open WebSocket connections, raw and Lifeline. */
  get connectionCount(): number {
    return this.connections.size + this.links.size;
  }

  /** Live Lifeline sessions, connected or waiting to be resumed, on every route. */
  get sessions(): Socket[] {
    return this.lifelineRoutes.flatMap((route) => [...route.store.values()]);
  }

  /** @internal LifelineAppHost */
  get handshakeTimeout(): number {
    return this.options.handshakeTimeout;
  }

  /** @internal LifelineAppHost: `hb` of a welcome; with the heartbeat off, the largest value (no pings come). */
  get heartbeatInterval(): number {
    const hb = this.options.heartbeat;
    return hb ? Math.min(hb.interval, MAX_HEARTBEAT_INTERVAL) : MAX_HEARTBEAT_INTERVAL;
  }

  /** @internal LifelineAppHost */
  linkOpened(link: Link): void {
    this.links.add(link);
  }

  /** @internal LifelineAppHost */
  linkClosed(link: Link): void {
    this.links.delete(link);
    addEnded(this.endedTotals, undefined, transportBytes(link.raw));
  }

  /**
   * What the server is doing now: connections by route, sessions, message and byte totals
   * and per-second rates, routes (docs/server.md, "Stats"). Sums the live connections'
   * own counters, so it costs nothing until called.
   */
  stats(): AppStats {
    return (this.statsCollector ??= new StatsCollector(this.statsSource())).snapshot();
  }

  /**
   * Answers `GET /api/stats` (or `options.path`) with `stats()` as JSON. With `options.token`
   * every request needs `Authorization: Bearer <token>`; without one, only a server bound
   * to loopback alone answers (403 otherwise). Off unless called; `lifeline serve` calls it.
   */
  statsEndpoint(options: StatsEndpointOptions = {}): this {
    const servers = this.attached;
    const handlers = statsHandlers(options, () => this.stats(), () => [...servers.keys()].map(bindAddressOf));
    const path = options.path ?? '/api/stats';
    this.get(path, handlers.get);
    this.http('OPTIONS', path, handlers.options);
    this.statsCollector ??= new StatsCollector(this.statsSource()); // the baseline of the first rate
    return this;
  }

  /**
   * `POST /api/handshake-check` (or `options.path`): makes one WebSocket opening handshake
   * for a page this server serves and reports what came back (status line, the headers that
   * explain a refusal, the subprotocol selected, or the network error), which a browser
   * cannot learn itself. Narrow by design (handshake-check.ts, docs/server.md): the admin
   * endpoints' access rule, same-origin pages only, ws/wss URLs only, no body returned,
   * bounded in time and size, `maxConcurrent` at a time and `perMinute` a minute. Off unless
   * called; `lifeline serve` calls it for its console.
   */
  handshakeCheckEndpoint(options: HandshakeCheckOptions = {}): this {
    const servers = this.attached;
    return this.http('POST', options.path ?? HANDSHAKE_CHECK_DEFAULTS.path, handshakeCheckHandler(options, () => [...servers.keys()].map(bindAddressOf)));
  }

  /**
   * `GET /metrics` (or `options.path`) in the Prometheus text format: connections by route
   * and mode, sessions, messages and bytes, closes by code, resumes and resets, replay-buffer
   * depth, channel fan-out and slow-subscriber actions, and Node's own metrics (event-loop
   * lag, heap, GC). Access as for `/api/stats`: `options.token` as a bearer token, or a
   * loopback bind. Off unless called; `lifeline serve` calls it.
   */
  metricsEndpoint(options: MetricsEndpointOptions = {}): this {
    if (this.metricsEvents) throw new LifelineError('LL_INVALID_OPTION', 'metricsEndpoint() was called twice: one registry per app.');
    const app = this;
    this.statsCollector ??= new StatsCollector(this.statsSource());
    const collector = this.statsCollector;
    const { registry, events } = createMetrics({
      hub: this.hub,
      totals: () => collector.totals(),
      connections: () => {
        const counts = new Map<string, { route: string; mode: 'raw' | 'lifeline'; count: number }>();
        const add = (route: string, mode: 'raw' | 'lifeline') => {
          const key = `${mode} ${route}`;
          const entry = counts.get(key) ?? { route, mode, count: 0 };
          entry.count++;
          counts.set(key, entry);
        };
        for (const socket of app.connections) add(socket.route, 'raw');
        for (const session of app.sessions) if ((session as SessionSocketLike).connected) add(session.route, 'lifeline');
        return [...counts.values()];
      },
      sessions: () => {
        let connected = 0;
        let waiting = 0;
        let replayMessages = 0;
        let replayBytes = 0;
        for (const session of app.sessions) {
          if ((session as SessionSocketLike).connected) connected++;
          else waiting++;
          const { replayMessages: m = 0, replayBytes: b = 0 } = session.stats;
          replayMessages += m;
          replayBytes += b;
        }
        return { connected, waiting, replayMessages, replayBytes };
      },
    });
    this.metricsEvents = events;
    const servers = this.attached;
    const admitted = adminGate(options.token, () => [...servers.keys()].map(bindAddressOf));
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

  /** @internal LifelineAppHost: for /metrics. */
  sessionResumed(): void {
    this.metricsEvents?.resumed();
  }

  /** @internal LifelineAppHost: for /metrics. */
  sessionReset(reason: string): void {
    this.metricsEvents?.reset(reason);
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

  private statsSource(): StatsSource {
    const app = this;
    const routes = this.lifelineRoutes;
    return {
      createdAt: this.createdAt,
      get connectionCount() {
        return app.connectionCount;
      },
      maxConnections: this.options.maxConnections,
      rawSockets: this.connections,
      liveSessions: {
        *[Symbol.iterator]() {
          for (const route of routes) yield* route.store.values();
        },
      },
      lifelineTransports: {
        *[Symbol.iterator]() {
          for (const link of app.links) yield transportBytes(link.raw);
        },
      },
      endedTotals: this.endedTotals,
      hub: this.hub,
      get routeList() {
        return {
          ws: app.wsPaths.map((path) => ({ path, lifeline: routes.some((route) => route.path === path) })),
          http: [...app.httpRoutesByPath].map(([path, methods]) => ({ path, methods: [...methods.keys()] })),
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

  get maxBufferedBytes(): number {
    return this.options.maxBufferedBytes;
  }

  /** @internal SocketHost: the structural bounds on what peers send. */
  get limits(): DecodeLimits {
    return this.options.limits;
  }

  get slowConsumer(): ResolvedOptions['slowConsumer'] {
    return this.options.slowConsumer;
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
    const maxPayload = options.maxPayload ?? this.options.maxPayload;
    if (!(maxPayload > 0)) throw new LifelineError('LL_INVALID_OPTION', `Route "${path}": maxPayload must be a positive number of bytes.`);
    const protocols = options.protocols;
    const lifeline = options.lifeline ? new LifelineRoute(path, resolveLifelineOptions(path, options.lifeline), this, handler, maxPayload, this.options.limits) : undefined;
    const auth = options.auth === undefined ? undefined : new RouteAuth(path, options.auth, () => this.logger);
    if (lifeline) lifeline.auth = auth;
    const lifelineProtocols = lifeline?.protocols;
    let handleProtocols: ((offered: Set<string>) => string | false) | undefined;
    if (lifelineProtocols) {
      // Lifeline first; otherwise the route's own list, or (without one) the first offered, as ws does.
      handleProtocols = (offered) =>
        lifelineProtocols.find((p) => offered.has(p)) ?? (protocols ? (protocols.find((p) => offered.has(p)) ?? false) : (offered.values().next().value ?? false));
    } else if (protocols) {
      handleProtocols = (offered) => protocols.find((p) => offered.has(p)) ?? false;
    }
    // A token entry (`lifeline.auth.…`) is never selected: the answer would echo the token.
    const choose = handleProtocols;
    handleProtocols = (offered) => {
      const real = new Set([...offered].filter((p) => !isAuthProtocol(p)));
      return choose ? real.size > 0 && choose(real) : (real.values().next().value ?? false);
    };
    const server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload,
      handleProtocols,
    });
    const hb = options.textHeartbeat;
    this.wsRoutes.add(path, {
      path,
      handler,
      server,
      textHeartbeat: hb ? { message: Buffer.from(hb.message), reply: hb.reply } : undefined,
      lifeline,
      auth,
      inboundLimit: this.routeInboundLimit(path, maxPayload),
    });
    if (lifeline) {
      this.lifelineRoutes.push(lifeline);
      if (this.attached.size > 0) this.startKeepAlive();
    }
    return this;
  }

  /** Adds an HTTP route, for the server's own pages and APIs. Not a general HTTP framework. */
  http(method: HttpMethod, path: string, handler: HttpHandler): this {
    let methods = this.httpRoutesByPath.get(path);
    if (!methods) {
      methods = new Map();
      this.httpRoutes.add(path, methods);
      this.httpRoutesByPath.set(path, methods);
    }
    if (methods.has(method)) throw new LifelineError('LL_ROUTE_CONFLICT', `HTTP route ${method} ${path} is already taken.`);
    methods.set(method, handler);
    if (method === 'GET' && !methods.has('HEAD')) methods.set('HEAD', handler);
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
    const route = this.httpRoutes.find(pathname);
    if (route) {
      const handler = route.value.get(request.method ?? 'GET');
      if (!handler) {
        const allow = [...route.value.keys()].join(', ');
        sendText(response, 405, `${request.method} is not allowed on ${pathname}; use ${allow}.`, { Allow: allow });
        return true;
      }
      this.runHttpHandler(handler, request, response, route.params);
      return true;
    }
    if (this.wsRoutes.find(pathname)) {
      if (this.currentState !== 'running') {
        // After shutdown() the upgrade listener is gone and Node hands upgrades to the request handler.
        sendText(response, 503, 'The server is shutting down; retry shortly.', { 'Retry-After': '5' });
        return true;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        sendText(response, 405, `${pathname} is a WebSocket endpoint; open it with a GET upgrade request.`, { Allow: 'GET' });
        return true;
      }
      const host = request.headers.host ?? 'localhost';
      sendText(
        response,
        426,
        `${pathname} is a WebSocket endpoint. Connect with a WebSocket client to ws://${host}${request.url ?? pathname} ` +
          `(wss:// behind TLS), not http://.`,
        { Upgrade: 'websocket', Connection: 'Upgrade' },
      );
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
    if (this.attached.has(server)) return this;
    const unknownPaths = options.unknownPaths ?? 'reject';
    const listener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.handleUpgrade(request, socket, head, { unknownPaths });
    };
    server.on('upgrade', listener);
    this.attached.set(server, listener);
    this.sweep?.start();
    this.startKeepAlive();
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
    const timeout = this.options.handshakeTimeout;
    const serverOptions = {
      // Bounds the time to a complete upgrade request (slowloris); Node checks it on this period.
      headersTimeout: timeout,
      requestTimeout: Math.max(timeout, 30_000),
      connectionsCheckingInterval: Math.min(1000, Math.max(50, timeout / 4)),
    };
    const onRequest = (request: IncomingMessage, response: ServerResponse) => {
      if (!this.handleRequest(request, response)) this.notFound(request, response);
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
    this.logger.log('info', 'shutdown', { connections: this.connectionCount, code: options.code });
    const ownClosed = this.ownServer ? closeServer(this.ownServer) : Promise.resolve();
    const text = options.code === 1012 ? 'server restart' : 'server going away';
    const hint = () => formatRetryHint(text, Math.random() * options.retryWindow);
    for (const socket of this.connections) socket.close(options.code, hint());
    // Sessions end with the process (the in-memory store goes with it); so do connections still before their hello.
    // With a shared store, sessions are handed off rather than ended: each client resumes on another node.
    const sessions = this.lifelineRoutes.flatMap((route) => [...route.store.values()]);
    const spread = await this.handOffSpread(sessions.length, options);
    const handOffs = sessions.map((session) =>
      this.sessionStore ? session.handOff(options.code, formatRetryHint(text, Math.random() * spread), options.drainTimeout) : session.close(options.code, hint()),
    );
    for (const link of this.links) if (link.session === null) link.closeWith(options.code, hint());
    await Promise.all(handOffs);
    await this.waitForConnections(options.drainTimeout);
    const cutOff = this.connectionCount;
    if (cutOff > 0) {
      this.logger.log('warn', 'shutdown-cut-off', { connections: cutOff, drainTimeout: options.drainTimeout });
      for (const socket of this.connections) socket.terminate();
      for (const link of this.links) link.terminate();
      await this.waitForConnections(1000); // their close events follow the destroyed sockets
    }
    this.sweep?.stop();
    clearInterval(this.keepAliveTimer);
    this.statsCollector?.stop();
    this.hub.close();
    if (this.ownBroker) await this.hub.broker.close();
    this.ownServer?.closeAllConnections();
    await ownClosed;
    for (const server of [...this.attached.keys()]) this.detach(server);
    this.currentState = 'closed';
    this.logger.log('info', 'shutdown-done', { durationMs: Date.now() - started });
  }

  /**
   * Over how many ms the clients of handed-off sessions are told to come back (PROTOCOL.md
   * §1.4): with other nodes sharing the store, only as long as they need to take `sessions`
   * resumes at `handOffRate` each; alone (or not knowing), the whole `retryWindow`.
   */
  private async handOffSpread(sessions: number, options: Required<ShutdownOptions>): Promise<number> {
    const store = this.sessionStore;
    if (store?.otherNodes === undefined || sessions === 0) return options.retryWindow;
    let others = 0;
    try {
      others = await store.otherNodes();
    } catch (error) {
      this.logger.log('warn', 'shutdown-node-count-failed', { error: (error as Error).message });
    }
    if (others === 0) return options.retryWindow;
    const spread = Math.min(options.retryWindow, Math.ceil((sessions * 1000) / (others * options.handOffRate)));
    this.logger.log('info', 'shutdown-hand-off', { sessions, otherNodes: others, spreadMs: spread });
    return spread;
  }

  private waitForConnections(timeoutMs: number): Promise<void> {
    if (this.connectionCount === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const check = setInterval(() => this.connectionCount === 0 && done(), 20);
      function done() {
        clearTimeout(timer);
        clearInterval(check);
        resolve();
      }
    });
  }

  /**
   * Routes one upgrade request, for servers that dispatch `upgrade` events themselves.
   * Returns true when the app took the request (upgraded or refused it), false when the
   * path is not one of its routes and `unknownPaths` is `ignore` — then the caller must
   * answer it.
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, options: AttachOptions = {}): boolean {
    const pathname = pathOf(request.url);
    const found = this.wsRoutes.find(pathname);
    if (!found) {
      if (options.unknownPaths === 'ignore') return false;
      const known = this.wsRoutes.paths;
      this.refuse(request, socket, {
        status: 404,
        message:
          `No WebSocket route at ${pathname}. ` +
          (known.length ? `Known WebSocket routes: ${known.join(', ')}.` : 'This server has no WebSocket routes.'),
      });
      return true;
    }
    const rejection =
      this.checkCapacity() ?? this.checkAddress(request, socket) ?? checkUpgradeHeaders(request) ?? checkOrigin(this.options.allowedOrigins, request) ?? checkProtocols(found.value, request);
    if (rejection) {
      this.refuse(request, socket, rejection);
      return true;
    }

    const route = found.value;
    // Without verifyClient, ws completes (or refuses) the handshake synchronously.
    const upgrade = () => route.server.handleUpgrade(request, socket, head, (ws) => {
      const remote = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
      const codec = route.lifeline && ws.protocol ? route.lifeline.codecFor(ws.protocol) : undefined;
      if (codec) {
        // Lifeline mode: the handler runs once the hello has started a session (lifeline-route.ts).
        const link = route.lifeline!.accept(ws, socket, codec, {
          id: (this.nextId++).toString(36),
          url: request.url ?? pathname,
          params: found.params,
          remoteAddress: remote,
          request,
        });
        link.limitInbound(route.inboundLimit);
        if (this.logger.enabled('info')) {
          this.logger.log('info', 'connect', { id: link.id, remote, route: route.path, path: pathname, protocol: ws.protocol });
        }
        return;
      }
      const conn = new Socket(ws, socket, this, {
        id: (this.nextId++).toString(36),
        route: route.path,
        url: request.url ?? pathname,
        params: found.params,
        remoteAddress: remote,
        textHeartbeat: route.textHeartbeat,
        inboundLimit: route.inboundLimit,
      });
      this.connections.add(conn);
      if (this.logger.enabled('info')) {
        this.logger.log('info', 'connect', { id: conn.id, remote, route: route.path, path: pathname, protocol: ws.protocol || undefined });
      }
      if (route.auth) route.auth.admit(conn, ws, request, () => this.runWsHandler(route.handler, conn, request));
      else this.runWsHandler(route.handler, conn, request);
    });
    // With auth, the token is verified (asynchronously) before the handshake completes (auth.ts).
    if (route.auth) {
      route.auth.upgrade(request, socket, {
        appOrigins: this.options.allowedOrigins,
        recheck: () => this.checkCapacity(),
        refuse: (rejection) => this.refuse(request, socket, rejection),
        upgrade,
      });
    } else upgrade();
    return true;
  }

  private sessionClaimed(sessionId: string, kind: 'release' | 'moved', attach: number | undefined): void {
    const session = this.lifelineRoutes.map((route) => route.store.get(sessionId)).find((found) => found !== undefined);
    if (kind === 'moved') session?.movedAway();
    else if (session !== undefined) {
      // Meant for the connection this copy is on, and no resume of it being confirmed here (that
      // resume is newer than the claim, which then finds the session on a later attach and asks again).
      if (session.confirming > 0 || (attach !== undefined && session.journal?.attach !== attach)) return;
      void session.handOver(HANDOVER_STORE_TIMEOUT_MS);
    } else {
      this.sessionStore!.releaseOrphan(sessionId).catch((error: unknown) => {
        this.logger.log('warn', 'session-release-failed', { sid: sessionId, error: (error as Error).message });
      });
    }
  }

  /**
   * With a shared store, each session's entry expires unless its node refreshes it: sessions
   * that sent or received something did; the idle ones are refreshed here, a few times per
   * resume window, in one batch per route.
   */
  private startKeepAlive(): void {
    const store = this.sessionStore;
    if (store === undefined || this.keepAliveTimer !== undefined || this.lifelineRoutes.length === 0) return;
    const window = Math.min(...this.lifelineRoutes.map((route) => route.options.resumeWindow));
    this.keepAliveTimer = setInterval(() => {
      for (const route of this.lifelineRoutes) {
        const ids = [...route.store.values()].map((session) => session.sessionId);
        if (ids.length === 0) continue;
        store.keepAlive(ids, route.options.resumeWindow).catch((error: unknown) => {
          this.logger.log('warn', 'session-store-keepalive-failed', { route: route.path, sessions: ids.length, error: (error as Error).message });
        });
      }
    }, Math.max(1000, window / 4));
    this.keepAliveTimer.unref();
  }

  /**
   * `maxConnectionsPerIp`: takes a slot for this connection under its client's address, or
   * answers 429. The slot is given back when the TCP socket closes, however the upgrade or
   * the connection ends (client-address.ts).
   */
  private checkAddress(request: IncomingMessage, socket: Duplex): Rejection | null {
    const perAddress = this.perAddress;
    if (perAddress === undefined) return null;
    const { trustProxy, clientAddress } = this.options;
    const address = clientAddressOf(request, trustProxy, clientAddress);
    if (perAddress.tryTake(socket, addressKey(address))) return null;
    if (!this.proxyHintLogged && trustProxy === 0 && clientAddress === undefined && request.headers['x-forwarded-for'] !== undefined) {
      this.proxyHintLogged = true;
      this.logger.log('warn', 'connections-per-ip-behind-proxy', {
        address,
        max: perAddress.max,
        hint: 'requests carry X-Forwarded-For but trustProxy is off: behind a reverse proxy every client has its address; set trustProxy',
      });
    }
    return {
      status: 429,
      message: `Too many connections from ${address}: at most ${perAddress.max} per address. Close some, or retry later.`,
      headers: { 'Retry-After': '10' },
    };
  }

  /** The route's rate limit: the app's, unless the route's maxPayload needs a larger byte burst than the app's default one. */
  private routeInboundLimit(path: string, maxPayload: number): InboundLimit | undefined {
    const limit = this.inboundLimit;
    if (limit === undefined) return undefined;
    const { options } = limit;
    if (options.bytesPerSecond === 0 || options.byteBurst >= maxPayload) return limit;
    if (options.byteBurstExplicit) {
      throw new LifelineError(
        'LL_INVALID_OPTION',
        `Route "${path}": maxPayload ${maxPayload} is over rateLimit.byteBurst (${options.byteBurst}), so a message of the largest allowed size could never pass; raise rateLimit.byteBurst.`,
      );
    }
    return new InboundLimit({ ...options, byteBurst: maxPayload });
  }

  private checkCapacity(): Rejection | null {
    if (this.currentState !== 'running') {
      return { status: 503, message: 'The server is shutting down; retry shortly.', headers: { 'Retry-After': '5' } };
    }
    const max = this.options.maxConnections;
    if (this.connectionCount >= max) {
      return { status: 503, message: `The server is at its connection limit (${max}); retry later.`, headers: { 'Retry-After': '5' } };
    }
    return null;
  }

  private refuse(request: IncomingMessage, socket: Duplex, rejection: Rejection): void {
    if (this.logger.enabled('info')) {
      this.logger.log('info', 'upgrade-refused', {
        remote: `${request.socket.remoteAddress}:${request.socket.remotePort}`,
        path: pathOf(request.url),
        status: rejection.status,
        reason: rejection.message,
      });
    }
    writeRejection(socket, rejection);
  }

  /** @internal */
  runWsHandler(handler: WsHandler, socket: Socket, request: IncomingMessage): void {
    let result: unknown;
    try {
      result = handler(socket, request);
    } catch (error) {
      this.handlerFailed(socket, error);
      return;
    }
    if (isPromiseLike(result)) {
      result.then(
        () => socket.handlerSettled(),
        (error: unknown) => this.handlerFailed(socket, error),
      );
    } else {
      socket.handlerSettled();
    }
  }

  private handlerFailed(socket: Socket, error: unknown): void {
    socket.handlerSettled();
    this.closeFor(socket, 'handler-error', error);
  }

  /**
   * @internal SocketHost: a listener threw. The process-level rule (docs/server.md): what an
   * application callback throws never becomes an uncaught exception; it is logged and its
   * connection closes — 1007 with the reason when `Message.json()` refused the peer's data,
   * else 1011 `internal error`.
   */
  listenerFailed(socket: Socket, event: 'message' | 'close' | 'drop' | 'error', error: unknown): void {
    this.closeFor(socket, 'listener-error', error, event);
  }

  private closeFor(socket: Socket, what: 'handler-error' | 'listener-error', error: unknown, event?: string): void {
    const peerData = error instanceof InvalidMessageError;
    if (peerData) {
      if (this.logger.enabled('info')) this.logger.log('info', what, { id: socket.id, route: socket.route, event, code: 1007, reason: error.reason });
    } else {
      this.logger.log('error', what, { id: socket.id, route: socket.route, event, sid: socket.sessionId, error: describeError(error) });
    }
    if (socket.isOpen) socket.close(peerData ? 1007 : 1011, peerData ? error.reason : 'internal error');
  }

  private runHttpHandler(handler: HttpHandler, request: IncomingMessage, response: ServerResponse, params: RouteParams): void {
    const fail = (error: unknown) => {
      this.logger.log('error', 'http-handler-error', { path: pathOf(request.url), error: describeError(error) });
      if (!response.headersSent) sendText(response, 500, 'Internal server error.');
      else response.destroy();
    };
    try {
      const result = handler(request, response, params);
      if (isPromiseLike(result)) result.then(undefined, fail);
    } catch (error) {
      fail(error);
    }
  }

  private notFound(request: IncomingMessage, response: ServerResponse): void {
    const http = this.httpRoutes.paths;
    const ws = this.wsRoutes.paths;
    sendText(
      response,
      404,
      `Nothing at ${pathOf(request.url)}.` +
        (http.length ? ` HTTP routes: ${http.join(', ')}.` : '') +
        (ws.length ? ` WebSocket routes: ${ws.join(', ')}.` : ''),
    );
  }

  /** @internal SocketHost */
  onSocketClose(socket: Socket, code: number, reason: string): void {
    this.connections.delete(socket);
    this.hub.removeSubscriber(socket);
    this.metricsEvents?.closed(code);
    // A session's bytes were counted on its transports (linkClosed).
    addEnded(this.endedTotals, socket, socket.lifeline ? undefined : socket);
    if (this.logger.enabled('info')) {
      const { messagesIn, messagesOut, dropped, rateLimited } = socket.stats;
      this.logger.log('info', 'close', {
        id: socket.id,
        remote: socket.remoteAddress,
        route: socket.route,
        code,
        reason: reason || undefined,
        durationMs: Date.now() - socket.connectedAt,
        messagesIn,
        messagesOut,
        dropped: dropped || undefined,
        rateLimited: rateLimited || undefined,
      });
    }
  }

  /** @internal SocketHost */
  onHeartbeatTimeout(socket: Socket, silentForMs: number): void {
    this.logger.log('info', 'heartbeat-timeout', { id: socket.id, remote: socket.remoteAddress, silentForMs });
  }
}

/**
 * How long a session asked for by another node may take to store what it holds before it
 * lets go; below the store's hand-over timeout (2 s by default), after which it is taken anyway.
 */
const HANDOVER_STORE_TIMEOUT_MS = 1_000;

export function createApp(options?: AppOptions): App {
  return new App(options);
}

function checkProtocols(route: WsRoute, request: IncomingMessage): Rejection | null {
  const header = request.headers['sec-websocket-protocol'];
  if (header === undefined) return null;
  // Token entries are not protocols to negotiate, and never go into a refusal (or its log line).
  const offered = header.split(',').map((p) => p.trim()).filter((p) => p !== '' && !isAuthProtocol(p));
  // A route without a list accepts the first offer (ws's default); a route with one must find a match.
  const handle = route.server.options.handleProtocols;
  if (!handle || offered.length === 0) return null;
  if (handle(new Set(offered), request) !== false) return null;
  return { status: 400, message: `Subprotocol negotiation failed: the client offered ${offered.join(', ')}; ${pathOf(request.url)} does not speak any of them.` };
}

/** The heartbeat sweep walks raw sockets and Lifeline links alike. */
function sweepTargets(sockets: Set<Socket>, links: Set<Link>): Iterable<SweepTarget> {
  return {
    *[Symbol.iterator]() {
      yield* sockets;
      yield* links;
    },
  };
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function sendText(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = text + '\n';
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  response.end(body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
