/**
 * One WebSocket route as the app keeps it: its handler, the runtime's transport for it
 * (maxPayload, the subprotocol choice), its Lifeline side, its authentication and its
 * inbound rate limit; and the subprotocol check that answers a failed negotiation with a
 * readable 400 before the transport sees the request.
 */
import type { IncomingMessage } from 'node:http';
import { LifelineError } from '@lifeline/protocol';
import { pathOf } from '../leaves/http.js';
import { InboundLimit } from '../leaves/rate-limit.js';
import { resolveLifelineOptions, type LifelineOptions } from '../lifeline/options.js';
import { LifelineRoute, type LifelineAppHost } from '../lifeline/route.js';
import type { Rejection, RouteTransport, TransportRuntime } from '../transport/transport.js';
import { HelloAuth } from './auth/hello.js';
import { RouteAuth, type AuthOptions } from './auth/options.js';
import { isAuthProtocol } from './auth/tokens.js';
import type { WsHandler } from './handlers.js';

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

export interface WsRoute {
  readonly path: string;
  readonly handler: WsHandler;
  readonly transport: RouteTransport;
  /** Picks the subprotocol from what the client offered, without token entries; false: none fits. */
  readonly selectProtocol: (offered: Set<string>) => string | false;
  /** The heartbeat text, and its bytes (compared with a text message received as bytes, on Node). */
  readonly textHeartbeat: { message: string; bytes: Buffer; reply: string } | undefined;
  readonly lifeline: LifelineRoute | undefined;
  readonly auth: RouteAuth | undefined;
  /** Inbound rate limit of the route's connections (the app's, with the byte burst raised to the route's maxPayload if need be). */
  readonly inboundLimit: InboundLimit | undefined;
}

/** The app's settings a route starts from. */
export interface WsRouteDefaults {
  readonly maxPayload: number;
  /** The app's inbound rate limit; undefined when off. */
  readonly inboundLimit: InboundLimit | undefined;
  /** The runtime's WebSocket server, which makes the route's transport. */
  readonly runtime: TransportRuntime;
}

export function createWsRoute(path: string, options: WsRouteOptions, handler: WsHandler, host: LifelineAppHost, defaults: WsRouteDefaults): WsRoute {
  const maxPayload = options.maxPayload ?? defaults.maxPayload;
  if (!(maxPayload > 0)) throw new LifelineError('LL_INVALID_OPTION', `Route "${path}": maxPayload must be a positive number of bytes.`);
  const protocols = options.protocols;
  const lifeline = options.lifeline ? new LifelineRoute(path, resolveLifelineOptions(path, options.lifeline), host, handler, maxPayload, host.limits) : undefined;
  const auth = options.auth === undefined ? undefined : new RouteAuth(path, options.auth, () => host.logger);
  if (lifeline && auth) lifeline.auth = new HelloAuth(auth);
  const lifelineProtocols = lifeline?.protocols;
  let choose: ((offered: Set<string>) => string | false) | undefined;
  if (lifelineProtocols) {
    // Lifeline first; otherwise the route's own list, or (without one) the first offered, as ws does.
    choose = (offered) =>
      lifelineProtocols.find((p) => offered.has(p)) ?? (protocols ? (protocols.find((p) => offered.has(p)) ?? false) : (offered.values().next().value ?? false));
  } else if (protocols) {
    choose = (offered) => protocols.find((p) => offered.has(p)) ?? false;
  }
  // A token entry (`lifeline.auth.…`) is never selected: the answer would echo the token.
  const selectProtocol = (offered: Set<string>): string | false => {
    const real = new Set([...offered].filter((p) => !isAuthProtocol(p)));
    return choose ? real.size > 0 && choose(real) : (real.values().next().value ?? false);
  };
  const hb = options.textHeartbeat;
  return {
    path,
    handler,
    transport: defaults.runtime.route({ maxPayload, selectProtocol }),
    selectProtocol,
    textHeartbeat: hb ? { message: hb.message, bytes: Buffer.from(hb.message), reply: hb.reply } : undefined,
    lifeline,
    auth,
    inboundLimit: routeInboundLimit(defaults.inboundLimit, path, maxPayload),
  };
}

/** A client that offers subprotocols, none of which the route speaks: 400, naming them (never a token entry). */
export function checkProtocols(route: WsRoute, request: IncomingMessage): Rejection | null {
  const header = request.headers['sec-websocket-protocol'];
  if (header === undefined) return null;
  // Token entries are not protocols to negotiate, and never go into a refusal (or its log line).
  const offered = header.split(',').map((p) => p.trim()).filter((p) => p !== '' && !isAuthProtocol(p));
  // A route without a list accepts the first offer (ws's default); a route with one must find a match.
  if (offered.length === 0) return null;
  if (route.selectProtocol(new Set(offered)) !== false) return null;
  return { status: 400, message: `Subprotocol negotiation failed: the client offered ${offered.join(', ')}; ${pathOf(request.url)} does not speak any of them.` };
}

/** The route's rate limit: the app's, unless the route's maxPayload needs a larger byte burst than the app's default one. */
function routeInboundLimit(limit: InboundLimit | undefined, path: string, maxPayload: number): InboundLimit | undefined {
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
