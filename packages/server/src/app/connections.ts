/**
 * The app's open connections (raw sockets and Lifeline links; a session outlives its
 * links), and what each connection needs from the app: its limits, the hub, the handler
 * guard, and the accounting and logging when it ends (SocketHost, LifelineAppHost).
 */
import type { IncomingMessage } from 'node:http';
import { MAX_HEARTBEAT_INTERVAL, type DecodeLimits } from '@lifeline/protocol';
import type { ChannelHub } from '../channels/hub.js';
import { RawSocket } from '../connection/raw-socket.js';
import type { SlowConsumerPolicy, Socket, SocketHost } from '../connection/socket.js';
import type { SweepTarget } from '../leaves/heartbeat-sweep.js';
import { describeError, type Logger } from '../leaves/logger.js';
import type { Link } from '../lifeline/link.js';
import type { LifelineAppHost, LifelineRoute } from '../lifeline/route.js';
import type { SessionSocket } from '../lifeline/session.js';
import type { SharedSessionStore } from '../lifeline/session-store.js';
import type { MetricsEvents } from './admin/metrics.js';
import { addEnded, type StatsCounts } from './admin/totals.js';
import { closeFor, runWsHandler, type WsHandler } from './handlers.js';
import type { ResolvedOptions } from './options.js';

export class Connections implements SocketHost, LifelineAppHost {
  /** Open raw-mode connections (Lifeline sessions are in their routes' stores). */
  readonly raw = new Set<RawSocket>();
  /** Open connections in Lifeline mode (transports; a session outlives them). */
  readonly links = new Set<Link>();
  readonly lifelineRoutes: LifelineRoute[] = [];
  /** Final counts of closed connections, added once at close (admin/totals.ts); live ones are summed when asked. */
  readonly endedTotals: StatsCounts = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
  /** Set once /metrics is mounted. */
  metricsEvents: MetricsEvents | undefined;
  private nextId = 0;

  constructor(
    private readonly options: ResolvedOptions,
    readonly hub: ChannelHub,
    readonly sessionStore: SharedSessionStore | undefined,
  ) {}

  /** A new connection's id. */
  newId(): string {
    return (this.nextId++).toString(36);
  }

  /** Open WebSocket connections, raw and Lifeline. */
  get count(): number {
    return this.raw.size + this.links.size;
  }

  /** Live Lifeline sessions, connected or waiting to be resumed, on every route. */
  get sessions(): SessionSocket[] {
    return this.lifelineRoutes.flatMap((route) => [...route.store.values()]);
  }

  /**
   * What the heartbeat sweep walks: raw sockets and Lifeline links alike. A raw socket whose
   * transport cannot send a protocol ping (Deno) is left to the runtime's own idle timeout,
   * which the app sets from its heartbeat (transport/deno/): the sweep could not tell a quiet
   * peer that answers the runtime's pings from a dead one. Lifeline links ping with envelopes.
   */
  get sweepTargets(): Iterable<SweepTarget> {
    const { raw, links } = this;
    return {
      *[Symbol.iterator]() {
        for (const socket of raw) if (socket.transport.capabilities.ping) yield socket;
        yield* links;
      },
    };
  }

  /** Open connections by route and mode (/metrics): raw sockets, and sessions a connection carries. */
  countsByRouteAndMode(): { route: string; mode: 'raw' | 'lifeline'; count: number }[] {
    const counts = new Map<string, { route: string; mode: 'raw' | 'lifeline'; count: number }>();
    const add = (route: string, mode: 'raw' | 'lifeline') => {
      const key = `${mode} ${route}`;
      const entry = counts.get(key) ?? { route, mode, count: 0 };
      entry.count++;
      counts.set(key, entry);
    };
    for (const socket of this.raw) add(socket.route, 'raw');
    for (const session of this.sessions) if (session.connected) add(session.route, 'lifeline');
    return [...counts.values()];
  }

  /** Sessions connected and waiting, and what their replay buffers hold (/metrics). */
  sessionCounts(): { connected: number; waiting: number; replayMessages: number; replayBytes: number } {
    let connected = 0;
    let waiting = 0;
    let replayMessages = 0;
    let replayBytes = 0;
    for (const session of this.sessions) {
      if (session.connected) connected++;
      else waiting++;
      replayMessages += session.replay.count;
      replayBytes += session.replay.bytes;
    }
    return { connected, waiting, replayMessages, replayBytes };
  }

  get logger(): Logger {
    return this.options.logger;
  }

  get maxBufferedBytes(): number {
    return this.options.maxBufferedBytes;
  }

  get limits(): DecodeLimits {
    return this.options.limits;
  }

  get slowConsumer(): SlowConsumerPolicy {
    return this.options.slowConsumer;
  }

  get maxChannels(): number {
    return this.options.maxChannels;
  }

  get handshakeTimeout(): number {
    return this.options.handshakeTimeout;
  }

  /** `hb` of a welcome; with the heartbeat off, the largest value (no pings come). */
  get heartbeatInterval(): number {
    const hb = this.options.heartbeat;
    return hb ? Math.min(hb.interval, MAX_HEARTBEAT_INTERVAL) : MAX_HEARTBEAT_INTERVAL;
  }

  runWsHandler(handler: WsHandler, socket: Socket, request: IncomingMessage): void {
    runWsHandler(this.options.logger, handler, socket, request);
  }

  /**
   * A listener threw. The process-level rule (docs/server.md): what an application
   * callback throws never becomes an uncaught exception; it is logged and its connection
   * closes (handlers.ts).
   */
  listenerFailed(socket: Socket, event: 'message' | 'close' | 'drop' | 'error', error: unknown): void {
    closeFor(this.options.logger, socket, 'listener-error', error, event);
  }

  onSocketClose(socket: Socket, code: number, reason: string): void {
    this.raw.delete(socket as RawSocket);
    this.hub.removeSubscriber(socket);
    this.metricsEvents?.closed(code);
    // A session's bytes were counted on its transports (linkClosed).
    addEnded(this.endedTotals, socket, socket instanceof RawSocket ? socket.transport : undefined);
    const logger = this.options.logger;
    if (logger.enabled('info')) {
      const { messagesIn, messagesOut, dropped, rateLimited } = socket.stats;
      logger.log('info', 'close', {
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

  onHeartbeatTimeout(socket: Socket, silentForMs: number): void {
    this.options.logger.log('info', 'heartbeat-timeout', { id: socket.id, remote: socket.remoteAddress, silentForMs });
  }

  onWriteFailed(socket: Socket, error: unknown): void {
    this.options.logger.log('error', 'write-failed', { id: socket.id, remote: socket.remoteAddress, route: socket.route, error: describeError(error) });
  }

  linkOpened(link: Link): void {
    this.links.add(link);
  }

  linkClosed(link: Link): void {
    this.links.delete(link);
    addEnded(this.endedTotals, undefined, link.transport);
  }

  sessionResumed(): void {
    this.metricsEvents?.resumed();
  }

  sessionReset(reason: string): void {
    this.metricsEvents?.reset(reason);
  }
}
