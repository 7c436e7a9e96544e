import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { isChannelName, isSendableCloseCode, LifelineError, MAX_CLOSE_REASON_BYTES, parseJsonWithin, type ChannelPosition, type DecodeLimits, type PresenceMember, type ResetReason } from '@lifeline/protocol';
import type { ChannelHub, SharedFrame, Subscriber, WireFormat } from './channels/hub.js';
import WebSocket from 'ws';
import { authOf, type SocketAuth } from './auth.js';
import { serverFrame } from './frame.js';
import { Message } from './message.js';
import type { SlowConsumerPolicy } from './options.js';
import { isRateThrottled, OVER_BYTES, type InboundLimit, type RateState, type RateVerdict } from './rate-limit.js';
import type { RouteParams } from './router.js';
import type { SweepTarget } from './heartbeat-sweep.js';

export type Sendable = string | Buffer | Uint8Array | ArrayBuffer | Message;

export interface DropInfo {
  /**
   * Messages passed to send(): `not-open`, the socket was closing or closed; `slow-consumer`,
   * its unsent bytes were over the bound. A message *received*: `rate-limit`, the peer went
   * over the inbound rate limit with `rateLimit.action: 'drop'` (counted in `stats.rateLimited`).
   * `moved` (Lifeline mode with a shared session store): sent here after another node had
   * claimed the session, so never stored nor delivered. `encode-failed`: a value the wire
   * cannot carry (`sendJson` of a BigInt or a cycle, nesting too deep for an encoder, a lone
   * surrogate, a key `__proto__`); nothing was sent or numbered.
   */
  reason: 'not-open' | 'slow-consumer' | 'rate-limit' | 'moved' | 'encode-failed';
  size: number;
  /** `rate-limit` only: which limit the message went over. */
  limit?: 'messages' | 'bytes';
  /** `encode-failed` only: why the value cannot go on the wire (`LL_ENCODE_FAILED`). */
  error?: Error;
}

export interface SocketEvents {
  message: [message: Message];
  close: [code: number, reason: string];
  /**
   * A message passed to send() that was not sent (every false from send() emits this), or a
   * received message discarded by the inbound rate limit (`reason: 'rate-limit'`). Never silent.
   */
  drop: [info: DropInfo];
  /** A protocol error from the peer (the socket then closes). Emitted only when someone listens. */
  error: [error: Error];
}

export interface SocketStats {
  messagesIn: number;
  messagesOut: number;
  dropped: number;
  /** Messages that arrived while nothing was reading them and the handler had already finished. */
  unread: number;
  /** Received messages discarded by the inbound rate limit (`rateLimit.action: 'drop'`; raw connections only). */
  rateLimited: number;
  /** Lifeline sessions only: sequenced envelopes sent and not yet acknowledged by the client (held for replay). */
  replayMessages?: number;
  /** Lifeline sessions only: bytes of those envelopes, as encoded. */
  replayBytes?: number;
}

/** What a `socket.handle()` handler gets besides the request's data. */
export interface RequestContext {
  /** The request name. */
  readonly name: string;
  readonly socket: Socket;
}

/** Answers a client's request: the result goes back as `r.d` (bytes as `r.b`); a throw becomes `r.e`. */
export type RequestHandler = (data: unknown, context: RequestContext) => unknown;

export interface RequestOptions {
  /** Reject with `LL_REQUEST_TIMEOUT` when no response came within this many ms. Default: the route's `lifeline.requestTimeout` (30,000). */
  timeout?: number;
}

/** What a socket needs from the app that owns it. */
export interface SocketHost {
  readonly maxBufferedBytes: number;
  /** Structural bounds for `Message.json()` (the app's `limits`). */
  readonly limits: DecodeLimits;
  /**
   * A listener of this socket threw (the process-level rule, docs/server.md): the app logs
   * it and closes the connection, never lets it reach an uncaught exception.
   */
  listenerFailed(socket: Socket, event: 'message' | 'close' | 'drop' | 'error', error: unknown): void;
  readonly slowConsumer: SlowConsumerPolicy;
  /** The app's channels (PROTOCOL.md §3). */
  readonly hub: ChannelHub;
  onSocketClose(socket: Socket, code: number, reason: string): void;
  onHeartbeatTimeout(socket: Socket, silentForMs: number): void;
}

export interface SocketInit {
  id: string;
  route: string;
  url: string;
  params: RouteParams;
  remoteAddress: string;
  /** Exact text frames answered with `reply` and not delivered (an app-level heartbeat such as the seed's "heartCheck"). */
  textHeartbeat: { message: Buffer; reply: string } | undefined;
  /** The route's inbound rate limit; unset: none (and always for Lifeline sessions, whose links apply it). */
  inboundLimit?: InboundLimit | undefined;
}

/** Pause reading from the peer when this much is waiting for a slow `for await` loop. */
const READ_HIGH_WATER_BYTES = 1024 * 1024;
const READ_HIGH_WATER_COUNT = 1024;

const kSocket = Symbol('lifeline.socket');
type Tagged<T> = T & { [kSocket]: Socket };

const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

/**
 * The connection handed to a route handler. Messages arrive as `message` events and
 * through `for await (const msg of socket)`; the server may `send` at any time.
 *
 * Messages that arrive before the handler listens are held until it does (or until the
 * handler returns without listening), so an `await` at the top of a handler loses nothing.
 */
export class Socket extends EventEmitter<SocketEvents> implements SweepTarget, Subscriber, RateState {
  readonly id: string;
  /** The route pattern this socket matched, e.g. `/rooms/:id`. */
  readonly route: string;
  /** Request path and query as sent, e.g. `/rooms/7?name=ana`. */
  readonly url: string;
  /** Route parameters, decoded: `{ id: '7' }`. */
  readonly params: RouteParams;
  /** `ip:port` of the peer. */
  readonly remoteAddress: string;
  readonly connectedAt = Date.now();

  /** @internal */ lastSeen = this.connectedAt;
  /** @internal */ heardAfter = this.connectedAt;
  /** @internal */ lastBytesRead = 0;
  /** @internal */ lastPing = 0;
  /** @internal RateState: when each inbound bucket is full again (rate-limit.ts). */
  rlMessagesAt = 0;
  /** @internal */ rlBytesAt = 0;
  protected messagesIn = 0;
  protected messagesOut = 0;
  protected dropped = 0;
  private unread = 0;
  private rateLimited = 0;
  private readonly inboundLimit: InboundLimit | undefined;

  private held: Message[] | null = [];
  private heldBytes = 0;
  private iterator: MessageIterator | null = null;
  private corked = false;
  private backlogAtCork = 0;
  protected pausedByIterator = false;
  private closeInfo: { code: number; reason: string } | null = null;
  /** Why the server itself ended the connection, when the peer could not tell us (no close frame read). */
  private endedBy: { code: number; reason: string } | null = null;
  private readonly textHeartbeat: SocketInit['textHeartbeat'];
  private queryCache: URLSearchParams | undefined;
  private presenceIdentity: { id?: string; info?: unknown } | undefined;

  /** @internal Created by the app for each accepted upgrade. */
  constructor(
    /** The transport; a Lifeline session swaps it on every resume. */
    protected ws: WebSocket,
    protected raw: Duplex,
    protected readonly host: SocketHost,
    init: SocketInit,
    /** False for a Lifeline session, whose transports route frames through their Link instead. */
    listenToTransport = true,
  ) {
    super();
    this.id = init.id;
    this.route = init.route;
    this.url = init.url;
    this.params = init.params;
    this.remoteAddress = init.remoteAddress;
    this.textHeartbeat = init.textHeartbeat;
    this.inboundLimit = init.inboundLimit;
    // Shared listener functions find their Socket through a tag, so an idle connection
    // carries no closures of its own.
    if (listenToTransport) {
      (ws as Tagged<WebSocket>)[kSocket] = this;
      this.lastBytesRead = this.bytesRead;
      ws.on('message', onWsMessage);
      ws.on('close', onWsClose);
      ws.on('error', onWsError);
    }
    (this as EventEmitter).on('newListener', onNewListener);
  }

  /** Query parameters of the upgrade request. */
  get query(): URLSearchParams {
    return (this.queryCache ??= new URLSearchParams(this.url.includes('?') ? this.url.slice(this.url.indexOf('?') + 1) : ''));
  }

  /** The negotiated subprotocol, or '' for none. */
  get protocol(): string {
    return this.ws.protocol;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Bytes accepted by send() but not yet handed to the operating system. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Set once the connection has closed. */
  get closed(): { code: number; reason: string } | null {
    return this.closeInfo;
  }

  get stats(): SocketStats {
    return { messagesIn: this.messagesIn, messagesOut: this.messagesOut, dropped: this.dropped, unread: this.unread, rateLimited: this.rateLimited };
  }

  /** True when this socket is a Lifeline session (the client negotiated `lifeline.v1` or `lifeline.v1.msgpack`). */
  get lifeline(): boolean {
    return false;
  }

  /**
   * What the route's `auth.verify` returned for this connection's token (docs/server.md,
   * "Authentication"); `undefined` on a route without `auth`. A Lifeline session's is
   * replaced by a `$auth` refresh, and by a resume with a fresh token.
   */
  get identity(): unknown {
    return authOf(this)?.identity;
  }

  /** The identity, where its token came from and when it expires; `undefined` on a route without `auth`. */
  get auth(): SocketAuth | undefined {
    return authOf(this);
  }

  /** Lifeline sessions: the session id the client resumes with. `undefined` in raw mode. */
  get sessionId(): string | undefined {
    return undefined;
  }

  /**
   * Lifeline sessions: set when this session replaced one the client asked to resume but
   * could not (PROTOCOL.md §2.4): the old id and why. The application should resynchronise.
   */
  get resetFrom(): { readonly sessionId: string; readonly reason: ResetReason } | undefined {
    return undefined;
  }

  // ---- channels (PROTOCOL.md §3) ---------------------------------------------------------

  /**
   * Subscribes this connection to a channel (or a pattern, `prices:*`) from server code.
   * A raw client receives each publication as a plain message (a string as text, bytes as
   * binary, any other value as JSON text); a Lifeline client gets `p` envelopes and is told
   * about the subscription. Resolves with the channel's position when it took effect.
   */
  async subscribe(channel: string, options: { presence?: boolean } = {}): Promise<ChannelPosition> {
    const result = await this.host.hub.subscribe(this, checkChannel(channel), options);
    const hub = this.host.hub;
    this.subscribedByServer(channel, result.position, options.presence === true && hub.options.get(channel).presence !== false);
    result.start();
    return result.position;
  }

  /** Ends a subscription; false when there was none. */
  unsubscribe(channel: string): boolean {
    const had = this.host.hub.unsubscribe(this, channel);
    if (had) this.unsubscribedByServer(channel);
    return had;
  }

  /** The channels and patterns this connection subscribes to. */
  get channels(): string[] {
    return this.host.hub.channelsOf(this);
  }

  /**
   * Who this connection is in channel presence: `id` (default the connection id; set a user
   * id so that one user with two tabs is one member) and `info` (what others see, e.g. a
   * name). Set it before subscribing with presence.
   */
  get presence(): { id?: string; info?: unknown } {
    return this.presenceIdentity ?? {};
  }

  /**
   * Throws `LL_INVALID_OPTION` for an `id` that is not a string and `LL_ENCODE_FAILED` (or a
   * bound's code) for `info` a presence envelope cannot carry: a `pr` is written by a timer,
   * where nothing may throw. `info` is kept as a copy (what JSON makes of it).
   */
  set presence(value: { id?: string; info?: unknown }) {
    if (typeof value !== 'object' || value === null) throw new LifelineError('LL_INVALID_OPTION', 'socket.presence must be an object { id?, info? }.');
    const { id, info } = value;
    if (id !== undefined && (typeof id !== 'string' || id === '')) throw new LifelineError('LL_INVALID_OPTION', 'socket.presence.id must be a non-empty string.');
    if (info === undefined) {
      this.presenceIdentity = id === undefined ? {} : { id };
      return;
    }
    let json: string | undefined;
    try {
      json = JSON.stringify(info);
    } catch (error) {
      throw new LifelineError('LL_ENCODE_FAILED', `socket.presence.info cannot be encoded: ${(error as Error).message}`, { cause: error });
    }
    if (json === undefined) throw new LifelineError('LL_ENCODE_FAILED', `socket.presence.info: a ${typeof info} has no JSON form.`);
    const parsed = parseJsonWithin(json, this.host.limits);
    if (!parsed.ok) throw new LifelineError(parsed.problem?.code ?? 'LL_ENCODE_FAILED', `socket.presence.info ${parsed.problem?.reason ?? 'is not JSON'}.`);
    this.presenceIdentity = id === undefined ? { info: parsed.value } : { id, info: parsed.value };
  }

  /** @internal Subscriber */
  get presenceMember(): PresenceMember {
    const p = this.presenceIdentity;
    const id = p?.id ?? this.id;
    return p?.info === undefined ? { id } : { id, info: p.info };
  }

  /** @internal Subscriber: raw clients get publications as plain messages. */
  get format(): WireFormat {
    return 'raw';
  }

  /**
   * @internal Subscriber: one frame, coalesced with the turn's other writes. A publication's
   * frame (`shared`) is framed by the first subscriber that writes it, and every subscriber
   * writes those same bytes straight to its TCP socket: per subscriber that is one buffered
   * write, where `ws.send()` would frame the message again (header, options, and for a
   * string its UTF-8 bytes) on every socket. Going around `ws`'s sender keeps the order of
   * frames because the sender writes synchronously to the same socket: it only holds frames
   * back while compressing (the app turns permessage-deflate off) or reading a Blob (which
   * send() does not take).
   */
  writeFrame(frame: string | Uint8Array, binary: boolean, shared?: SharedFrame): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.corkForTurn();
    if (shared === undefined) this.ws.send(frame, binary ? BINARY : TEXT);
    else this.raw.write((shared.wire ??= serverFrame(frame, binary)));
    this.messagesOut++;
  }

  /**
   * @internal Subscriber: bytes the connection still held when this event-loop turn began
   * writing, i.e. what the peer has not taken from earlier turns. What this turn wrote
   * does not count: a burst to a fast peer is not a slow peer.
   */
  get backlog(): number {
    return this.corked ? this.backlogAtCork : this.raw.writableLength;
  }

  /**
   * Coalesces every frame sent in this turn of the event loop into one write: the syscall
   * per message, not the framing, is what limits small-message throughput.
   */
  private corkForTurn(): void {
    if (this.corked) return;
    this.corked = true;
    this.backlogAtCork = this.raw.writableLength;
    this.raw.cork();
    process.nextTick(uncork, this);
  }

  /** @internal Subscriber */
  whenDrained(callback: () => void): void {
    whenWritten(this.raw, callback);
  }

  /** @internal Subscriber */
  closeSlow(reason: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1013, reason);
  }

  /** @internal A server-side subscription: Lifeline sessions tell their client. */
  protected subscribedByServer(_channel: string, _position: ChannelPosition, _presence: boolean): void {}

  /** @internal */
  protected unsubscribedByServer(_channel: string): void {}

  /** Lifeline sessions: the last round trip measured by the heartbeat's ping/pong, in ms. */
  get rtt(): number | undefined {
    return undefined;
  }

  /**
   * Answers the client's requests named `name` (Lifeline mode). In raw mode there are no
   * requests, so this registers nothing; the same handler code serves both kinds of client.
   */
  handle(_name: string, _handler: RequestHandler): this {
    return this;
  }

  /** Sends a request to the client and resolves with its answer (Lifeline mode); rejects `LL_NOT_LIFELINE` in raw mode. */
  request(_name: string, _data?: unknown, _options?: RequestOptions): Promise<unknown> {
    return Promise.reject(new LifelineError('LL_NOT_LIFELINE', 'socket.request() needs a Lifeline-mode client; this one connected in raw mode.'));
  }

  /**
   * Sends a message: strings as text frames, bytes as binary frames, a received Message as
   * it came. Returns false (and emits `drop`) when the message was not sent: the socket is
   * not open, or the slow-consumer policy dropped it.
   */
  send(data: Sendable, options?: { binary?: boolean }): boolean {
    let payload: string | Buffer | Uint8Array | ArrayBuffer;
    let binary: boolean;
    if (data instanceof Message) {
      payload = data.data;
      binary = options?.binary ?? data.binary;
    } else {
      payload = data;
      binary = options?.binary ?? typeof data !== 'string';
    }
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    if (this.ws.readyState !== WebSocket.OPEN) return this.drop('not-open', size);
    if (this.ws.bufferedAmount + size > this.host.maxBufferedBytes) {
      if (this.host.slowConsumer === 'close') {
        this.ws.close(1013, `slow consumer: over ${this.host.maxBufferedBytes} bytes unsent`);
      }
      return this.drop('slow-consumer', size);
    }
    this.corkForTurn();
    this.ws.send(payload, binary ? BINARY : TEXT);
    this.messagesOut++;
    return true;
  }

  /**
   * Sends `JSON.stringify(value)` as a text frame. A value JSON.stringify fails on (a BigInt,
   * a cycle, nesting too deep for it) is not sent: false and a `drop` with reason `encode-failed`.
   */
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

  /**
   * Starts the closing handshake. Messages already sent go out first. `code` must be 1000,
   * 1001, 1002, 1003, 1007-1014, or 3000-4999; `reason` at most 123 bytes of UTF-8.
   */
  close(code = 1000, reason = ''): void {
    checkCloseArguments(code, reason);
    if (this.ws.readyState === WebSocket.CLOSING || this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close(code, reason);
  }

  /** Drops the TCP connection at once, without a closing handshake (the peer sees 1006). */
  terminate(): void {
    this.ws.terminate();
  }

  /** @internal */
  ping(): void {
    this.ws.ping();
  }

  /** @internal */
  terminateSilent(silentForMs: number): void {
    this.endedBy = { code: 1006, reason: `heartbeat timeout: nothing received for ${silentForMs} ms` };
    this.host.onHeartbeatTimeout(this, silentForMs);
    this.ws.terminate();
  }

  /** @internal Read by the heartbeat sweep instead of stamping every inbound chunk. */
  get bytesRead(): number {
    return (this.raw as Duplex & { bytesRead?: number }).bytesRead ?? 0;
  }

  /** @internal Read by the stats endpoint (stats.ts), like bytesRead: the TCP socket's own counter. */
  get bytesWritten(): number {
    return (this.raw as Duplex & { bytesWritten?: number }).bytesWritten ?? 0;
  }

  /** @internal */
  get readingPaused(): boolean {
    return this.pausedByIterator;
  }

  /** @internal Called by the app when the handler has returned or its promise settled. */
  handlerSettled(): void {
    if (this.held === null) return;
    // A listener added by the handler gets what was held (messages that arrived before the
    // handler ran: auth.ts runs it after a first-message token); its release was only queued.
    if (this.listenerCount('message') > 0) return this.releaseHeld();
    this.unread += this.held.length;
    this.held = null;
    this.heldBytes = 0;
    this.updateReadPause();
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    if (this.iterator) {
      throw new LifelineError('LL_ITERATOR_IN_USE', 'This socket is already being iterated; use one for-await loop, or message events.');
    }
    const iterator = new MessageIterator(this);
    this.iterator = iterator;
    this.releaseHeld();
    if (this.closeInfo) iterator.end();
    return iterator;
  }

  /** @internal */
  receive(data: Buffer, binary: boolean): void {
    const limit = this.inboundLimit;
    if (limit !== undefined) {
      const verdict = limit.admit(this, data.length);
      if (verdict !== 0) {
        this.overRateLimit(limit, verdict, data.length);
        return;
      }
    }
    this.messagesIn++;
    const heartbeat = this.textHeartbeat;
    if (heartbeat && !binary && data.length === heartbeat.message.length && data.equals(heartbeat.message)) {
      this.send(heartbeat.reply);
      return;
    }
    this.accept(new Message(data, binary, this.host.limits));
  }

  /** A received message went over the inbound rate limit: close with 1008 naming the limit, or drop it, counted. */
  private overRateLimit(limit: InboundLimit, verdict: RateVerdict, size: number): void {
    // Once the server has decided to close, what the peer still sends is part of the same offence.
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (limit.action === 'close') {
      const reason = limit.reasonFor(verdict);
      this.endedBy = { code: 1008, reason };
      this.ws.close(1008, reason);
      return;
    }
    this.rateLimited++;
    this.emitSafely('drop', { reason: 'rate-limit', size, limit: verdict === OVER_BYTES ? 'bytes' : 'messages' });
  }

  /** @internal Holds a message until the handler listens, or delivers it (raw frames and Lifeline payloads alike). */
  protected accept(message: Message): void {
    if (this.held !== null) {
      this.held.push(message);
      this.heldBytes += message.data.length;
      if (this.held.length >= READ_HIGH_WATER_COUNT || this.heldBytes >= READ_HIGH_WATER_BYTES) this.pauseReading();
      return;
    }
    this.deliver(message);
  }

  private deliver(message: Message): void {
    this.iterator?.push(message);
    this.emitSafely('message', message);
  }

  /**
   * Emits to the application's listeners; one that throws does not unwind into `ws` or a
   * timer (where it would end the process): the app logs it and closes this connection.
   */
  protected emitSafely<K extends keyof SocketEvents>(event: K, ...args: SocketEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: SocketEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.host.listenerFailed(this, event, error);
    }
  }

  /** @internal auth.ts (token in the first message): takes the oldest held message before the handler runs. */
  takeHeld(): Message | undefined {
    const message = this.held?.shift();
    if (message !== undefined) this.heldBytes -= message.data.length;
    return message;
  }

  /** @internal A listener or an iterator appeared: hand over what arrived before it. */
  releaseHeld(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.heldBytes = 0;
    for (const message of held) this.deliver(message);
    this.updateReadPause();
  }

  /** @internal */
  updateReadPause(): void {
    const it = this.iterator;
    const over = it !== null && (it.queuedBytes >= READ_HIGH_WATER_BYTES || it.queuedCount >= READ_HIGH_WATER_COUNT);
    if (over) this.pauseReading();
    else if (this.pausedByIterator && (it === null || (it.queuedBytes < READ_HIGH_WATER_BYTES / 2 && it.queuedCount < READ_HIGH_WATER_COUNT / 2))) {
      this.pausedByIterator = false;
      this.lastSeen = Date.now();
      // A Lifeline link over its rate limit resumes by itself once within it (link.ts).
      if (!isRateThrottled(this.ws)) this.ws.resume();
    }
  }

  protected pauseReading(): void {
    if (this.pausedByIterator) return;
    this.pausedByIterator = true;
    this.ws.pause();
  }

  /** @internal */
  iteratorDone(iterator: MessageIterator): void {
    if (this.iterator === iterator) this.iterator = null;
    this.updateReadPause();
  }

  /** @internal */
  flushWrites(): void {
    this.corked = false;
    this.raw.uncork();
  }

  /** @internal `ws` found a protocol error and has sent a close frame for it. */
  failedWith(error: Error): void {
    const code = closeCodeForWsError(error);
    this.endedBy = { code, reason: error.message };
    // A peer's protocol error must not crash the server: report it only to those who listen.
    if (this.listenerCount('error') > 0) this.emitSafely('error', error);
  }

  /**
   * @internal The connection is gone. `code` is the peer's close code, 1005 if its close
   * frame had none, 1006 if none was read; when the server ended the connection itself
   * (protocol error, heartbeat timeout) that code and reason are reported instead.
   */
  closedBy(code: number, reason: string): void {
    if (this.endedBy && (code === 1006 || code === 1005)) ({ code, reason } = this.endedBy);
    // Held messages stay for a handler that starts listening after the close; they are
    // counted as unread if it never does.
    this.closeInfo = { code, reason };
    this.iterator?.end();
    this.host.onSocketClose(this, code, reason);
    this.emitSafely('close', code, reason);
  }

  protected drop(reason: DropInfo['reason'], size: number, error?: Error): false {
    this.dropped++;
    this.emitSafely('drop', error === undefined ? { reason, size } : { reason, size, error });
    return false;
  }
}

/** A queue between `ws` and one `for await` loop, with backpressure on the peer. */
class MessageIterator implements AsyncIterator<Message> {
  private readonly queue: Message[] = [];
  private waiting: ((result: IteratorResult<Message>) => void) | null = null;
  private finished = false;
  queuedBytes = 0;

  constructor(private readonly socket: Socket) {}

  get queuedCount(): number {
    return this.queue.length;
  }

  push(message: Message): void {
    if (this.finished) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: message, done: false });
      return;
    }
    this.queue.push(message);
    this.queuedBytes += message.data.length;
    this.socket.updateReadPause();
  }

  end(): void {
    this.finished = true;
    if (this.waiting && this.queue.length === 0) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<Message>> {
    const message = this.queue.shift();
    if (message) {
      this.queuedBytes -= message.data.length;
      this.socket.updateReadPause();
      return Promise.resolve({ value: message, done: false });
    }
    if (this.finished) {
      this.socket.iteratorDone(this);
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** `break` out of the loop: stop iterating; the socket stays open and events go on. */
  return(): Promise<IteratorResult<Message>> {
    this.finished = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.socket.iteratorDone(this);
    return Promise.resolve({ value: undefined, done: true });
  }
}

/** @internal Throws unless `code` and `reason` can go in a close frame. */
export function checkCloseArguments(code: number, reason: string): void {
  if (!isSendableCloseCode(code)) {
    throw new LifelineError('LL_INVALID_CLOSE_CODE', `Close code ${code} cannot be sent; use 1000, 1001, 1008, 1011-1013 or 3000-4999.`);
  }
  if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
    throw new LifelineError('LL_CLOSE_REASON_TOO_LONG', `Close reason is ${Buffer.byteLength(reason)} bytes; the limit is ${MAX_CLOSE_REASON_BYTES}.`);
  }
}

function socketOf(ws: WebSocket): Socket {
  return (ws as Tagged<WebSocket>)[kSocket];
}

function onWsMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  socketOf(this).receive(data, isBinary);
}

function onWsClose(this: WebSocket, code: number, reason: Buffer): void {
  socketOf(this).closedBy(code, reason.toString('utf8'));
}

function onWsError(this: WebSocket, error: Error): void {
  socketOf(this).failedWith(error);
}

/** @internal The close code `ws` sends for each of its receive errors (RFC 6455 §7.4.1). */
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

function onNewListener(this: Socket, event: string | symbol): void {
  // Deliver held messages after the listener has actually been added.
  if (event === 'message') queueMicrotask(() => this.releaseHeld());
}

function uncork(socket: Socket): void {
  socket.flushWrites();
}

/** Calls back once `raw` has handed what it holds to the kernel, or is gone; at once when it holds nothing. */
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

function checkChannel(channel: string): string {
  if (typeof channel !== 'string' || !isChannelName(channel)) {
    throw new LifelineError('LL_INVALID_CHANNEL', `socket.subscribe("${String(channel)}"): not a channel name or pattern (PROTOCOL.md §3.1).`);
  }
  return channel;
}
