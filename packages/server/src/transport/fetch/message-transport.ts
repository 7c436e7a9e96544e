/**
 * What the Bun and Deno transports share: both runtimes hand over whole messages (they do the
 * RFC 6455 work themselves), so a transport over either counts bytes from message sizes,
 * applies the route's maxPayload to each message (the runtime's own limit is per server or
 * absent), tracks its closing state, reports the server's close reason when the peer could
 * not, and waits for its runtime to say that what it held has been written.
 */
import { joinPieces, type Pieces } from '../frame.js';
import type { PauseReason, SharedFrame, Transport, TransportCapabilities, TransportSink } from '../transport.js';
import type { FetchUpgrade } from './upgrade.js';

/** The error a message over the route's maxPayload is refused with (the words `ws` uses). */
function tooBig(size: number, max: number): Error {
  return Object.assign(new Error(`Max payload size exceeded: ${size} bytes, over ${max}`), { code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' });
}

export abstract class MessageTransport implements Transport {
  abstract readonly capabilities: TransportCapabilities;
  /** @internal */
  sink: TransportSink | undefined = undefined;
  bytesRead = 0;
  bytesWritten = 0;
  /** @internal A close or terminate began (the runtime may still say OPEN). */
  protected closing = false;
  private endedBy: { code: number; reason: string } | null = null;
  private drainWaiters: (() => void)[] | undefined;
  /** The upgrade whose per-address slot this connection holds; kept only when someone counts it. */
  private upgrade: FetchUpgrade | undefined;

  constructor(
    readonly protocol: string,
    private readonly maxPayload: number,
    upgrade: FetchUpgrade,
  ) {
    if (upgrade.counted) this.upgrade = upgrade;
  }

  /** The runtime's own unsent bytes. */
  abstract get bufferedAmount(): number;
  /** The runtime's socket says it is open. */
  protected abstract get runtimeOpen(): boolean;
  protected abstract sendText(text: string): number | void;
  protected abstract sendBinary(bytes: Uint8Array): number | void;
  protected abstract closeRuntime(code: number, reason: string): void;
  protected abstract terminateRuntime(): void;

  get isOpen(): boolean {
    return !this.closing && this.runtimeOpen;
  }

  get bufferedAtMost(): number {
    return this.bufferedAmount;
  }

  get backlog(): number {
    return this.bufferedAmount;
  }

  get readingPaused(): boolean {
    return false;
  }

  open(sink: TransportSink): void {
    this.sink = sink;
  }

  /**
   * A message in pieces (a large payload sent on as it came, lifeline/message-bytes.ts) is
   * joined first: Bun and Deno take one message per send.
   */
  write(message: string | Uint8Array | Pieces, binary: boolean): void {
    if (!this.isOpen) return;
    const data = Array.isArray(message) ? joinPieces(message as Pieces) : (message as string | Uint8Array);
    let sent: number | void;
    if (binary) sent = this.sendBinary(typeof data === 'string' ? Buffer.from(data) : data);
    else sent = this.sendText(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
    this.bytesWritten += typeof sent === 'number' && sent > 0 ? sent : typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  }

  /** The runtime frames every message itself (no capability `framed`): the payload goes out per connection. */
  writeShared(shared: SharedFrame): void {
    this.write(shared.frame, shared.binary);
  }

  writeFramed(_bytes: Uint8Array): void {
    throw new Error('writeFramed needs capability `framed`, which this runtime does not have');
  }

  cork(): void {}

  whenDrained(callback: () => void): void {
    if (!this.runtimeOpen || this.bufferedAmount === 0) {
      queueMicrotask(callback);
      return;
    }
    (this.drainWaiters ??= []).push(callback);
  }

  pauseReading(_reason: PauseReason): void {}

  resumeReading(_reason: PauseReason): void {}

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.closeRuntime(code, reason);
  }

  endedBecause(code: number, reason: string): void {
    this.endedBy = { code, reason };
  }

  terminate(): void {
    this.closing = true;
    this.terminateRuntime();
  }

  abstract ping(): void;

  /** @internal One message from the runtime: a binary message's bytes, a text message as the runtime decoded it. */
  received(data: Buffer | string, binary: boolean): void {
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.bytesRead += size;
    if (size > this.maxPayload) {
      this.refuse(1009, tooBig(size, this.maxPayload));
      return;
    }
    if (!this.closing) this.sink!.transportMessage(data, binary, size);
  }

  /** @internal A pong or ping from the peer: a sign of life for the heartbeat sweep. */
  heard(size: number): void {
    this.bytesRead += size + 2;
  }

  /** @internal The runtime wrote out what it held. */
  drained(): void {
    if (this.bufferedAmount > 0) return;
    this.flushDrainWaiters();
  }

  /** @internal The connection is gone (code and reason as the runtime reports them). */
  closed(code: number, reason: string): void {
    this.closing = true;
    const endedBy = this.endedBy;
    if (endedBy !== null && (code === 1006 || code === 1005)) ({ code, reason } = endedBy);
    this.flushDrainWaiters();
    this.upgrade?.connectionClosed();
    this.upgrade = undefined;
    this.sink?.transportClosed(code, reason);
  }

  /** A message this transport refuses: the sink may explain first, then the connection closes with `code`. */
  private refuse(code: number, error: Error): void {
    if (this.closing) return;
    this.sink!.transportRefused?.(code, error);
    this.endedBy ??= { code, reason: error.message };
    if (!this.closing) {
      this.sink!.transportError(error, code);
      this.close(code, code === 1009 ? 'Message too big' : error.message.slice(0, 120));
    }
  }

  private flushDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = undefined;
    if (waiters) for (const waiter of waiters) waiter();
  }
}
