/**
 * The Transport on Node: `ws` for RFC 6455 (handshake, framing, masking, validation) over
 * the TCP (or TLS) socket the HTTP server upgraded. It is `ws`'s own WebSocket object,
 * subclassed (`WebSocketServer`'s `WebSocket` option), so the seam costs a connection no
 * object of its own: the few fields it adds (the sink, the cork state, the pause reasons,
 * the server's close report) replace what Socket and Link each kept before, and its
 * listeners are shared functions that find the sink through `this`.
 */
import { Writable, type Duplex } from 'node:stream';
import WebSocket from 'ws';
import { frameHeadText, frameSize, serverFrame, type Pieces } from '../frame.js';
import type { PauseReason, SharedFrame, Transport, TransportCapabilities, TransportSink } from '../transport.js';

const CAPABILITIES: TransportCapabilities = { pauseReading: true, framed: true, ping: true, refusalFirst: true };

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

const kTransport = Symbol('lifeline.transport');
/** The shared listeners below find their transport through `this` (`ws` calls them on the object itself). */
type WsListener = (this: WebSocket, ...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
/** `ws`'s frame parser, a Writable, which reports a message over maxPayload or text that is not UTF-8 (internal to `ws`, hence optional). */
type Receiver = Writable & { [kTransport]?: NodeWsTransport };

export class NodeWsTransport extends WebSocket implements Transport {
  /** @internal Where messages and the close go; set by open(). */
  sink: TransportSink | undefined = undefined;
  private corked = false;
  private backlogAtCork = 0;
  /** PauseReason bits that hold now. */
  private pausedFor = 0;
  /** Why the server itself ended the connection, reported when the peer could not tell (no close frame read). */
  private endedBy: { code: number; reason: string } | null = null;
  /** The socket is watched for the end of our writes, to close it then (see close()). */
  private closeWatched = false;
  /** The upgraded TCP (or TLS) socket: `ws`'s own field, set before the handshake completes. */
  declare private readonly _socket: Duplex;
  /** `ws`'s own field: the peer's close frame has been read. */
  declare private readonly _closeFrameReceived: boolean;

  get capabilities(): TransportCapabilities {
    return CAPABILITIES;
  }

  get isOpen(): boolean {
    return this.readyState === WebSocket.OPEN;
  }

  get bufferedAtMost(): number {
    return this.bufferedAmount;
  }

  get backlog(): number {
    return this.corked ? this.backlogAtCork : this._socket.writableLength;
  }

  get bytesRead(): number {
    return (this._socket as Duplex & { bytesRead?: number }).bytesRead ?? 0;
  }

  get bytesWritten(): number {
    return (this._socket as Duplex & { bytesWritten?: number }).bytesWritten ?? 0;
  }

  get readingPaused(): boolean {
    return this.pausedFor !== 0;
  }

  open(sink: TransportSink): void {
    this.sink = sink;
    this.on('message', onMessage as WsListener);
    this.on('close', onClose as WsListener);
    this.on('error', onError as WsListener);
    const receiver = (this as unknown as { _receiver?: Receiver })._receiver;
    if (receiver === undefined) return;
    // `ws` ends its frame parser when the peer's close frame arrives, again when the socket
    // ends and again when it closes. Each end() of a parser that has already finished builds
    // an error, stack trace and all, that nobody reads: about 5 us, a few per cent of a short
    // connection. A second end() without arguments does nothing else, so it returns at once.
    if (receiver.end === Writable.prototype.end) receiver.end = endOnce;
    // `ws` closes at once, without a reason, when a frame breaks its rules (over maxPayload,
    // not UTF-8): a sink that hears it first can say why (Lifeline: an error envelope).
    if (sink.transportRefused !== undefined && typeof receiver.prependListener === 'function') {
      receiver[kTransport] = this;
      receiver.prependListener('error', onReceiverError);
    }
  }

  write(data: string | Uint8Array | Pieces, binary: boolean): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.cork();
    if (!Array.isArray(data)) {
      try {
        this.send(data as string | Uint8Array, binary ? BINARY : TEXT);
      } catch (error) {
        // ws's sender corks the socket around a frame's head and payload: a socket that throws
        // on the head leaves that cork behind, and every later write, the close frame the sink
        // sends for the failure included, would wait behind it. Only this turn's cork stays.
        const raw = this._socket;
        while (raw.writableCorked > 1) raw.uncork();
        throw error;
      }
      return;
    }
    // In pieces: the frame's head (with the first piece when that is text), then each piece,
    // straight to the TCP socket (see writeShared for why going around ws's sender keeps the
    // order). The cork makes them one writev.
    const raw = this._socket;
    const pieces = data as Pieces;
    const head = frameHeadText(frameSize(pieces), binary);
    const first = pieces[0];
    if (typeof first === 'string') raw.write(head + first, 'latin1');
    else raw.write(head, 'latin1');
    for (let i = typeof first === 'string' ? 1 : 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (typeof piece === 'string') raw.write(piece, 'latin1');
      else raw.write(piece);
    }
  }

  /**
   * The frame is framed by the first connection that writes it, and every connection writes
   * those same bytes straight to its TCP socket: one buffered write each, where `ws.send()`
   * would frame the message again (header, options, and for a string its UTF-8 bytes) on
   * every socket. Going around `ws`'s sender keeps the order of frames because the sender
   * writes synchronously to the same socket: it only holds frames back while compressing
   * (the routes turn permessage-deflate off) or reading a Blob (which write() never passes).
   */
  writeShared(shared: SharedFrame): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.cork();
    this._socket.write((shared.wire ??= serverFrame(shared.frame, shared.binary)));
  }

  writeFramed(bytes: Uint8Array): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.cork();
    this._socket.write(bytes);
  }

  /**
   * The first write of a turn corks the TCP socket and schedules the uncork at the end of
   * the turn: every frame of the turn leaves in one writev, because the system call per
   * message, not the framing, is what limits small-message throughput.
   */
  cork(): void {
    if (this.corked) return;
    this.corked = true;
    const raw = this._socket;
    this.backlogAtCork = raw.writableLength;
    raw.cork();
    process.nextTick(uncork, this);
  }

  /** @internal */
  flushWrites(): void {
    this.corked = false;
    this._socket.uncork();
  }

  whenDrained(callback: () => void): void {
    whenWritten(this._socket, callback);
  }

  pauseReading(reason: PauseReason): void {
    if (this.pausedFor === 0) this.pause();
    this.pausedFor |= reason;
  }

  resumeReading(reason: PauseReason): void {
    if ((this.pausedFor & reason) === 0) return;
    this.pausedFor &= ~reason;
    if (this.pausedFor === 0) this.resume();
  }

  endedBecause(code: number, reason: string): void {
    this.endedBy = { code, reason };
  }

  /**
   * `ws`'s close, and then RFC 6455 §7.1.1: once both close frames have passed, the server
   * closes the TCP connection at once. `ws` half-closes it (FIN) and keeps it until the
   * client's FIN arrives (or 30 s pass); that 'end' then takes `ws` through two calls on
   * streams that have already finished, each building an error (with its stack trace)
   * that nobody reads, which is a good part of what a short connection costs. Here the
   * socket is destroyed as soon as our close frame and FIN are written out ('finish'); the
   * client's FIN then goes to the kernel alone. Nothing is lost: the peer has sent its
   * close frame, so it sends nothing more, and what we wrote is already with the kernel.
   */
  override close(code?: number, data?: string | Buffer): void {
    super.close(code, data);
    // `ws` calls this itself when the peer's close frame arrives (receiverOnConclude).
    if (this._closeFrameReceived && !this.closeWatched) {
      this.closeWatched = true;
      this._socket.on('finish', destroyOnFinish);
    }
  }

  // terminate() and ping() are ws's own.

  /** @internal `ws` found a protocol error and has sent a close frame for it. */
  failed(error: Error): void {
    const code = closeCodeForWsError(error);
    // A reason the sink gave first (a refused frame it explained) stands.
    this.endedBy ??= { code, reason: error.message };
    this.sink!.transportError(error, code);
  }

  /** @internal The connection is gone. */
  closed(code: number, reason: string): void {
    const endedBy = this.endedBy;
    if (endedBy !== null && (code === 1006 || code === 1005)) ({ code, reason } = endedBy);
    this.sink!.transportClosed(code, reason);
  }

  /** @internal `ws`'s frame parser refused what the peer sent and is about to close without a reason. */
  refused(error: Error): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.sink!.transportRefused!(closeCodeForWsError(error), error);
  }
}

/** The close code `ws` sends for each of its receive errors (RFC 6455 §7.4.1). */
export function closeCodeForWsError(error: Error): number {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
    case 'WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH':
      return 1009;
    case 'WS_ERR_TOO_MANY_BUFFERED_PARTS':
      return 1008;
    case 'WS_ERR_INVALID_UTF8':
      return 1007;
    default:
      return 1002;
  }
}

/** Calls back once `raw` has handed what it holds to the kernel, or is gone; soon when it holds nothing. */
export function whenWritten(raw: Duplex, callback: () => void): void {
  if (raw.writableLength === 0 || raw.destroyed) {
    queueMicrotask(callback);
    return;
  }
  const done = () => {
    raw.off('drain', done);
    raw.off('close', done);
    callback();
  };
  raw.on('drain', done);
  raw.on('close', done);
}

function onMessage(this: NodeWsTransport, data: Buffer, isBinary: boolean): void {
  this.sink!.transportMessage(data, isBinary, data.length);
}

function onClose(this: NodeWsTransport, code: number, reason: Buffer): void {
  this.closed(code, reason.toString('utf8'));
}

function onError(this: NodeWsTransport, error: Error): void {
  this.failed(error);
}

function onReceiverError(this: Receiver, error: Error): void {
  this[kTransport]?.refused(error);
}

/** Writable.end for `ws`'s frame parser: ending it again without arguments is a no-op (see open()). */
function endOnce(this: Writable, ...args: unknown[]): Writable {
  if (args.length === 0 && this.writableEnded) return this;
  return (Writable.prototype.end as (...a: unknown[]) => Writable).apply(this, args);
}

function destroyOnFinish(this: Duplex): void {
  this.destroy();
}

function uncork(transport: NodeWsTransport): void {
  transport.flushWrites();
}
