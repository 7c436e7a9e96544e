/**
 * A raw-mode connection: the Socket a handler holds, over one transport. Frames are the
 * messages; the route's inbound rate limit closes or drops; an app-level text heartbeat is
 * answered here.
 */
import { LifelineError, type ChannelPosition, type ResetReason } from '@lifeline/protocol';
import type { WireFormat } from '../channels/hub.js';
import type { SweepTarget } from '../leaves/heartbeat-sweep.js';
import { OVER_BYTES, type InboundLimit, type RateState, type RateVerdict } from '../leaves/rate-limit.js';
import { overBuffered, SLOW_CONSUMER_CLOSE, slowConsumerReason } from '../transport/backpressure.js';
import { PauseReason, type SharedFrame, type Transport, type TransportSink } from '../transport/transport.js';
import { closeAfterFailedWrite } from '../transport/write-failure.js';
import { Message } from './message.js';
import { checkCloseArguments, Socket, type RequestHandler, type RequestOptions, type Sendable, type SocketHost, type SocketInit } from './socket.js';

export interface RawSocketInit extends SocketInit {
  /** Exact text frames answered with `reply` and not delivered (an app-level heartbeat such as the seed's "heartCheck"). */
  textHeartbeat: { message: string; bytes: Buffer; reply: string } | undefined;
  /** The route's inbound rate limit; unset: none. */
  inboundLimit?: InboundLimit | undefined;
}

export class RawSocket extends Socket implements TransportSink, SweepTarget, RateState {
  /** @internal */ lastSeen = this.connectedAt;
  /** @internal */ heardAfter = this.connectedAt;
  /** @internal */ lastBytesRead = 0;
  /** @internal */ lastPing = 0;
  /** @internal RateState: when each inbound bucket is full again (rate-limit.ts). */
  rlMessagesAt = 0;
  /** @internal */ rlBytesAt = 0;
  private readonly inboundLimit: InboundLimit | undefined;
  private readonly textHeartbeat: RawSocketInit['textHeartbeat'];

  /** @internal Created by the app for each accepted upgrade. */
  constructor(
    /** @internal */ readonly transport: Transport,
    host: SocketHost,
    init: RawSocketInit,
  ) {
    super(host, init);
    this.textHeartbeat = init.textHeartbeat;
    this.inboundLimit = init.inboundLimit;
    this.lastBytesRead = transport.bytesRead;
    transport.open(this);
  }

  get protocol(): string {
    return this.transport.protocol;
  }

  get isOpen(): boolean {
    return this.transport.isOpen;
  }

  get bufferedAmount(): number {
    return this.transport.bufferedAmount;
  }

  get lifeline(): boolean {
    return false;
  }

  get sessionId(): undefined {
    return undefined;
  }

  get resetFrom(): { readonly sessionId: string; readonly reason: ResetReason } | undefined {
    return undefined;
  }

  get rtt(): undefined {
    return undefined;
  }

  handle(_name: string, _handler: RequestHandler): this {
    return this;
  }

  request(_name: string, _data?: unknown, _options?: RequestOptions): Promise<unknown> {
    return Promise.reject(new LifelineError('LL_NOT_LIFELINE', 'socket.request() needs a Lifeline-mode client; this one connected in raw mode.'));
  }

  send(data: Sendable, options?: { binary?: boolean }): boolean {
    let payload: string | Uint8Array;
    let binary: boolean;
    let size: number;
    if (data instanceof Message) {
      payload = data.wireData;
      binary = options?.binary ?? data.binary;
      size = data.size; // a received text's byte count, counted once on arrival
    } else if (typeof data === 'string') {
      payload = data;
      binary = options?.binary ?? false;
      size = Buffer.byteLength(data);
    } else {
      payload = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      binary = options?.binary ?? true;
      size = payload.byteLength;
    }
    const transport = this.transport;
    if (!transport.isOpen) return this.drop('not-open', size);
    const max = this.host.maxBufferedBytes;
    if (overBuffered(transport, size, max)) {
      if (this.host.slowConsumer === 'close') transport.close(SLOW_CONSUMER_CLOSE, slowConsumerReason(max));
      return this.drop('slow-consumer', size);
    }
    try {
      transport.write(payload, binary);
    } catch (error) {
      return this.writeFailed(error);
    }
    this.messagesOut++;
    return true;
  }

  /**
   * The transport threw on a write (the server's failure, not the application's value): the
   * message is not sent, the failure is logged once and the connection closes with 1011; an
   * `error` listener hears it, nothing throws into the caller.
   */
  private writeFailed(error: unknown): false {
    this.host.onWriteFailed(this, error);
    closeAfterFailedWrite(this.transport);
    if (this.listenerCount('error') > 0) this.emitSafely('error', error instanceof Error ? error : new Error(String(error)));
    return false;
  }

  sendJson(value: unknown): boolean {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (error) {
      return this.drop('encode-failed', 0, new LifelineError('LL_ENCODE_FAILED', `sendJson(): ${(error as Error).message}`, { cause: error }));
    }
    if (text === undefined) {
      throw new LifelineError('LL_INVALID_JSON', `sendJson() was given ${typeof value}, which has no JSON form.`);
    }
    return this.send(text);
  }

  close(code = 1000, reason = ''): void {
    checkCloseArguments(code, reason);
    if (!this.transport.isOpen) return;
    this.transport.close(code, reason);
  }

  terminate(): void {
    this.transport.terminate();
  }

  /** @internal */
  closeConnection(code: number, reason: string): void {
    this.close(code, reason);
  }

  // ---- channels: publications as plain messages --------------------------------------------

  /** @internal Subscriber: raw clients get publications as plain messages. */
  get format(): WireFormat {
    return 'raw';
  }

  /** @internal Subscriber */
  writeFrame(frame: string | Uint8Array, binary: boolean, shared?: SharedFrame): void {
    const transport = this.transport;
    if (!transport.isOpen) return;
    try {
      if (shared === undefined) transport.write(frame, binary);
      else transport.writeShared(shared);
    } catch (error) {
      this.writeFailed(error);
      return;
    }
    this.messagesOut++;
  }

  /** @internal Subscriber */
  get backlog(): number {
    return this.transport.backlog;
  }

  /** @internal Subscriber */
  whenDrained(callback: () => void): void {
    this.transport.whenDrained(callback);
  }

  /** @internal Subscriber */
  closeSlow(reason: string): void {
    if (this.transport.isOpen) this.transport.close(SLOW_CONSUMER_CLOSE, reason);
  }

  /** @internal Raw clients are not told about subscriptions. */
  protected subscribedByServer(_channel: string, _position: ChannelPosition, _presence: boolean): void {}

  /** @internal */
  protected unsubscribedByServer(_channel: string): void {}

  // ---- the heartbeat sweep (SweepTarget) ---------------------------------------------------

  /** @internal */
  ping(): void {
    this.transport.ping();
  }

  /** @internal */
  terminateSilent(silentForMs: number): void {
    this.transport.endedBecause(1006, `heartbeat timeout: nothing received for ${silentForMs} ms`);
    this.host.onHeartbeatTimeout(this, silentForMs);
    this.transport.terminate();
  }

  /** @internal Read by the heartbeat sweep instead of stamping every inbound chunk. */
  get bytesRead(): number {
    return this.transport.bytesRead;
  }

  /** @internal Read by the stats endpoint, like bytesRead: the transport's own counter. */
  get bytesWritten(): number {
    return this.transport.bytesWritten;
  }

  /** @internal */
  get readingPaused(): boolean {
    return this.transport.readingPaused;
  }

  /** @internal */
  protected get readingCanPause(): boolean {
    return this.transport.capabilities.pauseReading;
  }

  /** @internal */
  protected setReadPaused(paused: boolean): void {
    if (paused) this.transport.pauseReading(PauseReason.inbox);
    else {
      this.lastSeen = Date.now();
      this.transport.resumeReading(PauseReason.inbox);
    }
  }

  // ---- from the transport (TransportSink) --------------------------------------------------

  /** @internal */
  transportMessage(data: Buffer | string, binary: boolean, size: number): void {
    const limit = this.inboundLimit;
    if (limit !== undefined) {
      const verdict = limit.admit(this, size);
      if (verdict !== 0) {
        this.overRateLimit(limit, verdict, size);
        return;
      }
    }
    this.messagesIn++;
    const heartbeat = this.textHeartbeat;
    if (heartbeat && !binary && size === heartbeat.bytes.length && (typeof data === 'string' ? data === heartbeat.message : data.equals(heartbeat.bytes))) {
      this.send(heartbeat.reply);
      return;
    }
    this.accept(new Message(data, binary, this.host.limits, size));
  }

  /** A received message went over the inbound rate limit: close with 1008 naming the limit, or drop it, counted. */
  private overRateLimit(limit: InboundLimit, verdict: RateVerdict, size: number): void {
    const transport = this.transport;
    // Once the server has decided to close, what the peer still sends is part of the same offence.
    if (!transport.isOpen) return;
    if (limit.action === 'close') {
      const reason = limit.reasonFor(verdict);
      transport.endedBecause(1008, reason);
      transport.close(1008, reason);
      return;
    }
    this.rateLimited++;
    this.emitSafely('drop', { reason: 'rate-limit', size, limit: verdict === OVER_BYTES ? 'bytes' : 'messages' });
  }

  /** @internal The transport found a protocol error and has closed for it. */
  transportError(error: Error, _code: number): void {
    // A peer's protocol error must not crash the server: report it only to those who listen.
    if (this.listenerCount('error') > 0) this.emitSafely('error', error);
  }

  /** @internal */
  transportClosed(code: number, reason: string): void {
    this.closedBy(code, reason);
  }
}
