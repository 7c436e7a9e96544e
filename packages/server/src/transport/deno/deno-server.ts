/**
 * `App.listen()` on Deno: one `Deno.serve` with the app's HTTP side (fetch Requests as the
 * `IncomingMessage`/`ServerResponse` its handlers read, transport/fetch/http.ts) and its
 * upgrade path (a Request as a PendingUpgrade; a route's `accept` calls
 * `Deno.upgradeWebSocket` and answers with its Response). Deno has no per-socket message
 * limit, so each transport applies its route's maxPayload to the messages Deno delivers; the
 * app's heartbeat timeout becomes Deno's `idleTimeout` (Deno's own pings keep raw
 * connections' liveness, since a standard WebSocket cannot ping).
 */
import { answerFetch, FetchIncoming } from '../fetch/http.js';
import { FetchUpgrade, isUpgradeIncoming, selectProtocol } from '../fetch/upgrade.js';
import { familyOf, type ListeningAddress, type NativeServer, type NativeServerSettings, type ServerEntries } from '../server.js';
import type { PendingUpgrade, RouteTransport, RouteTransportOptions, Transport, TransportRuntime } from '../transport.js';
import { denoGlobal, type DenoGlobal, type DenoHttpServer } from './deno-api.js';
import { DenoTransport } from './deno-transport.js';

class DenoRoute implements RouteTransport {
  constructor(
    private readonly deno: () => DenoGlobal,
    private readonly options: RouteTransportOptions,
    private readonly idleTimeout: number,
  ) {}

  accept(pending: PendingUpgrade, open: (transport: Transport) => void): void {
    const upgrade = pending as FetchUpgrade;
    const protocol = selectProtocol(upgrade, this.options.selectProtocol);
    if (protocol === undefined) return;
    let handshake: ReturnType<DenoGlobal['upgradeWebSocket']>;
    try {
      // The subprotocol goes on the answer here: Deno's own `protocol` option looks for it in
      // the offer split at ", " only, and refuses "a,b" (no space) with 400.
      handshake = this.deno().upgradeWebSocket(upgrade.fetchRequest, { idleTimeout: this.idleTimeout });
      if (protocol !== '') handshake.response.headers.set('Sec-WebSocket-Protocol', protocol);
    } catch (error) {
      upgrade.refuse({ status: 400, message: `Not a valid WebSocket upgrade request: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    const { socket, response } = handshake;
    socket.binaryType = 'arraybuffer';
    const transport = new DenoTransport(socket, protocol, this.options.maxPayload, upgrade);
    socket.onopen = () => open(transport);
    socket.onmessage = (event) => {
      const data = event.data;
      if (typeof data === 'string') transport.received(data, false);
      else transport.received(Buffer.from(data), true);
    };
    socket.onclose = (event) => transport.closed(event.code, event.reason);
    socket.onerror = () => {};
    upgrade.accepted(response);
  }
}

export class DenoNativeServer implements NativeServer {
  readonly name = 'deno';
  readonly runtime: TransportRuntime;
  address: ListeningAddress | undefined;
  private server: DenoHttpServer | undefined;

  constructor(settings: NativeServerSettings) {
    // Deno's idleTimeout is in whole seconds (0: off).
    const idleTimeout = settings.heartbeatTimeout === 0 ? 0 : Math.max(1, Math.ceil(settings.heartbeatTimeout / 1000));
    const deno = () => denoGlobal()!;
    this.runtime = { route: (options) => new DenoRoute(deno, options, idleTimeout) };
  }

  listen(entries: ServerEntries, port: number, host: string, tls: { cert: string; key: string } | undefined): Promise<ListeningAddress> {
    const deno = denoGlobal();
    if (deno === undefined) return Promise.reject(new Error('The Deno server needs Deno.'));
    return new Promise((resolve, reject) => {
      try {
        this.server = deno.serve({
          hostname: host,
          port,
          ...(tls ? { cert: tls.cert, key: tls.key } : {}),
          onListen: ({ hostname, port }) => {
            this.address = { address: hostname, family: familyOf(hostname), port };
            resolve(this.address);
          },
          onError: () => new Response('Internal server error.\n', { status: 500, headers: { 'Content-Type': 'text/plain; charset=utf-8' } }),
          handler: (request, info) => {
            const peer = { address: info.remoteAddr.hostname, port: info.remoteAddr.port };
            // The headers are copied once, before anything else reads them (Deno's request closes at the upgrade).
            const incoming = new FetchIncoming(request, peer);
            if (isUpgradeIncoming(incoming)) {
              const pending = new FetchUpgrade(request, peer, incoming);
              entries.upgrade(pending);
              // Decided in this turn (no auth check waits): the Response itself, no promise to await.
              const decided = pending.decided;
              if (decided !== undefined) return decided.response ?? new Response(null, { status: 500 });
              return pending.answer.then((response) => response ?? new Response(null, { status: 500 }));
            }
            return answerFetch(request, peer, entries.request, incoming);
          },
        });
      } catch (error) {
        reject(error);
      }
    });
  }

  /**
   * Deno's only way to stop listening, `shutdown()`, also closes every open WebSocket with
   * 1001 at once, before the app's own closes (1012 with a retry-after hint) go out: so
   * the server keeps listening while the app drains, and answers new upgrades 503 (the app's
   * shutting-down refusal); closeAll() shuts it down afterwards.
   */
  stopListening(): void {}

  async closeAll(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await server.shutdown();
  }
}
