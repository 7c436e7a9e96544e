import type { IncomingMessage } from 'node:http';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  decodeEnvelope,
  encodeEnvelope,
  EnvelopeError,
  LIFELINE_JSON_PROTOCOL,
  LIFELINE_MSGPACK_PROTOCOL,
  type DecodeLimits,
  type Envelope,
} from '@lifeline/protocol';
import { decodeEnvelopeMsgpack, encodeEnvelopeMsgpack } from '@lifeline/protocol/msgpack';
import WebSocket from 'ws';
import type { SweepTarget } from './heartbeat-sweep.js';
import type { LifelineFormat } from './options.js';
import { kRateThrottled, type InboundLimit, type RateState } from './rate-limit.js';
import type { RouteParams } from './router.js';
import type { SessionSocket } from './session.js';
import { closeCodeForWsError } from './socket.js';

/** One encoded envelope: a text frame (JSON mode) or a binary frame (MessagePack mode). */
export type Frame = string | Uint8Array;

/** A Lifeline wire format. */
export interface Codec {
  readonly format: LifelineFormat;
  readonly protocol: string;
  /** Frames are binary (MessagePack) rather than text (JSON). */
  readonly binary: boolean;
  encode(envelope: Envelope): Frame;
  /** Throws EnvelopeError (1007/1002). */
  decode(data: Buffer): Envelope;
}

/**
 * The two wire formats, decoding within `limits` (docs/server.md "Limits"): a peer's
 * envelope over a bound, or against a content rule, is an EnvelopeError 1007.
 */
export function codecsWithin(limits: DecodeLimits): Record<LifelineFormat, Codec> {
  return {
    json: {
      format: 'json',
      protocol: LIFELINE_JSON_PROTOCOL,
      binary: false,
      encode: encodeEnvelope,
      decode: (data) => decodeEnvelope(data.toString('utf8'), limits),
    },
    msgpack: {
      format: 'msgpack',
      protocol: LIFELINE_MSGPACK_PROTOCOL,
      binary: true,
      encode: encodeEnvelopeMsgpack,
      decode: (data) => decodeEnvelopeMsgpack(data, limits),
    },
  };
}

/** What a link needs from the app and route that own it. */
export interface LinkHost {
  readonly maxBufferedBytes: number;
  /** The route's maxPayload: the reason of a 1009 names it. */
  readonly maxPayload: number;
  /** The first envelope of a link (a hello, or a 1008). */
  onFirstEnvelope(link: Link, envelope: Envelope): void;
  onLinkClose(link: Link, code: number, reason: string): void;
  onLinkHeartbeatTimeout(link: Link, silentForMs: number): void;
  /** A protocol error closes the link (an EnvelopeError, or a frame `ws` refused: 1009, 1007, 1002). */
  onLinkProtocolError(link: Link, code: number, reason: string): void;
}

export interface LinkInit {
  id: string;
  url: string;
  params: RouteParams;
  remoteAddress: string;
  /** The upgrade request, kept only until the hello has been handled. */
  request: IncomingMessage;
}

const kLink = Symbol('lifeline.link');
type Tagged = WebSocket & { [kLink]: Link };
/** `ws`'s frame parser, which reports a message over maxPayload or text that is not UTF-8 (internal to `ws`, hence optional). */
type Receiver = EventEmitter & { [kLink]?: Link };

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

/**
 * One transport (a `ws` connection and its TCP socket) carrying a Lifeline session. A
 * session outlives its links: when one drops, the client resumes on a new one. The link
 * decodes frames, keeps the heartbeat's per-connection state, and coalesces the frames of
 * one event-loop turn into one write, like a raw Socket does.
 */
export class Link implements SweepTarget, RateState {
  /** The session this link carries; null before the hello, and after the link was replaced. */
  session: SessionSocket | null = null;
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
  /** The route's inbound rate limit, set by the app right after the link is made. */
  private inboundLimit: InboundLimit | undefined;
  /** Set while reading is stopped for the rate limit: resumes the link when it is within the limit again. */
  private throttleTimer: NodeJS.Timeout | undefined;
  private corked = false;
  private backlogAtCork = 0;
  /** Set once the server decided to close this link; later frames from the peer are ignored. */
  private closing = false;
  private endedBy: { code: number; reason: string } | null = null;
  private helloTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly raw: Duplex,
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
    (ws as Tagged)[kLink] = this;
    this.lastBytesRead = this.bytesRead;
    ws.on('message', onLinkMessage);
    ws.on('close', onLinkClose);
    ws.on('error', onLinkError);
    // `ws` closes at once, without a reason, when a frame breaks its rules (over maxPayload,
    // not UTF-8): hearing it first lets the link send an error envelope and a reason, as for
    // every other protocol error (PROTOCOL.md §2.6).
    const receiver = (ws as unknown as { _receiver?: Receiver })._receiver;
    if (receiver !== undefined && typeof receiver.prependListener === 'function') {
      receiver[kLink] = this;
      receiver.prependListener('error', onReceiverError);
    }
    this.helloTimer = setTimeout(helloTimedOut, helloTimeout, this);
    this.helloTimer.unref();
  }

  get isOpen(): boolean {
    return !this.closing && this.ws.readyState === WebSocket.OPEN;
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
    this.write(frame, typeof frame === 'string' ? frame.length : frame.byteLength);
  }

  /** Writes an encoded frame; coalesced with the others of this turn. Past `maxBufferedBytes` the link closes with 1013 (the session keeps the frame for replay). */
  write(frame: Frame, size: number, unchecked = false): void {
    const ws = this.ws;
    if (this.closing || ws.readyState !== WebSocket.OPEN) return;
    // A replay is bounded by the replay buffer's own bounds, and publications by the
    // channel's slow-subscriber policy, so they may exceed maxBufferedBytes.
    if (!unchecked && ws.bufferedAmount + size > this.host.maxBufferedBytes) {
      this.closeWith(1013, `slow consumer: over ${this.host.maxBufferedBytes} bytes unsent`);
      return;
    }
    this.corkForTurn();
    ws.send(frame, this.codec.binary ? BINARY : TEXT);
  }

  private corkForTurn(): void {
    if (this.corked) return;
    this.corked = true;
    this.backlogAtCork = this.raw.writableLength;
    this.raw.cork();
    process.nextTick(uncorkLink, this);
  }

  /**
   * Writes a complete WebSocket frame built once for many connections (a publication; see
   * Socket.writeFrame): the same bytes go straight to the TCP socket, in order with what
   * `ws` wrote, coalesced with the turn's other writes.
   */
  writeFramed(wire: Uint8Array): void {
    if (this.closing || this.ws.readyState !== WebSocket.OPEN) return;
    this.corkForTurn();
    this.raw.write(wire);
  }

  /** What the connection held when this turn began writing (see Socket.backlog). */
  get backlog(): number {
    return this.corked ? this.backlogAtCork : this.raw.writableLength;
  }

  /** Closes after the frames already written; the peer gets `code` and `reason`. */
  closeWith(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.endedBy = { code, reason };
    this.helloDone();
    const ws = this.ws;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
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
    if (this.ws.readyState === WebSocket.OPEN) {
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
    this.ws.terminate();
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
    this.endedBy = { code: 1006, reason: `heartbeat timeout: nothing received for ${silentForMs} ms` };
    this.host.onLinkHeartbeatTimeout(this, silentForMs);
    this.terminate();
  }

  /** @internal SweepTarget */
  get bytesRead(): number {
    return (this.raw as Duplex & { bytesRead?: number }).bytesRead ?? 0;
  }

  /** @internal SweepTarget: Lifeline links measure round trips, busy or not. */
  get rttMeasuredAt(): number | undefined {
    return this.session?.rttMeasuredAt;
  }

  /** @internal SweepTarget: a link stopped by its rate limit is not silent of its own accord either. */
  get readingPaused(): boolean {
    return this.throttleTimer !== undefined || (this.session?.readingPaused ?? false);
  }

  /** @internal */
  flushWrites(): void {
    this.corked = false;
    this.raw.uncork();
  }

  /** @internal */
  receive(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    const limit = this.inboundLimit;
    if (limit !== undefined) {
      // Every envelope is processed (a numbered one cannot be dropped without breaking the
      // sequence); over the limit, the link stops reading until it is within it again.
      const wait = limit.charge(this, data.length);
      if (wait > 0) this.throttle(wait);
    }
    const codec = this.codec;
    if (isBinary !== codec.binary) {
      this.fail(new EnvelopeError(1008, codec.binary ? 'text frame in MessagePack mode (lifeline.v1.msgpack)' : 'binary frame in JSON mode (lifeline.v1)'));
      return;
    }
    let envelope: Envelope;
    try {
      envelope = codec.decode(data);
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
   */
  private throttle(ms: number): void {
    if (this.throttleTimer !== undefined) return;
    (this.ws as WebSocket & { [kRateThrottled]?: boolean })[kRateThrottled] = true;
    this.ws.pause();
    this.throttleTimer = setTimeout(throttleOver, ms, this);
    this.throttleTimer.unref();
  }

  /** @internal The throttle's time is up: read again, unless the session's own backpressure holds the link. */
  throttleOver(): void {
    this.endThrottle();
    if (this.closing) return;
    const wait = this.inboundLimit?.resumeDelay(this) ?? 0; // a timer may fire a little early
    if (wait > 0) {
      this.throttle(wait);
      return;
    }
    if (!(this.session?.readingPaused ?? false)) this.ws.resume();
  }

  private endThrottle(): void {
    if (this.throttleTimer === undefined) return;
    clearTimeout(this.throttleTimer);
    this.throttleTimer = undefined;
    (this.ws as WebSocket & { [kRateThrottled]?: boolean })[kRateThrottled] = false;
  }

  /** @internal */
  closedBy(code: number, reason: string): void {
    this.helloDone();
    this.endThrottle();
    this.closing = true;
    if (this.endedBy && (code === 1006 || code === 1005)) ({ code, reason } = this.endedBy);
    this.host.onLinkClose(this, code, reason);
    this.session?.linkClosed(this, code, reason);
  }

  /** @internal `ws` found a framing error and has sent a close frame for it. */
  failedWith(error: Error): void {
    this.endedBy ??= { code: closeCodeForWsError(error), reason: error.message };
  }

  /**
   * @internal `ws`'s frame parser refused what the peer sent, and is about to close without
   * a reason: the link closes first, with an error envelope and one.
   */
  receiverFailed(error: Error): void {
    if (this.closing || this.ws.readyState !== WebSocket.OPEN) return;
    const code = closeCodeForWsError(error);
    const reason =
      code === 1009
        ? `message over maxPayload: at most ${this.host.maxPayload} bytes`
        : code === 1007
          ? 'text frame is not valid UTF-8'
          : `invalid frame: ${error.message.replace(/^Invalid WebSocket frame: /, '')}`;
    this.failWith(code, reason);
  }
}

function linkOf(ws: WebSocket): Link {
  return (ws as Tagged)[kLink];
}

function onLinkMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  linkOf(this).receive(data, isBinary);
}

function onLinkClose(this: WebSocket, code: number, reason: Buffer): void {
  linkOf(this).closedBy(code, reason.toString('utf8'));
}

function onLinkError(this: WebSocket, error: Error): void {
  linkOf(this).failedWith(error);
}

function onReceiverError(this: Receiver, error: Error): void {
  this[kLink]?.receiverFailed(error);
}

function uncorkLink(link: Link): void {
  link.flushWrites();
}

function throttleOver(link: Link): void {
  link.throttleOver();
}

function helloTimedOut(link: Link): void {
  link.fail(new EnvelopeError(1008, 'hello: not received within the handshake timeout'));
}
