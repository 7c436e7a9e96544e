/**
 * The upgrade path: a pending upgrade (from the runtime's adapter) is routed, checked
 * (capacity, connections per address, headers, origin, subprotocols), authenticated, then
 * completed by the route's transport; the new connection becomes a raw Socket (and its
 * handler runs) or a Lifeline link that waits for its hello. Every refusal is a readable
 * HTTP answer, logged.
 */
import { pathOf } from '../leaves/http.js';
import type { RouteParams, RouteTable } from '../leaves/router.js';
import { RawSocket } from '../connection/raw-socket.js';
import type { PendingUpgrade, Rejection, Transport } from '../transport/transport.js';
import { admitRaw } from './auth/first-message.js';
import { authorizeUpgrade } from './auth/upgrade.js';
import { addressKey, clientAddressOf, ConnectionsPerAddress } from './client-address.js';
import type { Connections } from './connections.js';
import { checkOrigin, checkUpgradeHeaders } from './handshake.js';
import type { ResolvedOptions } from './options.js';
import { checkProtocols, type WsRoute } from './ws-route.js';

export class Upgrades {
  /** `maxConnectionsPerIp`: open connections per client address; undefined when there is no limit. */
  readonly perAddress: ConnectionsPerAddress | undefined;
  private proxyHintLogged = false;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly connections: Connections,
    private readonly routes: RouteTable<WsRoute>,
    /** False once the app is shutting down. */
    private readonly running: () => boolean,
  ) {
    if (options.maxConnectionsPerIp > 0) this.perAddress = new ConnectionsPerAddress(options.maxConnectionsPerIp);
  }

  /**
   * Routes one upgrade. Returns true when the app took it (upgraded or refused it), false
   * when the path is not one of its routes and `unknownPaths` is `ignore`.
   */
  handle(pending: PendingUpgrade, unknownPaths: 'reject' | 'ignore'): boolean {
    const request = pending.request;
    const pathname = pathOf(request.url);
    const found = this.routes.find(pathname);
    if (!found) {
      if (unknownPaths === 'ignore') return false;
      const known = this.routes.paths;
      this.refuse(pending, {
        status: 404,
        message: `No WebSocket route at ${pathname}. ` + (known.length ? `Known WebSocket routes: ${known.join(', ')}.` : 'This server has no WebSocket routes.'),
      });
      return true;
    }
    const route = found.value;
    const rejection =
      this.checkCapacity() ?? this.checkAddress(pending) ?? checkUpgradeHeaders(request) ?? checkOrigin(this.options.allowedOrigins, request) ?? checkProtocols(route, request);
    if (rejection) {
      this.refuse(pending, rejection);
      return true;
    }
    // With auth, the token is verified (asynchronously) before the handshake completes (auth/upgrade.ts).
    if (route.auth) {
      authorizeUpgrade(route.auth, pending, {
        appOrigins: this.options.allowedOrigins,
        recheck: () => this.checkCapacity(),
        refuse: (later) => this.refuse(pending, later),
        upgrade: () => this.accept(route, found.params, pending),
      });
    } else this.accept(route, found.params, pending);
    return true;
  }

  /** Completes the handshake (the route's transport); the connection opens at once, or the transport refuses it. */
  private accept(route: WsRoute, params: RouteParams, pending: PendingUpgrade): void {
    route.transport.accept(pending, (transport) => this.opened(route, params, pending, transport));
  }

  /** The handshake completed: a Lifeline link waiting for its hello, or a raw socket whose handler runs (after auth's first message, if due). */
  private opened(route: WsRoute, params: RouteParams, pending: PendingUpgrade, transport: Transport): void {
    const request = pending.request;
    const connections = this.connections;
    const logger = this.options.logger;
    const remote = pending.peer;
    const url = request.url ?? pathOf(request.url);
    const protocol = transport.protocol;
    const codec = route.lifeline && protocol ? route.lifeline.codecFor(protocol) : undefined;
    if (codec) {
      // Lifeline mode: the handler runs once the hello has started a session (lifeline/route.ts).
      const link = route.lifeline!.accept(transport, codec, { id: connections.newId(), url, params, remoteAddress: remote, request });
      link.limitInbound(route.inboundLimit);
      if (logger.enabled('info')) logger.log('info', 'connect', { id: link.id, remote, route: route.path, path: pathOf(request.url), protocol });
      return;
    }
    const socket = new RawSocket(transport, connections, {
      id: connections.newId(),
      route: route.path,
      url,
      params,
      remoteAddress: remote,
      textHeartbeat: route.textHeartbeat,
      inboundLimit: route.inboundLimit,
    });
    connections.raw.add(socket);
    if (logger.enabled('info')) logger.log('info', 'connect', { id: socket.id, remote, route: route.path, path: pathOf(request.url), protocol: protocol || undefined });
    if (route.auth) admitRaw(route.auth, socket, request, () => connections.runWsHandler(route.handler, socket, request));
    else connections.runWsHandler(route.handler, socket, request);
  }

  /** Shutting down (503), or at `maxConnections` (503). */
  checkCapacity(): Rejection | null {
    if (!this.running()) {
      return { status: 503, message: 'The server is shutting down; retry shortly.', headers: { 'Retry-After': '5' } };
    }
    const max = this.options.maxConnections;
    if (this.connections.count >= max) {
      return { status: 503, message: `The server is at its connection limit (${max}); retry later.`, headers: { 'Retry-After': '5' } };
    }
    return null;
  }

  /**
   * `maxConnectionsPerIp`: takes a slot for this connection under its client's address, or
   * answers 429. The slot is given back when the connection closes, however the upgrade or
   * the connection ends (client-address.ts).
   */
  private checkAddress(pending: PendingUpgrade): Rejection | null {
    const perAddress = this.perAddress;
    if (perAddress === undefined) return null;
    const { trustProxy, clientAddress, logger } = this.options;
    const address = clientAddressOf(pending, trustProxy, clientAddress);
    if (perAddress.tryTake(pending, addressKey(address))) return null;
    if (!this.proxyHintLogged && trustProxy === 0 && clientAddress === undefined && pending.request.headers['x-forwarded-for'] !== undefined) {
      this.proxyHintLogged = true;
      logger.log('warn', 'connections-per-ip-behind-proxy', {
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

  private refuse(pending: PendingUpgrade, rejection: Rejection): void {
    const logger = this.options.logger;
    if (logger.enabled('info')) {
      logger.log('info', 'upgrade-refused', { remote: pending.peer, path: pathOf(pending.request.url), status: rejection.status, reason: rejection.message });
    }
    pending.refuse(rejection);
  }
}
