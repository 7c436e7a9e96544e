/**
 * Liveness and readiness for orchestrators and load balancers (`GET /healthz`, `GET /readyz`).
 * Liveness says the process serves HTTP at all; readiness says it should get new
 * connections: not while shutting down, not at `maxConnections`, not while the channel
 * broker is unreachable.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface HealthEndpointsOptions {
  /** Default `/healthz`. */
  livePath?: string;
  /** Default `/readyz`. */
  readyPath?: string;
}

/** What readiness reads from the app. */
export interface HealthSource {
  readonly state: 'running' | 'draining' | 'closed';
  readonly connectionCount: number;
  readonly maxConnections: number;
  brokerAvailable(): boolean;
  sessionStoreAvailable(): boolean;
}

export type Readiness = { ready: true } | { ready: false; reason: 'draining' | 'closed' | 'full' | 'broker-unavailable' | 'session-store-unavailable' };

export function readiness(source: HealthSource): Readiness {
  if (source.state !== 'running') return { ready: false, reason: source.state };
  if (source.connectionCount >= source.maxConnections) return { ready: false, reason: 'full' };
  if (!source.brokerAvailable()) return { ready: false, reason: 'broker-unavailable' };
  if (!source.sessionStoreAvailable()) return { ready: false, reason: 'session-store-unavailable' };
  return { ready: true };
}

export function healthHandlers(source: HealthSource) {
  const reply = (response: ServerResponse, status: number, body: object) => {
    const text = JSON.stringify(body);
    response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
    response.end(text);
  };
  return {
    live: (_request: IncomingMessage, response: ServerResponse) =>
      source.state === 'closed' ? reply(response, 503, { status: 'closed' }) : reply(response, 200, { status: 'ok' }),
    ready: (_request: IncomingMessage, response: ServerResponse) => {
      const r = readiness(source);
      if (r.ready) reply(response, 200, { status: 'ready', connections: source.connectionCount });
      else reply(response, 503, { status: 'not-ready', reason: r.reason });
    },
  };
}
