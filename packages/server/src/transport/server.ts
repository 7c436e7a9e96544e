/**
 * A runtime's own HTTP + WebSocket server (Bun.serve, Deno.serve), for `App.listen()` on that
 * runtime. On Node the app makes a `node:http` server itself and feeds its `upgrade` events to
 * the upgrade path (transport/node/); elsewhere the runtime's server calls the two entries
 * below, and its `runtime` makes the routes' transports.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PendingUpgrade, TransportRuntime } from './transport.js';

/** What the app gives a runtime's server: its HTTP side and its upgrade path. */
export interface ServerEntries {
  /** Answers a plain HTTP request (the app's routes, else 404). */
  request(request: IncomingMessage, response: ServerResponse): void;
  /** Routes an upgrade: the app upgrades it through its route's RouteTransport, or refuses it. */
  upgrade(pending: PendingUpgrade): void;
}

export interface ListeningAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** What the app tells its runtime's server. */
export interface NativeServerSettings {
  /** The app's `maxBufferedBytes`. */
  readonly maxBufferedBytes: number;
  /** The app's heartbeat timeout in ms; 0 with the heartbeat off. */
  readonly heartbeatTimeout: number;
}

/** One runtime's server, as App.listen() uses it. */
export interface NativeServer {
  /** The runtime's name, for logs and errors ('bun', 'deno'). */
  readonly name: string;
  /** Makes the routes' transports (the same object for every route of the app). */
  readonly runtime: TransportRuntime;
  /** Starts serving on `host:port` (0: any free port). */
  listen(entries: ServerEntries, port: number, host: string, tls: { cert: string; key: string } | undefined): Promise<ListeningAddress>;
  /** The bound address while listening. */
  readonly address: ListeningAddress | undefined;
  /** Stops taking new connections; open WebSockets carry on. */
  stopListening(): void;
  /** Ends whatever is still open (after the app has drained its connections). */
  closeAll(): Promise<void>;
}

/** The family of an address as `net` names it. */
export function familyOf(address: string): 'IPv4' | 'IPv6' {
  return address.includes(':') ? 'IPv6' : 'IPv4';
}
