/**
 * An upgrade request on a fetch-style server (Bun.serve, Deno.serve) as a PendingUpgrade.
 * The runtime's fetch handler returns `answer`: the refusal's Response, the handshake's
 * Response (Deno), or undefined once the runtime took the connection over (Bun). The
 * connection key is this object: a fetch server does not show its TCP connections, so the
 * per-address count is per WebSocket, given back when the refusal is sent or the WebSocket
 * closes.
 */
import type { IncomingMessage } from 'node:http';
import type { PendingUpgrade, Rejection } from '../transport.js';
import { FetchIncoming, type FetchPeer } from './http.js';

export class FetchUpgrade implements PendingUpgrade {
  readonly request: IncomingMessage;
  /**
   * The answer once the app has given it: set in the fetch handler's own turn when nothing
   * waits (no auth check), so the handler can return it as it is, without a promise.
   */
  decided: { readonly response: Response | undefined } | undefined;
  private pendingAnswer: Promise<Response | undefined> | undefined;
  private resolveAnswer: ((response: Response | undefined) => void) | undefined;
  private closeListeners: (() => void)[] | undefined;
  private ended = false;
  /** The decision waits for something (guard()): the client may leave meanwhile. */
  private waiting = false;

  constructor(
    readonly fetchRequest: Request,
    private readonly peerOf: FetchPeer,
    /** The request as the app reads it, when the adapter made it already. */
    incoming: FetchIncoming = new FetchIncoming(fetchRequest, peerOf),
  ) {
    this.request = incoming as unknown as IncomingMessage;
  }

  /** What the runtime's fetch handler answers with, once the app has decided (made only when asked). */
  get answer(): Promise<Response | undefined> {
    if (this.pendingAnswer === undefined) {
      const decided = this.decided;
      this.pendingAnswer =
        decided !== undefined
          ? Promise.resolve(decided.response)
          : new Promise((resolve) => {
              this.resolveAnswer = resolve;
            });
    }
    return this.pendingAnswer;
  }

  /** The first answer counts (as a promise's first resolution would). */
  private settle(response: Response | undefined): void {
    if (this.decided !== undefined) return;
    this.decided = { response };
    this.resolveAnswer?.(response);
    this.resolveAnswer = undefined;
  }

  get peerAddress(): string {
    return this.peerOf.address;
  }

  get peer(): string {
    const { address, port } = this.peerOf;
    return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  }

  /**
   * The request's `signal` is read only once the decision has waited (guard()): the runtime
   * aborts a request from its event loop, never while the fetch handler runs, so before any
   * wait it would say nothing. And reading it costs: Deno then makes an AbortSignal for the
   * request and aborts it, with a new DOMException, when the request ends, which every
   * upgraded request does at the upgrade (bench/README.md "Bun and Deno: where the gap is").
   */
  get gone(): boolean {
    return this.ended || (this.waiting && this.fetchRequest.signal.aborted);
  }

  onConnectionClose(listener: () => void): void {
    if (this.ended) {
      listener();
      return;
    }
    (this.closeListeners ??= []).push(listener);
  }

  /** Someone counts this connection (maxConnectionsPerIp) and must hear when it closes. */
  get counted(): boolean {
    return this.closeListeners !== undefined;
  }

  guard(): void {
    if (this.waiting) return;
    this.waiting = true;
    // Made now, so that it sees an abort that comes while the decision waits.
    void this.fetchRequest.signal;
  }

  refuse(rejection: Rejection): void {
    const body = rejection.message + '\n';
    this.settle(
      new Response(body, {
        status: rejection.status,
        headers: { Connection: 'close', 'Content-Type': 'text/plain; charset=utf-8', ...rejection.headers },
      }),
    );
    this.connectionClosed();
  }

  /** The runtime took the connection (Bun: undefined) or answers the handshake with `response` (Deno). */
  accepted(response: Response | undefined): void {
    this.settle(response);
  }

  /** The WebSocket (or the refused request) is gone: the per-address slot is given back. */
  connectionClosed(): void {
    if (this.ended) return;
    this.ended = true;
    const listeners = this.closeListeners;
    this.closeListeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }
}

/**
 * The subprotocol the route selects from what the request offers ('' when it offers none),
 * or undefined once the upgrade has been refused for offering none the route speaks (the
 * app's own check answered that already; this is the runtime's side of it).
 */
export function selectProtocol(upgrade: FetchUpgrade, select: (offered: Set<string>) => string | false): string | undefined {
  const offered = offeredProtocols(upgrade.request);
  const protocol = offered.size === 0 ? '' : select(offered);
  if (protocol !== false) return protocol;
  upgrade.refuse({ status: 400, message: 'Subprotocol negotiation failed.' });
  return undefined;
}

/** The subprotocols a request offers, as the route's choice wants them (never empty entries). */
function offeredProtocols(request: IncomingMessage): Set<string> {
  const header = request.headers['sec-websocket-protocol'];
  const offered = new Set<string>();
  if (header === undefined) return offered;
  for (const entry of header.split(',')) {
    const name = entry.trim();
    if (name !== '') offered.add(name);
  }
  return offered;
}

/**
 * A request Node's HTTP server would hand to its `upgrade` listeners: an Upgrade header and
 * `upgrade` among the Connection tokens. Anything else is plain HTTP (so a WebSocket route
 * asked without them gets the app's 426).
 */
export function isUpgradeRequest(request: Request): boolean {
  return request.headers.has('upgrade') && asksUpgrade(request.headers.get('connection') ?? undefined);
}

/**
 * The same test on the headers already copied for the app (`FetchIncoming.headers`): on Deno,
 * each lookup in a served request's Headers costs more than one in the copy.
 */
export function isUpgradeIncoming(incoming: FetchIncoming): boolean {
  const headers = incoming.headers;
  return headers.upgrade !== undefined && asksUpgrade(headers.connection);
}

function asksUpgrade(connection: string | undefined): boolean {
  return connection !== undefined && connection.split(',').some((token) => token.trim().toLowerCase() === 'upgrade');
}
