/**
 * `App.listen()` on Bun: one `Bun.serve` with the app's HTTP side (fetch Requests as the
 * `IncomingMessage`/`ServerResponse` its handlers read, transport/fetch/http.ts) and its
 * upgrade path (a Request as a PendingUpgrade; a route's `accept` calls `server.upgrade`).
 * Bun's WebSocket options are per server, so `maxPayloadLength` is the largest route's and
 * each transport applies its own route's limit; Bun's idle timeout and automatic pings are
 * off (the app's heartbeat sweep pings and times out), and its backpressure limit is above
 * the app's `maxBufferedBytes`, so that the app's slow-consumer close (1013) comes first and
 * Bun never drops a message.
 */
import { answerFetch } from '../fetch/http.js';
import { FetchUpgrade, isUpgradeRequest, selectProtocol } from '../fetch/upgrade.js';
import { familyOf, type ListeningAddress, type NativeServer, type NativeServerSettings, type ServerEntries } from '../server.js';
import type { PendingUpgrade, RouteTransport, RouteTransportOptions, Transport, TransportRuntime } from '../transport.js';
import { bunGlobal, type BunServer, type BunWebSocket } from './bun-api.js';
import { BunTransport } from './bun-transport.js';

class BunUpgrade extends FetchUpgrade {
  constructor(
    request: Request,
    peer: { address: string; port: number },
    readonly server: BunServer,
  ) {
    super(request, peer);
  }
}

class BunRoute implements RouteTransport {
  constructor(private readonly options: RouteTransportOptions) {}

  accept(pending: PendingUpgrade, open: (transport: Transport) => void): void {
    const upgrade = pending as BunUpgrade;
    const protocol = selectProtocol(upgrade, this.options.selectProtocol);
    if (protocol === undefined) return;
    const transport = new BunTransport(protocol, this.options.maxPayload, upgrade, open);
    const upgraded = upgrade.server.upgrade(upgrade.fetchRequest, {
      data: transport,
      headers: protocol === '' ? undefined : { 'Sec-WebSocket-Protocol': protocol },
    });
    if (upgraded) upgrade.accepted(undefined);
    else upgrade.refuse({ status: 400, message: 'Not a valid WebSocket upgrade request.' });
  }
}

export class BunNativeServer implements NativeServer {
  readonly name = 'bun';
  readonly runtime: TransportRuntime;
  address: ListeningAddress | undefined;
  private server: BunServer | undefined;
  private largestPayload = 0;

  constructor(private readonly settings: NativeServerSettings) {
    this.runtime = {
      route: (options) => {
        this.largestPayload = Math.max(this.largestPayload, options.maxPayload);
        return new BunRoute(options);
      },
    };
  }

  listen(entries: ServerEntries, port: number, host: string, tls: { cert: string; key: string } | undefined): Promise<ListeningAddress> {
    const bun = bunGlobal();
    if (bun === undefined) return Promise.reject(new Error('The Bun server needs Bun.'));
    const server = bun.serve<BunTransport>({
      hostname: host,
      port,
      ...(tls ? { tls } : {}),
      fetch(request, server) {
        const peer = server.requestIP(request) ?? { address: 'unknown', port: 0 };
        if (isUpgradeRequest(request)) {
          const pending = new BunUpgrade(request, peer, server);
          entries.upgrade(pending);
          return pending.answer;
        }
        return answerFetch(request, peer, entries.request);
      },
      error() {
        return new Response('Internal server error.\n', { status: 500, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
      },
      websocket: {
        open(ws: BunWebSocket<BunTransport>) {
          const transport = ws.data;
          transport.ws = ws;
          const open = transport.whenOpen!;
          transport.whenOpen = undefined;
          open(transport);
        },
        message(ws: BunWebSocket<BunTransport>, message: string | Buffer) {
          ws.data.received(message, typeof message !== 'string');
        },
        close(ws: BunWebSocket<BunTransport>, code: number, reason: string) {
          ws.data.closed(code, reason);
        },
        drain(ws: BunWebSocket<BunTransport>) {
          ws.data.drained();
        },
        ping(ws: BunWebSocket<BunTransport>, data: Buffer) {
          ws.data.heard(data.length);
        },
        pong(ws: BunWebSocket<BunTransport>, data: Buffer) {
          ws.data.heard(data.length);
        },
        maxPayloadLength: Math.max(this.largestPayload, 125),
        idleTimeout: 0,
        sendPings: false,
        backpressureLimit: Math.max(2 * this.settings.maxBufferedBytes, 16 * 1024 * 1024),
        closeOnBackpressureLimit: false,
        perMessageDeflate: false,
        publishToSelf: false,
      },
    });
    this.server = server;
    const address = { address: server.hostname, family: familyOf(server.hostname), port: server.port };
    this.address = address;
    return Promise.resolve(address);
  }

  stopListening(): void {
    void this.server?.stop(false);
  }

  async closeAll(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await server.stop(true);
  }
}
