/**
 * The connection a route handler holds, in either mode: what both share. A raw Socket
 * (raw-socket.ts) carries it over one transport; a Lifeline session (lifeline/session.ts)
 * over the links it resumes on. Neither is a variant of the other.
 */
import { EventEmitter } from 'node:events';
import { isChannelName, isSendableCloseCode, LifelineError, MAX_CLOSE_REASON_BYTES, parseJsonWithin, type ChannelPosition, type DecodeLimits, type PresenceMember, type ResetReason } from '@lifeline/protocol';
import type { ChannelHub, WireFormat } from '../channels/hub.js';
import type { ChannelOptionsFor } from '../channels/names.js';
import type { RouteParams } from '../leaves/router.js';
import type { SharedFrame } from '../transport/transport.js';
import { authOf, type SocketAuth } from './identity.js';
import { MessageIterator, overHighWater, overUnpausableLimit, READ_HIGH_WATER_BYTES, READ_HIGH_WATER_COUNT, underLowWater } from './inbox.js';
import type { Message } from './message.js';

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

/** What to do with a socket whose unsent bytes pass `maxBufferedBytes`. */
export type SlowConsumerPolicy = 'close' | 'drop';

/** A channel's options (`app.channel()`); `authorize` is given the Socket asking. */
export type ChannelOptions = ChannelOptionsFor<Socket>;

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
  /** A raw socket's transport threw on a write: logged (error) once per connection, which closes with 1011. */
  onWriteFailed(socket: Socket, error: unknown): void;
}

export interface SocketInit {
  id: string;
  route: string;
  url: string;
  params: RouteParams;
  remoteAddress: string;
}

/** A listener of event `K`, as @types/node's typed EventEmitter spells it (its own alias is not exported). */
type SocketListener<K> = K extends keyof SocketEvents ? (SocketEvents[K] extends unknown[] ? (...args: SocketEvents[K]) => void : never) : never;

/**
 * The connection handed to a route handler. Messages arrive as `message` events and
 * through `for await (const msg of socket)`; the server may `send` at any time.
 *
 * Messages that arrive before the handler listens are held until it does (or until the
 * handler returns without listening), so an `await` at the top of a handler loses nothing.
 */
// A channel Subscriber (hub.subscribe checks it), not declared with `implements`: the Subscriber members are
// internal, and the public .d.ts leaves them out (stripInternal).
export abstract class Socket extends EventEmitter<SocketEvents> {
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

  /** @internal */ messagesIn = 0;
  /** @internal */ messagesOut = 0;
  /** @internal */ dropped = 0;
  /** @internal Received messages the inbound rate limit discarded (raw mode). */
  rateLimited = 0;
  private unread = 0;

  /** Messages received before the handler listened; null once it did (or returned). */
  private held: Message[] | null = [];
  private heldBytes = 0;
  /**
   * The `message` listener deliver() calls itself when it is the only one and a plain one
   * (on, addListener, prependListener): EventEmitter.emit costs about 15 ns a message in Bun,
   * a direct call well under one (bench/README.md, fourth run). null: none, several, or a
   * once() listener, which emit handles; undefined: the listeners changed since it was read.
   * The newListener and removeListener hooks reset it; once removeAllListeners(), off() or
   * removeListener() has taken either of them away, it stays null.
   */
  private soleListener: ((message: Message) => void) | null | undefined = undefined;
  private soleListenerOff = false;
  private iterator: MessageIterator | null = null;
  /** Reading is paused because the handler is behind (PauseReason.inbox). */
  private readPaused = false;
  private closeInfo: { code: number; reason: string } | null = null;
  private queryCache: URLSearchParams | undefined;
  private presenceIdentity: { id?: string; info?: unknown } | undefined;

  /** @internal Created by the app (raw) or a Lifeline route (session). */
  constructor(
    protected readonly host: SocketHost,
    init: SocketInit,
  ) {
    super();
    this.id = init.id;
    this.route = init.route;
    this.url = init.url;
    this.params = init.params;
    this.remoteAddress = init.remoteAddress;
    (this as EventEmitter).on('newListener', onNewListener);
    (this as EventEmitter).on('removeListener', onRemoveListener);
  }

  /** Query parameters of the upgrade request. */
  get query(): URLSearchParams {
    return (this.queryCache ??= new URLSearchParams(this.url.includes('?') ? this.url.slice(this.url.indexOf('?') + 1) : ''));
  }

  /** The negotiated subprotocol, or '' for none. */
  abstract get protocol(): string;

  /** Raw mode: the connection is open. A Lifeline session: it has not ended (connected or not). */
  abstract get isOpen(): boolean;

  /** Bytes accepted by send() but not yet handed to the operating system. */
  abstract get bufferedAmount(): number;

  /** Set once the connection has closed. */
  get closed(): { code: number; reason: string } | null {
    return this.closeInfo;
  }

  get stats(): SocketStats {
    return { messagesIn: this.messagesIn, messagesOut: this.messagesOut, dropped: this.dropped, unread: this.unread, rateLimited: this.rateLimited };
  }

  /** True when this socket is a Lifeline session (the client negotiated `lifeline.v1` or `lifeline.v1.msgpack`). */
  abstract get lifeline(): boolean;

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
  abstract get sessionId(): string | undefined;

  /**
   * Lifeline sessions: set when this session replaced one the client asked to resume but
   * could not (PROTOCOL.md §2.4): the old id and why. The application should resynchronise.
   */
  abstract get resetFrom(): { readonly sessionId: string; readonly reason: ResetReason } | undefined;

  /** Lifeline sessions: the last round trip measured by the heartbeat's ping/pong, in ms. */
  abstract get rtt(): number | undefined;

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

  /** @internal Subscriber: the wire form publications take on this connection. */
  abstract get format(): WireFormat;

  /** @internal Subscriber: one frame, coalesced with the turn's other writes (see SharedFrame). */
  abstract writeFrame(frame: string | Uint8Array, binary: boolean, shared?: SharedFrame): void;

  /**
   * @internal Subscriber: bytes the connection still held when this event-loop turn began
   * writing, i.e. what the peer has not taken from earlier turns. What this turn wrote
   * does not count: a burst to a fast peer is not a slow peer.
   */
  abstract get backlog(): number;

  /** @internal Subscriber */
  abstract whenDrained(callback: () => void): void;

  /** @internal Subscriber: the slow-subscriber policy `close` (1013). */
  abstract closeSlow(reason: string): void;

  /** @internal A server-side subscription (a Lifeline client is told about it). */
  protected abstract subscribedByServer(channel: string, position: ChannelPosition, presence: boolean): void;

  /** @internal */
  protected abstract unsubscribedByServer(channel: string): void;

  // ---- requests, sending, closing ----------------------------------------------------------

  /**
   * Answers the client's requests named `name` (Lifeline mode). In raw mode there are no
   * requests, so this registers nothing; the same handler code serves both kinds of client.
   */
  abstract handle(name: string, handler: RequestHandler): this;

  /** Sends a request to the client and resolves with its answer (Lifeline mode); rejects `LL_NOT_LIFELINE` in raw mode. */
  abstract request(name: string, data?: unknown, options?: RequestOptions): Promise<unknown>;

  /**
   * Sends a message: strings as text frames, bytes as binary frames, a received Message as
   * it came. Returns false (and emits `drop`) when the message was not sent: the socket is
   * not open, or the slow-consumer policy dropped it.
   */
  abstract send(data: Sendable, options?: { binary?: boolean }): boolean;

  /**
   * Sends `JSON.stringify(value)` as a text frame (Lifeline mode: the value as the payload).
   * A value the wire cannot carry (a BigInt, a cycle, nesting too deep) is not sent: false
   * and a `drop` with reason `encode-failed`.
   */
  abstract sendJson(value: unknown): boolean;

  /**
   * Starts the closing handshake. Messages already sent go out first. `code` must be 1000,
   * 1001, 1002, 1003, 1007-1014, or 3000-4999; `reason` at most 123 bytes of UTF-8.
   */
  abstract close(code?: number, reason?: string): void;

  /** Drops the TCP connection at once, without a closing handshake (the peer sees 1006). */
  abstract terminate(): void;

  /**
   * @internal Closes the connection the client is on now: a raw socket closes; a Lifeline
   * session's link closes and the session stays resumable (auth: a token expired).
   */
  abstract closeConnection(code: number, reason: string): void;

  // ---- receiving: held until the handler listens, then events and for-await --------------

  /** @internal Called by the app when the handler has returned or its promise settled. */
  handlerSettled(): void {
    if (this.held === null) return;
    // A listener added by the handler gets what was held (messages that arrived before the
    // handler ran: auth runs it after a first-message token); its release was only queued.
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

  /** @internal Holds a message until the handler listens, or delivers it (raw frames and Lifeline payloads alike). */
  accept(message: Message): void {
    const held = this.held;
    if (held !== null) {
      held.push(message);
      this.heldBytes += message.size;
      if (overHighWater(held.length, this.heldBytes)) this.behind(held.length, this.heldBytes);
      if (held.length === 1) (this as EventEmitter).emit(kHeld);
      return;
    }
    this.deliver(message);
  }

  /**
   * emitSafely('message', message) written out, on every received message (in Bun the
   * rest-and-spread call measured about 60 ns), calling a sole plain listener directly as
   * emit would (soleListener).
   */
  private deliver(message: Message): void {
    this.iterator?.push(message);
    let listener = this.soleListener;
    if (listener === undefined) listener = this.soleListener = this.readSoleListener();
    try {
      if (listener !== null) listener.call(this, message);
      else this.emit('message', message);
    } catch (error) {
      this.host.listenerFailed(this, 'message', error);
    }
  }

  private readSoleListener(): ((message: Message) => void) | null {
    const raw = this.rawListeners('message');
    // A once() listener is a wrapper in rawListeners and the function itself in listeners.
    return raw.length === 1 && raw[0] === this.listeners('message')[0] ? (raw[0] as (message: Message) => void) : null;
  }

  /**
   * Node's EventEmitter removes the listeners of `removeListener` without emitting
   * `removeListener`, so the hook cannot see itself go: the direct call is switched off here,
   * or a `message` listener removed afterwards would still be called.
   */
  override removeAllListeners(...args: Parameters<EventEmitter<SocketEvents>['removeAllListeners']>): this {
    if (args.length === 0 || (args[0] as string | symbol) === 'removeListener') this.messageListenersChanged(true);
    return super.removeAllListeners(...args);
  }

  /** The hook taken away by name (its function read from `listeners('removeListener')`): the same as above. */
  override removeListener<K>(eventName: K | keyof SocketEvents, listener: SocketListener<K>): this {
    if ((eventName as string | symbol) === 'removeListener' && (listener as unknown) === onRemoveListener) this.messageListenersChanged(true);
    return super.removeListener(eventName, listener);
  }

  /** `off` is EventEmitter's own copy of removeListener, not a call to it: it goes the same way. */
  override off<K>(eventName: K | keyof SocketEvents, listener: SocketListener<K>): this {
    return this.removeListener(eventName, listener);
  }

  /** @internal The `message` listeners changed (newListener, removeListener), or the hooks are gone. */
  messageListenersChanged(hooksRemoved: boolean): void {
    if (hooksRemoved) this.soleListenerOff = true;
    this.soleListener = this.soleListenerOff ? null : undefined;
  }

  /**
   * Emits to the application's listeners; one that throws does not unwind into the
   * transport or a timer (where it would end the process): the app logs it and closes this
   * connection.
   */
  protected emitSafely<K extends keyof SocketEvents>(event: K, ...args: SocketEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: SocketEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.host.listenerFailed(this, event, error);
    }
  }

  /** @internal Auth (a token in the first message): takes the oldest held message before the handler runs. */
  takeHeld(): Message | undefined {
    const message = this.held?.shift();
    if (message !== undefined) this.heldBytes -= message.size;
    return message;
  }

  /** @internal Calls `listener` once a message is held while none was (auth: the first message). */
  onHeld(listener: () => void): void {
    (this as EventEmitter).on(kHeld, listener);
  }

  /** @internal */
  offHeld(listener: () => void): void {
    (this as EventEmitter).off(kHeld, listener);
  }

  /**
   * @internal A 'message' listener is being added (it is in place after this returns): what
   * was held goes to it in a microtask. With nothing held, messages go straight to the
   * listeners from now on, and no microtask is needed.
   */
  messageListenerAdded(): void {
    const held = this.held;
    if (held === null) return;
    if (held.length === 0) this.releaseHeld();
    else queueMicrotask(() => this.releaseHeld());
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

  /** @internal The handler's queue changed: pause reading when it is over the high-water mark, resume below half. */
  updateReadPause(): void {
    const it = this.iterator;
    if (it !== null && overHighWater(it.queuedCount, it.queuedBytes)) this.behind(it.queuedCount, it.queuedBytes);
    else if (this.readPaused && (it === null || underLowWater(it.queuedCount, it.queuedBytes))) {
      this.readPaused = false;
      this.setReadPaused(false);
    }
  }

  /** The handler is behind by `count` messages, `bytes` bytes: stop reading, or, where reading cannot stop, close past the bound. */
  private behind(count: number, bytes: number): void {
    if (!this.readPaused) {
      this.readPaused = true;
      this.setReadPaused(true);
    }
    if (!this.readingCanPause && overUnpausableLimit(count, bytes)) {
      this.closeConnection(1008, `handler behind: over ${READ_HIGH_WATER_COUNT * 4} messages or ${READ_HIGH_WATER_BYTES * 4} bytes unread`);
    }
  }

  /** @internal Whether the connection's transport can stop reading (capability `pauseReading`). */
  protected abstract get readingCanPause(): boolean;

  /** @internal Pauses or resumes reading from the peer for the handler's queue (PauseReason.inbox). */
  protected abstract setReadPaused(paused: boolean): void;

  /** @internal Reading is paused because the handler is behind. */
  get pausedForInbox(): boolean {
    return this.readPaused;
  }

  /** @internal */
  iteratorDone(iterator: MessageIterator): void {
    if (this.iterator === iterator) this.iterator = null;
    this.updateReadPause();
  }

  /**
   * @internal The connection is gone. `code` is the peer's close code, 1005 if its close
   * frame had none, 1006 if none was read; when the server ended the connection itself
   * (protocol error, heartbeat timeout) that code and reason are reported instead.
   */
  closedBy(code: number, reason: string): void {
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

/** The event a Socket emits to itself when its first held message arrives (auth's first-message token). */
const kHeld = Symbol('lifeline.held');

/** @internal Throws unless `code` and `reason` can go in a close frame. */
export function checkCloseArguments(code: number, reason: string): void {
  if (!isSendableCloseCode(code)) {
    throw new LifelineError('LL_INVALID_CLOSE_CODE', `Close code ${code} cannot be sent; use 1000, 1001, 1008, 1011-1013 or 3000-4999.`);
  }
  if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
    throw new LifelineError('LL_CLOSE_REASON_TOO_LONG', `Close reason is ${Buffer.byteLength(reason)} bytes; the limit is ${MAX_CLOSE_REASON_BYTES}.`);
  }
}

function onNewListener(this: Socket, event: string | symbol): void {
  if (event !== 'message') return;
  this.messageListenersChanged(false);
  this.messageListenerAdded();
}

function onRemoveListener(this: Socket, event: string | symbol, listener: unknown): void {
  // removeAllListeners() without a name removes the hooks too, newListener's before this one.
  if (event === 'message') this.messageListenersChanged(false);
  else if (event === 'newListener' && listener === onNewListener) this.messageListenersChanged(true);
}

function checkChannel(channel: string): string {
  if (typeof channel !== 'string' || !isChannelName(channel)) {
    throw new LifelineError('LL_INVALID_CHANNEL', `socket.subscribe("${String(channel)}"): not a channel name or pattern (PROTOCOL.md §3.1).`);
  }
  return channel;
}
