/**
 * The seam between a runtime's WebSocket server (or another carrier) and everything above
 * it. A raw Socket and a Lifeline Link each hold one Transport and are its sink; neither
 * they nor the app ever touch `ws` or a `net.Socket`. The Node implementation on `ws` is
 * `node/ws-transport.ts`, on Bun `bun/`, on Deno `deno/`; ARCHITECTURE.md ("The transport
 * seam") says how they plug in (and how an HTTP-streaming carrier would), and what each
 * cannot do (the capability flags below).
 *
 * An implementation keeps per-connection memory lean: the Node one is the `ws` object
 * itself (a subclass), with shared listener functions, so a connection costs no object or
 * closure of the seam's own.
 */
import type { IncomingMessage } from 'node:http';
import type { Pieces } from './frame.js';

/**
 * Why reading from the peer is paused. Several reasons may hold at once (a bit each); the
 * transport reads again only once none does.
 */
export const PauseReason = {
  /** The handler is behind: messages held before it listens, or a `for await` loop's queue, over the high-water mark. */
  inbox: 1,
  /** A Lifeline link over its inbound rate limit, until its buckets are half full again. */
  rateLimit: 2,
} as const;
export type PauseReason = (typeof PauseReason)[keyof typeof PauseReason];

/** What a transport can do. Where it cannot, the layers above fall back, as each flag says. */
export interface TransportCapabilities {
  /**
   * `pauseReading()` stops reading from the peer (TCP backpressure). Without it (Bun,
   * Deno), a handler's queue past its bound closes the connection with 1008, and a Lifeline
   * link over its rate limit closes with 1013 (its session stays resumable).
   */
  readonly pauseReading: boolean;
  /**
   * `writeFramed()` takes a complete server-to-client RFC 6455 frame, and `writeShared()`
   * frames a publication once for all its subscribers. Without it, `writeShared()` sends
   * the payload and the runtime frames it per connection.
   */
  readonly framed: boolean;
  /**
   * `ping()` sends a protocol ping whose pong moves `bytesRead`: the heartbeat sweep's
   * pings of raw connections. Without it (Deno), the sweep leaves raw connections to the
   * runtime's own idle timeout (app/connections.ts). Lifeline links ping with envelopes everywhere.
   */
  readonly ping: boolean;
  /**
   * The sink hears a frame the transport refuses (over maxPayload, not UTF-8, bad framing)
   * before the transport closes for it (`TransportSink.transportRefused`), so that Lifeline
   * sends an `error` envelope with a reason. Without it the peer only sees the close.
   */
  readonly refusalFirst: boolean;
}

/**
 * One publication's frame in one wire format, the same object for every subscriber of
 * that format (channels/hub.ts). A transport that frames messages itself may keep the
 * framed bytes in `wire`, so that the frame is also framed once and the same bytes go to
 * every connection.
 */
export interface SharedFrame {
  readonly frame: string | Uint8Array;
  readonly binary: boolean;
  /** The complete RFC 6455 frame, made by the first transport that writes it (capability `framed`). */
  wire?: Uint8Array;
}

/** One connection, as the layers above see it. */
export interface Transport {
  readonly capabilities: TransportCapabilities;
  /** The negotiated subprotocol, or '' for none. */
  readonly protocol: string;
  /** True while writes go out: false from the moment a close began. */
  readonly isOpen: boolean;
  /** Bytes written and not yet handed to the operating system. */
  readonly bufferedAmount: number;
  /**
   * An upper bound on bufferedAmount that costs no call into the runtime: bufferedAmount
   * itself where reading it is cheap. The maxBufferedBytes check (backpressure.ts) asks the
   * runtime only when this bound would pass the limit.
   */
  readonly bufferedAtMost: number;
  /**
   * Unsent bytes the connection held when this event-loop turn began writing, i.e. what
   * the peer has not taken from earlier turns: a burst written this turn is not a slow peer.
   */
  readonly backlog: number;
  /** Bytes read from the peer so far (monotonic); the heartbeat sweep reads it instead of stamping every message. */
  readonly bytesRead: number;
  /** Bytes written to the peer so far (stats). */
  readonly bytesWritten: number;
  /** Reading is paused for at least one reason. */
  readonly readingPaused: boolean;

  /** Starts delivering to `sink`; called once, right after the handshake. */
  open(sink: TransportSink): void;
  /**
   * Writes one message (a string as a text frame in UTF-8, bytes as binary, or as `binary`
   * says). An array is one message in pieces, written one after another without joining
   * them first (a received payload sent on where it is, lifeline/message-bytes.ts), a string
   * piece as latin1 (frame.ts `Pieces`); a transport that cannot do that joins them
   * (`joinPieces`). Every write of one event-loop turn leaves in one system call, in order.
   * Nothing happens unless the transport is open. It may throw (the runtime refuses the
   * message, or the connection broke under it): the sink then closes with 1011
   * (write-failure.ts), and so for writeShared().
   */
  write(data: string | Uint8Array | Pieces, binary: boolean): void;
  /** Writes a message many connections send (a publication); see SharedFrame. */
  writeShared(frame: SharedFrame): void;
  /** Writes a complete RFC 6455 frame built by the caller, in order with write(). Capability `framed` only. */
  writeFramed(bytes: Uint8Array): void;
  /** Starts coalescing this turn's writes now (every write does it by itself). */
  cork(): void;
  /** Calls back once what the connection holds has been written out, or it is gone; soon when it holds nothing. */
  whenDrained(callback: () => void): void;
  /** Stops reading from the peer for `reason` (capability `pauseReading`; otherwise nothing happens). */
  pauseReading(reason: PauseReason): void;
  /** `reason` no longer holds; reading resumes when no other reason does. */
  resumeReading(reason: PauseReason): void;
  /**
   * Starts the closing handshake with `code` and `reason` (at most 123 bytes), after what
   * was written before. Call it only while open.
   */
  close(code: number, reason: string): void;
  /**
   * The server itself ends this connection, for this reason: when the peer's close says
   * nothing (1005) or never comes (1006), the sink is told `code` and `reason` instead.
   */
  endedBecause(code: number, reason: string): void;
  /** Drops the connection at once, without a closing handshake (the peer sees 1006). */
  terminate(): void;
  /** A protocol ping (capability `ping`). */
  ping(): void;
}

/** What a transport delivers to: a raw Socket or a Lifeline Link. */
export interface TransportSink {
  /**
   * One complete message of `size` payload bytes. A binary message is a Buffer. A text
   * message is valid UTF-8 (a transport refuses any other with 1007): its bytes on Node,
   * where `ws` checks every text frame, and the string itself on Bun and Deno, which decode
   * text frames themselves; turning that string back into bytes would cost more than the
   * rest of a small message's way through the server.
   */
  transportMessage(data: Buffer | string, binary: boolean, size: number): void;
  /**
   * The transport refuses what the peer sent and is about to close with `code` (1009, 1007,
   * 1002, 1008): a sink that implements this may write a last frame and close first with a
   * reason of its own. Only with capability `refusalFirst`.
   */
  transportRefused?(code: number, error: Error): void;
  /** The peer broke the WebSocket protocol; the transport has closed with `code`. */
  transportError(error: Error, code: number): void;
  /**
   * The connection is gone: the peer's close code, 1005 if its close frame had none, 1006
   * if none was read; or what `endedBecause()` said when the peer said nothing.
   */
  transportClosed(code: number, reason: string): void;
}

/** A refused upgrade, as a readable HTTP answer. */
export interface Rejection {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

/**
 * One upgrade request on its way to a connection or a refusal, made by the runtime's
 * adapter (Node: `node/upgrade.ts`, from an `upgrade` event).
 */
export interface PendingUpgrade {
  /** The request as handlers get it (method, url, headers). */
  readonly request: IncomingMessage;
  /** The peer's address, without the port. */
  readonly peerAddress: string;
  /** `address:port` of the peer, for logs and `socket.remoteAddress`. */
  readonly peer: string;
  /** The peer went away (while the server was deciding). */
  readonly gone: boolean;
  /**
   * Calls `listener` once the connection closes, however it ends (refused, upgraded then
   * closed, cut off). The app passes a function shared by many connections (one per client
   * address), so an adapter should not wrap it per connection.
   */
  onConnectionClose(listener: () => void): void;
  /** The decision goes asynchronous (a verify): a reset of the peer meanwhile must not become an uncaught error. */
  guard(): void;
  /** Answers with a readable HTTP refusal and ends the connection. */
  refuse(rejection: Rejection): void;
}

/** What a route asks of the runtime's WebSocket server. */
export interface RouteTransportOptions {
  /** Largest message, in bytes: beyond it the transport closes with 1009. */
  readonly maxPayload: number;
  /** Picks the subprotocol from what the client offered (never empty); false refuses the upgrade. */
  readonly selectProtocol: (offered: Set<string>) => string | false;
}

/** One route's WebSocket server in the runtime: completes an upgrade the app accepted. */
export interface RouteTransport {
  /** Completes the handshake (or refuses it, if the runtime finds it broken) and calls `open` with the new transport. */
  accept(upgrade: PendingUpgrade, open: (transport: Transport) => void): void;
}

/** A runtime's WebSocket server: the app asks it for one RouteTransport per route. */
export interface TransportRuntime {
  route(options: RouteTransportOptions): RouteTransport;
}
