import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChannelHub, ChannelHubStats } from '../../channels/hub.js';
import { adminGate, fromForeignOrigin, refuse } from './access.js';
import { addEnded, type ByteCounts, type Counted, type StatsCounts } from './totals.js';

/**
 * `GET /api/stats`: what a Lifeline server is doing now (connections, sessions, message and
 * byte counts and rates, routes), for the console's server panel and for `curl`.
 *
 * Nothing here touches the message path: message counts are the per-socket counters the
 * sockets keep anyway (Socket.stats), byte counts are the transports' own counters, and
 * both are summed over the live connections only when someone asks, at most a few times a
 * second. Closed connections add their final counts to a running total once, at close.
 */

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

/** What the collector reads from the app. */
export interface StatsSource {
  readonly createdAt: number;
  readonly connectionCount: number;
  readonly maxConnections: number;
  /** Open raw sockets: messages and bytes. */
  readonly rawSockets: Iterable<Counted & ByteCounts & { readonly route: string }>;
  /** Live sessions: messages (their bytes are counted on their transports). */
  readonly liveSessions: Iterable<Counted & { readonly route: string; readonly connected: boolean }>;
  /** Open Lifeline transports: bytes. */
  readonly lifelineTransports: Iterable<ByteCounts>;
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
