/**
 * `GET /metrics` in the Prometheus text format (prom-client), with its own registry per app.
 * Gauges and totals are read when Prometheus scrapes, from what the app keeps anyway (the
 * stats collector's sums, the hub's counters, the session stores); only events with no
 * other trace (closes by code, resumes, resets) are counted as they happen, off the
 * message path. Node's default metrics come along, event-loop lag included.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { ChannelHub } from '../../channels/hub.js';
import type { StatsCounts } from './totals.js';

export interface MetricsEndpointOptions {
  /** Default `/metrics`. */
  path?: string;
  /**
   * Bearer token required for every request; without one, only a server bound to loopback
   * answers (as for `/api/stats`). Prometheus sends it with `authorization.credentials`.
   */
  token?: string;
}

/** What the metrics read from the app at scrape time. */
export interface MetricsSource {
  totals(): StatsCounts;
  connections(): { route: string; mode: 'raw' | 'lifeline'; count: number }[];
  sessions(): { connected: number; waiting: number; replayMessages: number; replayBytes: number };
  readonly hub: ChannelHub;
}

/** Counts the events that leave no other trace; the app calls these. */
export interface MetricsEvents {
  closed(code: number): void;
  resumed(): void;
  reset(reason: string): void;
}

/**
 * A counter fed from a running total read at scrape time: it adds what the total grew by
 * since the last scrape, so it stays a counter (monotonic) for Prometheus's rate().
 */
function totalCounter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: () => [Partial<Record<L, string>>, number][]) {
  const last = new Map<string, number>();
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [labels, value] of read()) {
        const key = JSON.stringify(labels);
        const grew = value - (last.get(key) ?? 0);
        if (grew > 0) this.inc(labels, grew);
        last.set(key, value);
      }
    },
  });
}

export function createMetrics(source: MetricsSource): { registry: Registry; events: MetricsEvents } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'lifeline_connections',
    help: 'Open WebSocket connections, by route and mode (raw, or Lifeline transports).',
    labelNames: ['route', 'mode'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of source.connections()) this.set({ route: c.route, mode: c.mode }, c.count);
    },
  });
  new Gauge({
    name: 'lifeline_sessions',
    help: 'Live Lifeline sessions: carried by a connection now, or waiting for their client to resume.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const s = source.sessions();
      this.set({ state: 'connected' }, s.connected);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });
  new Gauge({
    name: 'lifeline_replay_buffer_messages',
    help: 'Sequenced envelopes held for replay (sent, not yet acknowledged), over all sessions.',
    registers: [registry],
    collect() {
      this.set(source.sessions().replayMessages);
    },
  });
  new Gauge({
    name: 'lifeline_replay_buffer_bytes',
    help: 'Bytes held for replay, over all sessions.',
    registers: [registry],
    collect() {
      this.set(source.sessions().replayBytes);
    },
  });
  totalCounter(registry, 'lifeline_messages_total', 'WebSocket messages, by direction, closed connections included.', ['direction'] as const, () => {
    const t = source.totals();
    return [
      [{ direction: 'in' }, t.messagesIn],
      [{ direction: 'out' }, t.messagesOut],
    ];
  });
  totalCounter(registry, 'lifeline_bytes_total', 'Bytes on the wire (TCP counters), by direction, closed connections included.', ['direction'] as const, () => {
    const t = source.totals();
    return [
      [{ direction: 'in' }, t.bytesIn],
      [{ direction: 'out' }, t.bytesOut],
    ];
  });
  totalCounter(registry, 'lifeline_channel_publications_total', 'Publications this process fanned out.', [] as const, () => [[{}, source.hub.stats.publications]]);
  totalCounter(registry, 'lifeline_channel_deliveries_total', 'Publications written to subscribers.', [] as const, () => [[{}, source.hub.stats.deliveries]]);
  totalCounter(registry, 'lifeline_slow_subscriber_total', 'Each application of a slow-subscriber policy, by what it did.', ['action'] as const, () => {
    const s = source.hub.stats;
    return [
      [{ action: 'queued' }, s.queued],
      [{ action: 'dropped-oldest' }, s.droppedOldest],
      [{ action: 'dropped-newest' }, s.droppedNewest],
      [{ action: 'coalesced' }, s.coalesced],
      [{ action: 'closed' }, s.closedSlow],
    ];
  });
  new Gauge({
    name: 'lifeline_channels',
    help: 'Channels and patterns this process has subscribers on.',
    registers: [registry],
    collect() {
      this.set(source.hub.subscriberCounts().length);
    },
  });

  // Counted in a Map (a close is on every connection's path; a labelled prom-client counter
  // hashes its labels on each inc), read at scrape time like the totals above.
  const closesByCode = new Map<number, number>();
  totalCounter(registry, 'lifeline_closes_total', 'Connections and sessions that ended, by close code.', ['code'] as const, () =>
    [...closesByCode].map(([code, count]) => [{ code: String(code) }, count]),
  );
  const resumes = new Counter({ name: 'lifeline_session_resumes_total', help: 'Lifeline sessions resumed on a new connection.', registers: [registry] });
  const resets = new Counter({ name: 'lifeline_session_resets_total', help: 'Resumes refused with a new session, by reason (PROTOCOL.md §2.4).', labelNames: ['reason'] as const, registers: [registry] });
  return {
    registry,
    events: {
      closed: (code) => closesByCode.set(code, (closesByCode.get(code) ?? 0) + 1),
      resumed: () => resumes.inc(),
      reset: (reason) => resets.inc({ reason }),
    },
  };
}
