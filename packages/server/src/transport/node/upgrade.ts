/**
 * Upgrades on Node: an HTTP server's `upgrade` event (request, socket, head) as a
 * PendingUpgrade, and one `ws` WebSocketServer per route, in `noServer` mode, that
 * completes the handshakes the app accepted with the route's maxPayload and subprotocols.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type Server as WsServer } from 'ws';
import type { PendingUpgrade, Rejection, RouteTransport, RouteTransportOptions, Transport, TransportRuntime } from '../transport.js';
import { NodeWsTransport } from './ws-transport.js';

/** An upgrade request from a Node HTTP server, until the app upgrades or refuses it. */
export class NodeUpgrade implements PendingUpgrade {
  private guarded = false;

  constructor(
    readonly request: IncomingMessage,
    readonly socket: Duplex,
    readonly head: Buffer,
  ) {}

  get peerAddress(): string {
    return this.request.socket.remoteAddress ?? 'unknown';
  }

  get peer(): string {
    return `${this.request.socket.remoteAddress}:${this.request.socket.remotePort}`;
  }

  get gone(): boolean {
    return this.socket.destroyed;
  }

  onConnectionClose(listener: () => void): void {
    // 'close' comes once; on() saves the wrapper once() would make per socket.
    this.socket.on('close', listener);
  }

  guard(): void {
    // Node took its own error listener off the upgraded socket: a peer that resets while
    // the app decides must not crash the process.
    if (this.guarded) return;
    this.guarded = true;
    this.socket.on('error', ignore);
  }

  /** @internal */
  unguard(): void {
    if (!this.guarded) return;
    this.guarded = false;
    this.socket.off('error', ignore);
  }

  refuse(rejection: Rejection): void {
    this.unguard();
    writeRejection(this.socket, rejection);
  }
}

/** A route's `ws` server: its own maxPayload and subprotocol choice, no compression, no client tracking. */
export class NodeRoute implements RouteTransport {
  private readonly server: WsServer<typeof NodeWsTransport>;

  constructor(options: RouteTransportOptions) {
    this.server = new WebSocketServer<typeof NodeWsTransport>({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: options.maxPayload,
      handleProtocols: options.selectProtocol,
      WebSocket: NodeWsTransport,
    });
  }

  accept(upgrade: PendingUpgrade, open: (transport: Transport) => void): void {
    const node = upgrade as NodeUpgrade;
    node.unguard();
    // Without verifyClient, ws completes (or refuses) the handshake synchronously.
    this.server.handleUpgrade(node.request, node.socket, node.head, open);
  }
}

/** Writes a complete HTTP/1.1 answer on a socket that has not been upgraded, then closes it. */
export function writeRejection(socket: Duplex, rejection: Rejection): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = rejection.message + '\n';
  const headers: Record<string, string> = {
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...rejection.headers,
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status] ?? ''}\r\n${head}\r\n${body}`);
  // Do not wait for a client that never reads its answer.
  setTimeout(() => socket.destroy(), 1000).unref();
}

function ignore(): void {}

/** Node's runtime: `ws` servers in `noServer` mode, fed by an HTTP server's `upgrade` events. */
export const nodeRuntime: TransportRuntime = {
  route: (options) => new NodeRoute(options),
};
