/**
 * A WebSocket class for `createClient(url, { WebSocket })` that wraps the real one to see
 * every frame on the wire (the log shows exactly what crossed, heartbeats included, and in
 * Lifeline mode the envelopes behind the messages) and, for the chaos scenarios, to bend
 * the network: added latency, going offline, a server restart. The client cannot tell it
 * from a browser WebSocket, so what the scenarios show is what the real client does.
 */
import type { Frame, WebSocketConstructor, WebSocketLike } from '@lifeline/client';

export interface Network {
  /** Added one way, to each direction: a round trip gets twice this. */
  latencyMs: number;
  /** New sockets fail as a refused connection does; open ones were dropped when it went offline. */
  offline: boolean;
  /** The server is down (a simulated restart): new sockets are refused; the browser itself is online. */
  serverDown?: boolean;
}

export interface Tap {
  /** A frame arrived (before the added latency) or was sent (when the client sent it). */
  frame?(direction: 'in' | 'out', data: string | ArrayBuffer): void;
  /** A connection attempt begins (the constructor ran). */
  attempt?(): void;
  /** The handshake succeeded (the browser's socket opened), with the subprotocol the server chose. */
  open?(protocol: string): void;
  /**
   * The browser refused `close(code)` and threw (a page may close only with 1000 or
   * 3000–4999): the connection is still open and the server was not told. The error is
   * passed on to the caller, as the browser's own WebSocket throws it.
   */
  closeRefused?(code: number | undefined, error: unknown): void;
}

type CloseEvent = { code: number; reason: string; wasClean: boolean };

/** What a scenario can do to the open sockets of one tapped class. */
export interface SocketControl {
  readonly network: Network;
  /** Every socket that is not closed yet. */
  readonly sockets: ReadonlySet<TappedSocket>;
}

export interface TappedSocket extends WebSocketLike {
  /** The link dies without a close frame, as when the network goes: the client sees 1006. */
  drop(): void;
  /** The server closes with `code` and `reason` (a restart: 1012 and a retry-after hint). */
  serverClose(code: number, reason: string): void;
}

/**
 * A WebSocket constructor bound to `network` and `tap`. `control.sockets` holds its live
 * sockets, so a scenario can drop them all at once.
 */
export function tappedWebSocket(
  tap: Tap = {},
  network: Network = { latencyMs: 0, offline: false },
  /** How delayed events are scheduled: the chaos realm passes its unthrottled timer, since network events are not throttled in hidden tabs. */
  schedule: (fn: () => void, ms: number) => void = (fn, ms) => void setTimeout(fn, ms),
): WebSocketConstructor & { control: SocketControl } {
  const sockets = new Set<TappedSocket>();
  const Real = globalThis.WebSocket;

  class Tapped implements TappedSocket {
    onopen: ((event: unknown) => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: CloseEvent) => void) | null = null;
    onerror: ((event: { message?: string; error?: unknown }) => void) | null = null;
    readonly #ws: WebSocket | undefined;
    /** Set once the client was told the socket closed: later events of the real one are ignored. */
    #ended = false;
    /** Delivery time of the last event queued, so that added latency never reorders events. */
    #lastDue = 0;

    constructor(url: string, protocols?: string | string[]) {
      tap.attempt?.();
      if (network.offline || network.serverDown) {
        // What a browser reports for a refused connection: an error, then 1006.
        this.#ws = undefined;
        sockets.add(this);
        schedule(() => {
          this.onerror?.({ message: 'offline (simulated)' });
          this.#end({ code: 1006, reason: '', wasClean: false });
        }, 5 + Math.random() * 20);
        return;
      }
      const ws = new Real(url, protocols); // throws for a bad URL, as the real one does
      this.#ws = ws;
      sockets.add(this);
      ws.binaryType = 'arraybuffer';
      ws.onopen = (event) => {
        tap.open?.(ws.protocol);
        this.#later(() => !this.#ended && this.onopen?.(event));
      };
      ws.onmessage = (event: MessageEvent) => {
        if (this.#ended) return;
        tap.frame?.('in', event.data as string | ArrayBuffer);
        this.#later(() => !this.#ended && this.onmessage?.({ data: event.data }));
      };
      ws.onerror = () => this.#later(() => !this.#ended && this.onerror?.({}));
      ws.onclose = (event) => this.#later(() => this.#end({ code: event.code, reason: event.reason, wasClean: event.wasClean }));
    }

    get readyState(): number {
      if (this.#ended) return 3;
      return this.#ws?.readyState ?? 0;
    }

    get protocol(): string {
      return this.#ws?.protocol ?? '';
    }

    get binaryType(): string {
      return this.#ws?.binaryType ?? 'arraybuffer';
    }

    set binaryType(value: string) {
      if (this.#ws) this.#ws.binaryType = value as BinaryType;
    }

    get bufferedAmount(): number {
      return this.#ws?.bufferedAmount ?? 0;
    }

    send(data: Frame): void {
      const ws = this.#ws;
      if (!ws || this.#ended) return;
      tap.frame?.('out', data as string | ArrayBuffer);
      const latency = network.latencyMs;
      if (latency <= 0) ws.send(data as string | ArrayBufferView<ArrayBuffer>);
      else this.#later(() => ws.readyState === 1 && ws.send(data as string | ArrayBufferView<ArrayBuffer>));
    }

    close(code?: number, reason?: string): void {
      const ws = this.#ws;
      if (!ws) {
        // A simulated refusal in progress: nothing to close but the promise of a close event.
        return;
      }
      if (ws.readyState >= 2) return;
      try {
        ws.close(code, reason);
      } catch (error) {
        tap.closeRefused?.(code, error);
        throw error;
      }
    }

    drop(): void {
      if (this.#ended) return;
      // The server must see the link go (a browser cannot cut TCP): 3008 is the client's own
      // "dead link" code, and in Lifeline mode anything but 1000 leaves the session resumable.
      if (this.#ws && this.#ws.readyState < 2) this.#ws.close(3008, 'simulated network drop');
      this.#end({ code: 1006, reason: '', wasClean: false });
    }

    serverClose(code: number, reason: string): void {
      if (this.#ended) return;
      if (this.#ws && this.#ws.readyState < 2) this.#ws.close(3008, 'simulated server restart');
      this.#end({ code, reason, wasClean: true });
    }

    #end(event: CloseEvent): void {
      if (this.#ended) return;
      this.#ended = true;
      sockets.delete(this);
      this.onclose?.(event);
    }

    /** Runs `fn` after the added latency, never before an event queued earlier. */
    #later(fn: () => void): void {
      const latency = network.latencyMs;
      if (latency <= 0 && this.#lastDue <= performance.now()) {
        fn();
        return;
      }
      const due = Math.max(performance.now() + latency, this.#lastDue);
      this.#lastDue = due;
      schedule(fn, due - performance.now());
    }
  }

  return Object.assign(Tapped as unknown as WebSocketConstructor, { control: { network, sockets } });
}
