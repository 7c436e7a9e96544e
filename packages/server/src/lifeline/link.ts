/**
 * One connection carrying a Lifeline session: a Transport's sink that decodes envelopes,
 * keeps the heartbeat's per-connection state and the inbound rate limit, and writes
 * encoded envelopes. A session outlives its links: when one drops, the client resumes on
 * a new one.
 */
import type { IncomingMessage } from 'node:http';
import { EnvelopeError, type Envelope } from '@lifeline/protocol';
import type { InboundLimit } from '../leaves/rate-limit.js';
import type { RouteParams } from '../leaves/router.js';
import { overBuffered, SLOW_CONSUMER_CLOSE, slowConsumerReason } from '../transport/backpressure.js';
import { PauseReason, type SharedFrame, type Transport } from '../transport/transport.js';
import { closeAfterFailedWrite } from '../transport/write-failure.js';
import { BinaryFrame } from './binary-form.js';
import { sizeOfFrame, type Codec, type Frame } from './codec.js';

/** The session a link carries, as the link sees it. */
export interface LinkSession {
  readonly sessionId: string;
  /** The last round trip the heartbeat measured, in ms. */
  readonly rtt: number | undefined;
  /** When the last pong came (0: never). */
  readonly rttMeasuredAt: number;
  /** An envelope from the client, on this link. */
  receiveEnvelope(envelope: Envelope, link: Link): void;
  /** This link closed. */
  linkClosed(link: Link, code: number, reason: string): void;
}

/** What a link needs from the route that owns it. */
export interface LinkHost {
  readonly maxBufferedBytes: number;
  /** The route's maxPayload: the reason of a 1009 names it. */
  readonly maxPayload: number;
  /** The first envelope of a link (a hello, or a 1008). */
  onFirstEnvelope(link: Link, envelope: Envelope): void;
  onLinkClose(link: Link, code: number, reason: string): void;
  onLinkHeartbeatTimeout(link: Link, silentForMs: number): void;
  /** A protocol error closes the link (an EnvelopeError, or a frame the transport refused: 1009, 1007, 1002). */
  onLinkProtocolError(link: Link, code: number, reason: string): void;
  /** The transport threw on a write: the link closes with 1011 (once per link; the session keeps the frame for its resume). */
  onLinkWriteFailed(link: Link, error: unknown): void;
}

export interface LinkInit {
  id: string;
  url: string;
  params: RouteParams;
  remoteAddress: string;
  /** The upgrade request, kept only until the hello has been handled. */
  request: IncomingMessage;
}

// Its transport's sink, a heartbeat SweepTarget and a RateState: checked where it is handed to them, not with
// `implements`, which would name interfaces whose members the public .d.ts leaves out (stripInternal).
export class Link {
  /** The session this link carries; null before the hello, and after the link was replaced. */
  session: LinkSession | null = null;
  readonly id: string;
  readonly url: string;
  readonly params: RouteParams;
  /** `ip:port` of the peer. */
  readonly remoteAddress: string;
  readonly connectedAt = Date.now();
  /** The upgrade request, kept only until the hello: a new session's handler receives it. */
  request: IncomingMessage | null;
  /** @internal */ lastSeen = this.connectedAt;
  /** @internal */ heardAfter = this.connectedAt;
  /** @internal */ lastBytesRead = 0;
  /** @internal */ lastPing = 0;
  /** @internal RateState (rate-limit.ts) */
  rlMessagesAt = 0;
  /** @internal */ rlBytesAt = 0;
  /**
   * @internal The hello asked for the binary form in JSON mode (PROTOCOL.md §2.8) and the
   * welcome agrees: binary frames are binary-form envelopes, and a BinaryFrame is written as one.
   */
  binaryForm = false;
  /** The route's inbound rate limit, set by the app right after the link is made. */
  private inboundLimit: InboundLimit | undefined;
  /** Set while reading is stopped for the rate limit: resumes the link when it is within the limit again. */
  private throttleTimer: NodeJS.Timeout | undefined;
  /** Set once the server decided to close this link; later frames from the peer are ignored. */
  private closing = false;
  private helloTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly transport: Transport,
    readonly codec: Codec,
    private readonly host: LinkHost,
    init: LinkInit,
    helloTimeout: number,
  ) {
    this.id = init.id;
    this.url = init.url;
    this.params = init.params;
    this.remoteAddress = init.remoteAddress;
    this.request = init.request;
    this.lastBytesRead = transport.bytesRead;
    transport.open(this);
    this.helloTimer = setTimeout(helloTimedOut, helloTimeout, this);
    this.helloTimer.unref();
  }

  get isOpen(): boolean {
    return !this.closing && this.transport.isOpen;
  }

  /** @internal Applies the route's inbound rate limit to this link (every envelope counts, data and control alike). */
  limitInbound(limit: InboundLimit | undefined): void {
    this.inboundLimit = limit;
  }

  /** @internal The hello arrived: stop the handshake timer and let go of the upgrade request. */
  helloDone(): void {
    clearTimeout(this.helloTimer);
    this.helloTimer = undefined;
    this.request = null;
  }

  /** Sends one envelope, encoded. */
  sendEnvelope(envelope: Envelope): void {
    const frame = this.codec.encode(envelope);
    this.write(frame, sizeOfFrame(frame));
  }

  /**
   * Writes an encoded frame of `size` bytes; coalesced with the others of this turn. Past
   * `maxBufferedBytes` the link closes with 1013 (the session keeps the frame for replay).
   * `unchecked`: a replay (bounded by the replay buffer's own bounds) or a publication
   * (bounded by the channel's slow-subscriber policy), which may exceed it. Never throws: a
   * transport that throws on the write closes the link with 1011 (writeFailed).
   */
  write(frame: Frame, size: number, unchecked = false): void {
    const transport = this.transport;
    if (this.closing || !transport.isOpen) return;
    const max = this.host.maxBufferedBytes;
    if (!unchecked && overBuffered(transport, size, max)) {
      this.closeWith(SLOW_CONSUMER_CLOSE, slowConsumerReason(max));
      return;
    }
    try {
      if (!(frame instanceof BinaryFrame)) transport.write(frame, this.codec.binary);
      else if (this.binaryForm) transport.write(frame.data, true);
      else transport.write(frame.text(), false); // a session's frame, replayed to a link that did not agree
    } catch (error) {
      this.writeFailed(error);
    }
  }

  /**
   * Writes a publication: `shared`, when given, is the frame's object shared by every
   * subscriber (see SharedFrame). Bounded by the channel's slow-subscriber policy, not here.
   */
  writePublication(frame: Frame, shared: SharedFrame | undefined): void {
    if (shared === undefined) this.write(frame, 0, true);
    else if (!this.closing) {
      try {
        this.transport.writeShared(shared);
      } catch (error) {
        this.writeFailed(error);
      }
    }
  }

  /**
   * The transport threw on a write (the frame is the server's to deliver: a numbered one is
   * in its session's replay buffer already): logged once, and the link closes with 1011.
   * The session stays resumable; the client's resume on its next link delivers the frame.
   */
  private writeFailed(error: unknown): void {
    this.host.onLinkWriteFailed(this, error);
    this.closing = true;
    this.helloDone();
    closeAfterFailedWrite(this.transport);
  }

  /** What the connection held when this turn began writing (see Transport.backlog). */
  get backlog(): number {
    return this.transport.backlog;
  }

  /** Closes after the frames already written; the peer gets `code` and `reason`. */
  closeWith(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    const transport = this.transport;
    transport.endedBecause(code, reason);
    this.helloDone();
    if (transport.isOpen) transport.close(code, reason);
  }

  /**
   * A protocol error (PROTOCOL.md §2.6): an `error` envelope with the close code and the
   * reason, then the close with both.
   */
  fail(error: EnvelopeError): void {
    this.failWith(error.closeCode, error.reason);
  }

  private failWith(code: number, reason: string): void {
    if (this.closing) return;
    this.host.onLinkProtocolError(this, code, reason);
    if (this.transport.isOpen) {
      try {
        this.sendEnvelope({ t: 'error', code, message: reason });
      } catch {
        // an error envelope always encodes; never let reporting fail the close
      }
    }
    this.closeWith(code, reason);
  }

  terminate(): void {
    this.closing = true;
    this.helloDone();
    this.endThrottle();
    this.transport.terminate();
  }

  /** @internal SweepTarget: a `ping` envelope (browsers cannot see protocol pings). */
  ping(): void {
    const session = this.session;
    if (session === null || this.closing) return;
    const rtt = session.rtt;
    this.sendEnvelope(rtt === undefined ? { t: 'ping', ts: Date.now() } : { t: 'ping', ts: Date.now(), rtt });
  }

  /** @internal SweepTarget */
  terminateSilent(silentForMs: number): void {
    this.transport.endedBecause(1006, `heartbeat timeout: nothing received for ${silentForMs} ms`);
    this.host.onLinkHeartbeatTimeout(this, silentForMs);
    this.terminate();
  }

  /** @internal SweepTarget */
  get bytesRead(): number {
    return this.transport.bytesRead;
  }

  /** @internal SweepTarget: Lifeline links measure round trips, busy or not. */
  get rttMeasuredAt(): number | undefined {
    return this.session?.rttMeasuredAt;
  }

  /** @internal SweepTarget: a link stopped by its rate limit, or by its session's handler, is not silent of its own accord. */
  get readingPaused(): boolean {
    return this.transport.readingPaused;
  }

  /** @internal TransportSink */
  transportMessage(data: Buffer | string, isBinary: boolean, size: number): void {
    if (this.closing) return;
    const limit = this.inboundLimit;
    if (limit !== undefined) {
      // Every envelope is processed (a numbered one cannot be dropped without breaking the
      // sequence); over the limit, the link stops reading until it is within it again.
      const wait = limit.charge(this, size);
      if (wait > 0) this.throttle(wait, limit);
    }
    const codec = this.codec;
    let envelope: Envelope;
    try {
      if (isBinary === codec.binary) envelope = codec.decode(data);
      else if (isBinary && this.binaryForm) envelope = codec.binaryForm!.decode(data as Buffer);
      else {
        this.fail(new EnvelopeError(1008, codec.binary ? 'text frame in MessagePack mode (lifeline.v1.msgpack)' : 'binary frame in JSON mode (lifeline.v1) without the binary form agreed'));
        return;
      }
    } catch (error) {
      if (error instanceof EnvelopeError) {
        this.fail(error);
        return;
      }
      throw error;
    }
    const session = this.session;
    if (session !== null) session.receiveEnvelope(envelope, this);
    else if (this.helloTimer !== undefined) this.host.onFirstEnvelope(this, envelope);
    // else: the hello was handled and the link is no longer its session's; nothing to do
  }

  /**
   * Stops reading from the peer for `ms` (TCP backpressure: the client's frames wait in its
   * socket buffers, nothing is lost). A timer exists only while a link is over its limit.
   * A transport that cannot pause reading closes the link with 1013 instead: the client
   * resumes its session after a backoff, losing nothing.
   */
  private throttle(ms: number, limit: InboundLimit): void {
    if (this.throttleTimer !== undefined) return;
    const transport = this.transport;
    if (!transport.capabilities.pauseReading) {
      this.closeWith(SLOW_CONSUMER_CLOSE, limit.reasonOver(this));
      return;
    }
    transport.pauseReading(PauseReason.rateLimit);
    this.throttleTimer = setTimeout(throttleOver, ms, this);
    this.throttleTimer.unref();
  }

  /** @internal The throttle's time is up: read again, unless the session's handler still holds the link. */
  throttleOver(): void {
    this.throttleTimer = undefined;
    if (this.closing) return;
    const wait = this.inboundLimit?.resumeDelay(this) ?? 0; // a timer may fire a little early
    if (wait > 0) {
      this.throttleTimer = setTimeout(throttleOver, wait, this);
      this.throttleTimer.unref();
      return;
    }
    this.transport.resumeReading(PauseReason.rateLimit);
  }

  private endThrottle(): void {
    if (this.throttleTimer === undefined) return;
    clearTimeout(this.throttleTimer);
    this.throttleTimer = undefined;
  }

  /** @internal TransportSink */
  transportClosed(code: number, reason: string): void {
    this.helloDone();
    this.endThrottle();
    this.closing = true;
    this.host.onLinkClose(this, code, reason);
    this.session?.linkClosed(this, code, reason);
  }

  /** @internal TransportSink: the transport reports the close code and reason itself (endedBecause). */
  transportError(_error: Error, _code: number): void {}

  /**
   * @internal TransportSink: the transport refused what the peer sent and is about to close
   * without a reason: the link closes first, with an error envelope and one.
   */
  transportRefused(code: number, error: Error): void {
    if (this.closing) return;
    const reason =
      code === 1009
        ? `message over maxPayload: at most ${this.host.maxPayload} bytes`
        : code === 1007
          ? 'text frame is not valid UTF-8'
          : `invalid frame: ${error.message.replace(/^Invalid WebSocket frame: /, '')}`;
    this.failWith(code, reason);
  }
}

function throttleOver(link: Link): void {
  link.throttleOver();
}

function helloTimedOut(link: Link): void {
  link.fail(new EnvelopeError(1008, 'hello: not received within the handshake timeout'));
}
