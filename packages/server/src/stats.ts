import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { LifelineError } from '@lifeline/protocol';
import { bearerToken, sameSecret } from './bearer.js';
import type { ChannelHub, ChannelHubStats } from './channels/hub.js';

/**
 * `GET /api/stats`: what a Lifeline server is doing now (connections, sessions, message and
 * byte counts and rates, routes), for the console's server panel and for `curl`.
 *
 * Nothing here touches the message path: message counts are the per-socket counters the
 * sockets keep anyway (Socket.stats), byte counts are the TCP sockets' own counters, and
 * both are summed over the live connections only when someone asks, at most a few times a
 * second. Closed connections add their final counts to a running total once, at close.
 */

/** Counts since the server started (or per second, in `rates`). */
export interface StatsCounts {
  messagesIn: number;
  messagesOut: number;
  /** Bytes on the wire (frames with their headers, the upgrade request and answer). */
  bytesIn: number;
  bytesOut: number;
}

export interface RouteStats {
  route: string;
  /** Open raw-mode connections on the route. */
  raw: number;
  /** Lifeline sessions carried by a connection now. */
  lifeline: number;
  /** Lifeline sessions waiting to be resumed (their connection dropped). */
  waiting: number;
}

export interface AppStats {
  /** When the app was created (ISO 8601). */
  startedAt: string;
  uptimeMs: number;
  connections: {
    /** Open WebSocket connections of every kind (what `maxConnections` limits). */
    total: number;
    max: number;
    byRoute: RouteStats[];
  };
  sessions: { live: number; connected: number; waiting: number };
  totals: StatsCounts;
  /** Per second, averaged over `windowMs`: about the last 5 s while someone polls, else since the previous look (or since the endpoint was mounted). `null` while that is under 1 s. */
  rates: (StatsCounts & { windowMs: number }) | null;
  routes: { ws: { path: string; lifeline: boolean }[]; http: { path: string; methods: string[] }[] };
  /** Channels (and patterns) this process's connections subscribe to, with their local subscriber counts, and the fan-out counters. */
  channels: { channel: string; subscribers: number }[];
  fanOut: ChannelHubStats;
}

/** What a live raw socket, Lifeline session or Lifeline transport offers the collector. */
interface Counted {
  readonly stats: { messagesIn: number; messagesOut: number };
}
interface Transport {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** What the collector reads from the app. */
export interface StatsSource {
  readonly createdAt: number;
  readonly connectionCount: number;
  readonly maxConnections: number;
  /** Open raw sockets: messages and bytes. */
  readonly rawSockets: Iterable<Counted & Transport & { readonly route: string }>;
  /** Live sessions: messages (their bytes are counted on their transports). */
  readonly liveSessions: Iterable<Counted & { readonly route: string; readonly connected: boolean }>;
  /** Open Lifeline transports: bytes. */
  readonly lifelineTransports: Iterable<Transport>;
  readonly endedTotals: StatsCounts;
  readonly routeList: AppStats['routes'];
  readonly hub: ChannelHub;
}

/** How often the collector samples while someone is watching, and for how long after the last look. */
const SAMPLE_EVERY_MS = 1000;
const WATCH_FOR_MS = 60_000;
const RATE_WINDOW_MS = 5000;
/** Samples closer together than this are not kept for rates: a fast poller cannot grow the ring or shrink the window. */
const MIN_SPACING_MS = 250;
/** A rate over less than this would be noise; until then `rates` is null. */
const MIN_WINDOW_MS = 1000;

interface Sample extends StatsCounts {
  at: number;
}

/** Reads a transport's TCP byte counters (0 for a stream that has none). */
export function transportBytes(raw: Duplex): Transport {
  const counted = raw as Duplex & { bytesRead?: number; bytesWritten?: number };
  return { bytesRead: counted.bytesRead ?? 0, bytesWritten: counted.bytesWritten ?? 0 };
}

/** Adds a closed connection's final counts; called once per raw socket, session and transport. */
export function addEnded(totals: StatsCounts, counted: Counted | undefined, transport: Transport | undefined): void {
  if (counted) {
    const { messagesIn, messagesOut } = counted.stats;
    totals.messagesIn += messagesIn;
    totals.messagesOut += messagesOut;
  }
  if (transport) {
    totals.bytesIn += transport.bytesRead;
    totals.bytesOut += transport.bytesWritten;
  }
}

export class StatsCollector {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastLook = 0;

  constructor(private readonly source: StatsSource) {
    // A baseline, so that the first look already has a rate (averaged since now).
    this.samples.push(this.take(Date.now()));
  }

  snapshot(now = Date.now()): AppStats {
    this.lastLook = now;
    this.watch();
    const latest = this.sample(now);
    const s = this.source;
    const byRoute = new Map<string, RouteStats>();
    const routeOf = (route: string) => {
      let entry = byRoute.get(route);
      if (!entry) byRoute.set(route, (entry = { route, raw: 0, lifeline: 0, waiting: 0 }));
      return entry;
    };
    for (const socket of s.rawSockets) routeOf(socket.route).raw++;
    let live = 0;
    let connected = 0;
    for (const session of s.liveSessions) {
      live++;
      if (session.connected) {
        connected++;
        routeOf(session.route).lifeline++;
      } else routeOf(session.route).waiting++;
    }
    const { at: _at, ...totals } = latest;
    return {
      startedAt: new Date(s.createdAt).toISOString(),
      uptimeMs: now - s.createdAt,
      connections: { total: s.connectionCount, max: s.maxConnections, byRoute: [...byRoute.values()] },
      sessions: { live, connected, waiting: live - connected },
      totals,
      rates: this.rates(latest),
      routes: s.routeList,
      channels: s.hub.subscriberCounts(),
      fanOut: { ...s.hub.stats },
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Totals since the app started, summed now, without starting the rate sampler (what /metrics reads). */
  totals(now = Date.now()): StatsCounts {
    const { at: _at, ...totals } = this.take(now);
    return totals;
  }

  private watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const now = Date.now();
      if (now - this.lastLook > WATCH_FOR_MS) this.stop();
      else this.sample(now);
    }, SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  private sample(now: number): Sample {
    const next = this.take(now);
    if (now - this.samples[this.samples.length - 1]!.at < MIN_SPACING_MS) return next;
    this.samples.push(next);
    // Keep the newest sample at least RATE_WINDOW_MS old, and nothing older.
    while (this.samples.length > 2 && this.samples[1]!.at <= now - RATE_WINDOW_MS) this.samples.shift();
    return next;
  }

  private take(at: number): Sample {
    const s = this.source;
    const sample: Sample = { at, ...s.endedTotals };
    for (const socket of s.rawSockets) addEnded(sample, socket, socket);
    for (const session of s.liveSessions) addEnded(sample, session, undefined);
    for (const transport of s.lifelineTransports) addEnded(sample, undefined, transport);
    return sample;
  }

  private rates(latest: Sample): AppStats['rates'] {
    const base = this.samples[0]!;
    const windowMs = latest.at - base.at;
    if (windowMs < MIN_WINDOW_MS) return null;
    const perSecond = (key: keyof StatsCounts) => Math.round(((latest[key] - base[key]) * 1000) / windowMs);
    return {
      windowMs,
      messagesIn: perSecond('messagesIn'),
      messagesOut: perSecond('messagesOut'),
      bytesIn: perSecond('bytesIn'),
      bytesOut: perSecond('bytesOut'),
    };
  }
}

export interface StatsEndpointOptions {
  /** Where to answer. Default `/api/stats`. */
  path?: string;
  /**
   * The admin token: when set, every request needs `Authorization: Bearer <token>`. When
   * unset, the endpoint answers only while every server the app is attached to is bound to
   * a loopback address (127.0.0.0/8, ::1), and 403 otherwise.
   */
  token?: string;
}

/** The answer to one request: allowed, or refused with a status and a sentence. */
export type StatsAccess = { ok: true; byToken: boolean } | { ok: false; status: 401 | 403; message: string };

/**
 * Who may read the stats: a configured token is always required (behind a reverse proxy on
 * the same machine a loopback-bound server is reachable from anywhere, and only the
 * operator knows that); without one, only a server bound to loopback alone answers.
 * `bindAddresses` are the addresses of the servers the app is attached to; an app that
 * knows none (used only through middleware()) cannot tell, so it is treated as exposed.
 */
export function checkStatsAccess(authorization: string | undefined, token: string | undefined, bindAddresses: readonly (string | null)[]): StatsAccess {
  if (token !== undefined) {
    const offered = bearerToken(authorization);
    if (offered !== undefined && sameSecret(offered, token)) return { ok: true, byToken: true };
    return {
      ok: false,
      status: 401,
      message: offered === undefined ? 'This admin endpoint (stats, metrics, handshake check) needs "Authorization: Bearer <admin token>".' : 'The admin token does not match.',
    };
  }
  if (bindAddresses.length > 0 && bindAddresses.every(isLoopbackBind)) return { ok: true, byToken: false };
  return {
    ok: false,
    status: 403,
    message:
      'The admin endpoints (stats, metrics, handshake check) are off: this server is not bound to a loopback address only, and no admin token is set. ' +
      'Set one (lifeline serve --admin-token, or the LIFELINE_ADMIN_TOKEN environment variable) and send it as "Authorization: Bearer <token>".',
  };
}

/**
 * The access rule of the admin endpoints (`/api/stats`, `/metrics`, the handshake check) as
 * a gate: checks the token's form once, then for each request answers a refusal itself (401
 * with `WWW-Authenticate`, or 403, plus `headers`) and returns undefined, or returns the
 * granted access.
 */
export function adminGate(
  token: string | undefined,
  bindAddresses: () => (string | null)[],
): (request: IncomingMessage, response: ServerResponse, headers?: Record<string, string>) => (StatsAccess & { ok: true }) | undefined {
  if (token !== undefined && (typeof token !== 'string' || !/^[\x21-\x7e]{8,}$/.test(token))) {
    // The value itself is never repeated back: it may be a real secret with a typo.
    throw new LifelineError('LL_INVALID_OPTION', 'The admin token (statsEndpoint.token; lifeline serve --admin-token) must be at least 8 printable ASCII characters without spaces: it travels in an Authorization header.');
  }
  return (request, response, headers = {}) => {
    const access = checkStatsAccess(request.headers.authorization, token, bindAddresses());
    if (access.ok) return access;
    refuse(response, access.status, access.message, { ...headers, ...(access.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="lifeline"' } : {}) });
    return undefined;
  };
}

/** A plain-text refusal that is never cached. */
export function refuse(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = message + '\n';
  response.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  response.end(body);
}

/**
 * The request comes from a page of another origin: its `Origin` header names another host
 * than its `Host` header. Requests without `Origin` (curl, scripts, same-origin GETs from a
 * browser) are not foreign.
 */
export function fromForeignOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() !== (request.headers.host ?? '').toLowerCase();
  } catch {
    return true; // "null" (a sandboxed page, a file) or garbage
  }
}

/**
 * True for 127.0.0.0/8, ::1 and IPv4-mapped loopback, and for a Unix socket or Windows pipe
 * (a path: not reachable over the network). `null` (not listening) is false.
 */
export function isLoopbackBind(address: string | null): boolean {
  if (address === null) return false;
  const kind = isIP(address);
  if (kind === 0) return address.startsWith('/') || address.startsWith('\\\\');
  if (kind === 4) return address.startsWith('127.');
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:')) return isLoopbackBind(lower.slice(7));
  return lower === '::1' || lower === '0:0:0:0:0:0:0:1';
}


/** The address part of `server.address()`, or null when it is not listening. */
export function bindAddressOf(server: Server): string | null {
  const address = server.address();
  if (address === null) return null;
  return typeof address === 'string' ? address : address.address;
}

/** The handlers `app.statsEndpoint()` mounts: GET answers the stats, OPTIONS the CORS preflight. */
export function statsHandlers(
  options: StatsEndpointOptions,
  snapshot: () => AppStats,
  bindAddresses: () => (string | null)[],
): { get: (request: IncomingMessage, response: ServerResponse) => void; options: (request: IncomingMessage, response: ServerResponse) => void } {
  const admitted = adminGate(options.token, bindAddresses);
  const noStore = { 'Cache-Control': 'no-store' };
  return {
    get(request, response) {
      // A page of another origin may read what a refusal says (that a token is needed, and
      // how), never the stats themselves without the token: so the console tells "a Lifeline
      // server that refuses" from "no Lifeline server here".
      const origin = request.headers.origin;
      const cors: Record<string, string> = origin ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : {};
      const access = admitted(request, response, cors);
      if (!access) return;
      if (!access.byToken && fromForeignOrigin(request)) {
        refuse(
          response,
          403,
          'Without an admin token this server shows its stats only to its own pages and to clients that send no Origin. ' +
            'To read them from a page of another origin, start it with an admin token (lifeline serve --admin-token, or LIFELINE_ADMIN_TOKEN) and send it as "Authorization: Bearer <token>".',
          cors,
        );
        return;
      }
      const body = JSON.stringify(snapshot());
      response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...noStore, ...(access.byToken ? cors : {}) });
      response.end(body);
    },
    options(request, response) {
      // The preflight reveals nothing; the GET that follows still needs the token.
      const origin = request.headers.origin;
      response.writeHead(204, {
        ...(origin ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : {}),
        'Access-Control-Allow-Methods': 'GET',
        'Access-Control-Allow-Headers': 'Authorization',
        'Access-Control-Max-Age': '600',
      });
      response.end();
    },
  };
}
