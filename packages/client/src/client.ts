import {
  backoffDelay,
  defaultCloseAction,
  LifelineError,
  MAX_CLOSE_REASON_BYTES,
  parseRetryHint,
  type BackoffOptions,
  type CloseAction,
} from '@lifeline/protocol';
import { defaultWebSocket } from '#websocket';
import { byteLength, isBinary, jsonCodec, textCodec, type Codec } from './codec.js';
import type { Mode, ModeFactory, ModeHost, OutboxDropReason, RequestHandler, ResetInfo, SessionInfo } from './mode.js';
import { transition, type ClientState, type CloseInfo } from './state.js';
import type { Frame, WebSocketConstructor, WebSocketLike } from './types.js';
import { toWebSocketUrl } from './url.js';

export interface ReconnectOptions {
  /** Window of the first retry, in ms: the delay is uniform in [0, initialDelay). Default 1000. */
  initialDelay?: number;
  /** Growth of the window per failure in a row. Default 2. */
  factor?: number;
  /** Largest window, in ms. Default 30000. */
  maxDelay?: number;
  /** Connection attempts in a row that may fail before the client gives up (`closed`). Default Infinity. */
  maxAttempts?: number;
  /** A link must stay up this long (ms) before the failure count (and so the backoff) resets. Default 5000. */
  stableAfter?: number;
}

export interface HeartbeatOptions {
  /**
   * The probe, sent as is (not through the codec), e.g. `'heartCheck'`. Unset: a protocol
   * ping, which only `ws` (Node) can send; in browsers a message is required.
   */
  message?: Frame | (() => Frame);
  /** Probe after this long without an inbound frame, in ms. Default 25000. */
  interval?: number;
  /** After a probe, declare the link dead when nothing at all arrived for this long, in ms. Default 10000. */
  timeout?: number;
  /** An inbound text frame exactly equal to this is the server's answer to the probe and is not delivered. */
  reply?: string;
}

export type OverflowPolicy = 'drop-oldest' | 'reject-new';

export interface OutboxOptions {
  /** Messages held while not open. Default 1000. */
  maxMessages?: number;
  /** Bytes held while not open (UTF-8 length of text). Default 1048576 (1 MiB). */
  maxBytes?: number;
  /** Default expiry of a queued message, in ms. Default Infinity. */
  ttl?: number;
  /** When full: `drop-oldest` (default) makes room, `reject-new` drops the new message. */
  overflow?: OverflowPolicy;
  /** Keep queued messages on `close()` (and accept new ones) for the next `open()`. Default false. */
  keepOnClose?: boolean;
}

export interface ClientOptions<In = unknown, Out = unknown> {
  /** Subprotocols to offer. */
  protocols?: string | string[];
  /** `'text'` (default: strings and bytes as they are), `'json'`, or your own codec. */
  codec?: 'text' | 'json' | Codec<In, Out>;
  /** Connect in the constructor. Default true; false starts `idle` until `open()`. */
  autoOpen?: boolean;
  /** An attempt that is not open after this long (ms) counts as failed. Default 10000. */
  connectTimeout?: number;
  /** Backoff settings, or `false` to never reconnect. */
  reconnect?: ReconnectOptions | false;
  /** What to do when a connection ends; default `defaultCloseAction(code)` from @lifeline/protocol. */
  closePolicy?: (close: { code: number; reason: string; wasClean: boolean }) => CloseAction;
  /** Application-level heartbeat; off by default. */
  heartbeat?: HeartbeatOptions | false;
  outbox?: OutboxOptions;
  /** React to online/offline, visibility and pagehide/pageshow where they exist. Default true. */
  browserEvents?: boolean;
  /** A WebSocket implementation; default the platform's (and `ws` in Node without one). */
  WebSocket?: WebSocketConstructor;
  /**
   * A wire mode: `lifeline()` from `@lifeline/client/lifeline` for sessions that survive
   * reconnects (needs a Lifeline server; see docs/client.md). Unset: raw WebSocket messages.
   */
  mode?: ModeFactory;
}

export interface RequestOptions {
  /** Reject with `LL_REQUEST_TIMEOUT` after this many ms without an answer (counted from the call). Default: the mode's `requestTimeout` (30000). */
  timeout?: number;
}

/** A received message. `error` is set when the codec could not decode it; `data` is then undefined. */
export type Message<T = unknown> = {
  /** The raw text of a text frame. */
  text?: string;
  /** The raw bytes of a binary frame. */
  bytes?: Uint8Array;
  /** When it arrived (epoch ms). */
  receivedAt: number;
  /**
   * Lifeline mode: its sequence number in the session (1, 2, 3 …, counted with the server's
   * requests and answers). With a persistent store, `store.received` is the last one handed over.
   */
  seq?: number;
} & ({ data: T; error?: undefined } | { data: undefined; error: LifelineError });

export type DropReason = 'overflow' | 'expired' | 'closed' | 'not-open' | 'too-large';

export interface DropInfo<Out = unknown> {
  /** The value passed to send(). */
  data: Out;
  /**
   * `overflow`: the outbox was full; `expired`: its ttl passed; `closed`: the client closed;
   * `not-open`: sent with `queue: false`; `too-large` (Lifeline mode): over what the server
   * said it accepts (`welcome.max`), so never numbered nor sent — `error` says which bound.
   */
  reason: DropReason;
  queuedAt: number;
  /** `too-large` only: `LL_TOO_LARGE` (bytes) or the bound's code (`LL_TOO_DEEP`, `LL_TOO_MANY_ITEMS`, `LL_KEY_TOO_LONG`). */
  error?: LifelineError;
}

export interface OpenInfo {
  url: string;
  protocol: string;
  attempt: number;
  /** Lifeline mode: the session this connection carries, and whether it was resumed. */
  session?: SessionInfo;
}

export interface ClientEvents<In = unknown, Out = unknown> {
  state: [state: ClientState, previous: ClientState];
  open: [info: OpenInfo];
  message: [message: Message<In>];
  close: [info: CloseInfo];
  /** A message passed to send() that will not be sent. Every drop has one. */
  drop: [info: DropInfo<Out>];
  error: [error: LifelineError];
  /** A probe was answered (by any inbound frame), after `rtt` ms; in Lifeline mode, the server's ping reported its RTT. */
  heartbeat: [rtt: number];
  /** Lifeline mode: the server could not resume the session and started a new one. Resynchronise. */
  reset: [info: ResetInfo];
}

export interface SendOptions {
  /** Expiry in ms if the message has to wait in the outbox. Default: `outbox.ttl`. */
  ttl?: number;
  /** false: send only if open now, else drop (reason `not-open`). Default true. */
  queue?: boolean;
}

type Listener<A extends unknown[]> = (...args: A) => void;

interface Queued<Out> {
  value: Out;
  /** The frame (raw mode) or the mode's outbox item. */
  frame: unknown;
  size: number;
  at: number;
  expires: number;
  /** An internal item (a request): called instead of a `drop` event. */
  dropped?: (reason: OutboxDropReason) => void;
}

/**
 * The close code of a transport the client leaves but means to come back to (a page going
 * into the back/forward cache). In Lifeline mode 1000 ends the session on the server, so a
 * pause must not use it.
 */
const PAUSE_CLOSE_CODE = 4001;

/**
 * A heartbeat timer that fires later than this after its due time (or half the timeout,
 * if smaller) ran after a stall: a frozen page, a long task, a sleeping machine; frames
 * that arrived meanwhile may still wait behind it. 1.5 s leaves Chromium's one-second
 * alignment of timers in hidden tabs on the "on time" side.
 */
const LATE_MS = 1500;

const noop = () => {};

const NEEDS_MODE = ' needs Lifeline mode (options.mode: lifeline()).';

const fail = (code: ConstructorParameters<typeof LifelineError>[0], message: string, cause?: unknown) =>
  new LifelineError(code, message, cause === undefined ? undefined : { cause });

function option(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min)) throw fail('LL_INVALID_OPTION', `Option ${name} is ${String(value)}; expected a number ≥ ${min}.`);
  return value;
}

/**
 * What every client offers an application, whatever holds its connection: a
 * {@link LifelineClient}, or a tab's handle on a connection shared by every tab
 * (`shared()` from `@lifeline/client/shared`). `@lifeline/vue` takes either.
 */
export interface LifelineClientLike<In = unknown, Out = unknown> {
  readonly url: string;
  readonly state: ClientState;
  readonly rtt: number | undefined;
  readonly queued: number;
  readonly session: SessionInfo | undefined;
  on<K extends keyof ClientEvents>(type: K, listener: Listener<ClientEvents<In, Out>[K]>): () => void;
  off<K extends keyof ClientEvents>(type: K, listener: Listener<ClientEvents<In, Out>[K]>): void;
  send(value: Out, options?: SendOptions): boolean;
  request(name: string, data?: unknown, options?: RequestOptions): Promise<unknown>;
  handle(name: string, handler: RequestHandler | undefined): this;
  open(): this;
  close(code?: number, reason?: string): void;
}

/** Throws unless `close(code, reason)` can be sent: 1000 or 3000-4999 (the rest are the protocol's own), a reason that fits a close frame (closeAll() of a shared client checks with it too). */
export function checkCloseArguments(code: number, reason: string): void {
  if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
    throw fail('LL_INVALID_CLOSE_CODE', `close(${code}): use 1000 or 3000-4999.`);
  }
  if (byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
    throw fail('LL_CLOSE_REASON_TOO_LONG', `close(): the reason is ${byteLength(reason)} UTF-8 bytes; at most ${MAX_CLOSE_REASON_BYTES} fit.`);
  }
}

/**
 * A WebSocket client that stays connected: reconnects with backoff and full jitter, follows a
 * close-code policy and retry-after hints, heartbeats raw servers, queues while not open,
 * and never throws on a message it cannot decode. See docs/client.md.
 */
export class LifelineClient<In = unknown, Out = unknown> implements LifelineClientLike<In, Out> {
  /** The URL of the current or last connection (after http→ws mapping). */
  url = '';
  #url: string | (() => string | Promise<string>);
  #WS: WebSocketConstructor;
  #protocols: string | string[] | undefined;
  #codec: Codec<In, Out>;
  #connectTimeout: number;
  #backoff: BackoffOptions & { maxAttempts: number; stableAfter: number };
  #policy: NonNullable<ClientOptions['closePolicy']>;
  /** `wait`: how long a probe may go unanswered on this connection (`timeout`, or what the mode says). */
  #hb: (HeartbeatOptions & { interval: number; timeout: number; wait: number }) | undefined;
  #outbox: Required<OutboxOptions>;
  #browser: boolean;
  #mode: Mode | undefined;

  #state: ClientState = { status: 'idle', attempt: 0, since: Date.now() };
  #listeners: { [type: string]: Set<Listener<any[]>> | undefined } = {};
  #ws: WebSocketLike | undefined;
  /** Bumped whenever a socket is abandoned: late callbacks of an older attempt compare and stop. */
  #gen = 0;
  #failures = 0;
  #reauthed = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #beatTimer: ReturnType<typeof setTimeout> | undefined;
  #beatDue = 0;
  /** When the outstanding probe was sent (0: none). */
  #probeAt = 0;
  #lastIn: number | undefined;
  #rtt: number | undefined;
  #queue: Queued<Out>[] = [];
  #queuedBytes = 0;
  #listening = false;

  constructor(url: string | { href: string } | (() => string | Promise<string>), options: ClientOptions<In, Out> = {}) {
    this.#url = typeof url === 'function' ? url : (this.url = toWebSocketUrl(url));
    const WS = options.WebSocket ?? defaultWebSocket();
    if (!WS) throw fail('LL_NO_WEBSOCKET', 'No WebSocket here; pass one as options.WebSocket.');
    this.#WS = WS;
    this.#protocols = options.protocols;
    const codec = options.codec ?? 'text';
    this.#codec = (codec === 'json' ? jsonCodec : codec === 'text' ? textCodec : codec) as Codec<In, Out>;
    this.#connectTimeout = option('connectTimeout', options.connectTimeout, 10_000);
    const r = options.reconnect || {};
    this.#backoff = {
      initialDelay: option('reconnect.initialDelay', r.initialDelay, 1000),
      factor: option('reconnect.factor', r.factor, 2),
      maxDelay: option('reconnect.maxDelay', r.maxDelay, 30_000),
      // reconnect: false is "no attempt may fail", and a lost link is not retried either.
      maxAttempts: options.reconnect === false ? 0 : option('reconnect.maxAttempts', r.maxAttempts, Infinity),
      stableAfter: option('reconnect.stableAfter', r.stableAfter, 5000, 0),
    };
    this.#policy = options.closePolicy ?? ((close) => defaultCloseAction(close.code));
    const mode = options.mode;
    // In a mode, liveness is on unless `heartbeat: false`, and follows the server's pings
    // (their interval, which comes in the welcome, replaces `interval`).
    const hb = mode && options.heartbeat !== false ? { ...options.heartbeat } : options.heartbeat;
    if (mode && (options.protocols !== undefined || options.codec !== undefined)) {
      throw fail('LL_INVALID_OPTION', 'options.mode sets protocols and codec; leave both unset.');
    }
    if (hb) {
      if (!mode && hb.message === undefined && typeof WS.prototype?.ping !== 'function') {
        throw fail('LL_INVALID_OPTION', 'heartbeat.message is required: this WebSocket cannot ping.');
      }
      const timeout = option('heartbeat.timeout', hb.timeout, 10_000);
      this.#hb = { ...hb, interval: option('heartbeat.interval', hb.interval, 25_000), timeout, wait: timeout };
    }
    this.#mode = mode?.create(this.#modeHost(), this);
    const o = options.outbox ?? {};
    const overflow = o.overflow ?? 'drop-oldest';
    if (overflow !== 'drop-oldest' && overflow !== 'reject-new') {
      throw fail('LL_INVALID_OPTION', `Option outbox.overflow is ${String(overflow)}; expected "drop-oldest" or "reject-new".`);
    }
    this.#outbox = {
      maxMessages: option('outbox.maxMessages', o.maxMessages, 1000, 0),
      maxBytes: option('outbox.maxBytes', o.maxBytes, 1024 * 1024, 0),
      ttl: option('outbox.ttl', o.ttl, Infinity),
      overflow,
      keepOnClose: !!o.keepOnClose,
    };
    this.#browser = options.browserEvents !== false;
    if (options.autoOpen !== false) this.open();
  }

  /** The current state: status, attempt, next try, last close. A new object on every change. */
  get state(): ClientState {
    return this.#state;
  }

  /** Round-trip time of the last answered heartbeat probe, in ms. */
  get rtt(): number | undefined {
    return this.#rtt;
  }

  /** When the last inbound frame (message, or ping/pong where visible) arrived (epoch ms). */
  get lastInboundAt(): number | undefined {
    return this.#lastIn;
  }

  /** Messages waiting in the outbox. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Bytes waiting in the outbox. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Lifeline mode: the current session (after the first welcome), else undefined. */
  get session(): SessionInfo | undefined {
    return this.#mode?.session;
  }

  /**
   * Lifeline mode: asks the server's handler for `name` (`socket.handle(name, …)`) and
   * resolves with its answer, exactly once even across reconnects. Queued like `send()`
   * while not open. Rejects `LL_REQUEST_TIMEOUT`, `LL_REQUEST_FAILED` (a RequestError with
   * the server's code in `remote`), `LL_SESSION_RESET`, `LL_SESSION_CLOSED`,
   * `LL_REQUEST_NOT_SENT`, and `LL_NOT_LIFELINE` in raw mode.
   */
  request(name: string, data?: unknown, options: RequestOptions = {}): Promise<unknown> {
    if (!this.#mode) return Promise.reject(fail('LL_NOT_LIFELINE', `request()${NEEDS_MODE}`));
    return this.#mode.request(name, data, options.timeout);
  }

  /**
   * Lifeline mode: answers the server's `socket.request(name, data)` with what `handler`
   * returns (or resolves to). A thrown error with a string `code` answers with that code and
   * message; any other error answers `LL_HANDLER_ERROR` and is reported as an `error` event.
   * `undefined` removes the handler.
   */
  handle(name: string, handler: RequestHandler | undefined): this {
    if (!this.#mode) throw fail('LL_NOT_LIFELINE', `handle()${NEEDS_MODE}`);
    this.#mode.handle(name, handler);
    return this;
  }

  on<K extends keyof ClientEvents>(type: K, listener: Listener<ClientEvents<In, Out>[K]>): () => void {
    (this.#listeners[type] ??= new Set()).add(listener as Listener<unknown[]>);
    return () => this.off(type, listener);
  }

  off<K extends keyof ClientEvents>(type: K, listener: Listener<ClientEvents<In, Out>[K]>): void {
    this.#listeners[type]?.delete(listener as Listener<unknown[]>);
  }

  #emit<K extends keyof ClientEvents>(type: K, ...args: ClientEvents<In, Out>[K]): void {
    for (const listener of this.#listeners[type] ?? []) {
      try {
        listener(...args);
      } catch (error) {
        // A listener's bug must not leave the client half-way through a transition.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  #set(next: ClientState): void {
    const previous = this.#state;
    this.#state = next;
    this.#emit('state', next, previous);
  }

  /**
   * Connects: from `idle` or `closed` (the failure count starts again), or at once from
   * `reconnecting`. Does nothing while `connecting` or `open`. Never leaves two sockets.
   */
  open(): this {
    const s = this.#state;
    if (s.status === 'closed') this.#failures = 0;
    if (s.status !== 'connecting' && s.status !== 'open') this.#connect();
    return this;
  }

  /**
   * Checks the link now, as the browser's `online` event and a tab becoming visible do; call
   * it where those events do not exist (Node, a network-change callback, an app back from the
   * background). While `open`, probes the link: in Lifeline mode, against a server that
   * answers probes, a dead link is noticed within the probe timeout (2 s); in raw mode the
   * heartbeat's probe goes out. While waiting to reconnect, tries now.
   */
  check(): this {
    this.#onEvent({ type: 'online' });
    return this;
  }

  /**
   * Closes for good (until `open()`): no reconnect, timers stopped, browser listeners removed.
   * The outbox is emptied (a `drop` event each) unless `outbox.keepOnClose`.
   * `code` is 1000 or 3000-4999 (what browsers allow); `reason` at most 123 UTF-8 bytes.
   */
  close(code = 1000, reason = ''): void {
    checkCloseArguments(code, reason);
    const s = this.#state;
    if (s.status === 'closed') return;
    const live = s.status === 'connecting' || s.status === 'open';
    this.#abandon(code, reason);
    this.#listen(false);
    this.#mode?.end(s.status === 'open');
    const info: CloseInfo | undefined = live ? { code, reason, wasClean: true, action: 'stop', at: Date.now() } : undefined;
    this.#set(transition(s, 'closed', { lastClose: info ?? s.lastClose }));
    if (!this.#outbox.keepOnClose) this.#dropAll('closed');
    if (info) this.#emit('close', info);
  }

  /**
   * Sends now if open, else queues (in order, flushed on open). Returns false when the
   * message was dropped instead (a `drop` event says why). Values go through the codec;
   * a value it cannot encode throws `LL_ENCODE_FAILED`.
   */
  send(value: Out, options: SendOptions = {}): boolean {
    let frame: unknown;
    if (this.#mode) {
      frame = this.#mode.item(value);
    } else {
      try {
        frame = this.#codec.encode(value);
        if (typeof frame !== 'string' && !isBinary(frame)) {
          throw new TypeError(`${typeof frame} is neither text nor binary data`);
        }
      } catch (error) {
        throw fail('LL_ENCODE_FAILED', `send(): cannot encode the value: ${(error as Error).message}`, error);
      }
    }
    return this.#submit(value, frame, options);
  }

  /** Writes now if open and nothing waits, else queues within the outbox's bounds. */
  #submit(value: Out, frame: unknown, options: SendOptions, dropped?: Queued<Out>['dropped']): boolean {
    const ws = this.#ws;
    // -1: the mode refused it (and reported that): not sent, not queued.
    const written = this.#state.status === 'open' && ws?.readyState === 1 && !this.#queue.length && this.#write(ws, frame);
    if (written) return written === true;
    const now = Date.now();
    // Only what waits is measured: in Lifeline mode that takes an encode, which also checks the value.
    const size = this.#mode ? this.#mode.size(frame) : byteLength(frame as Frame);
    const entry: Queued<Out> = { value, frame, size, at: now, expires: now + (options.ttl ?? this.#outbox.ttl), dropped };
    if (options.queue === false) return this.#dropped(entry, 'not-open');
    if (this.#state.status === 'closed' && !this.#outbox.keepOnClose) return this.#dropped(entry, 'closed');
    const { maxMessages, maxBytes, overflow } = this.#outbox;
    this.#expire(now);
    if (entry.size > maxBytes) return this.#dropped(entry, 'overflow');
    while (this.#queue.length >= maxMessages || this.#queuedBytes + entry.size > maxBytes) {
      if (overflow === 'reject-new' || !this.#queue.length) return this.#dropped(entry, 'overflow');
      this.#dropped(this.#shift()!, 'overflow');
    }
    this.#queue.push(entry);
    this.#queuedBytes += entry.size;
    return true;
  }

  #shift(): Queued<Out> | undefined {
    const entry = this.#queue.shift();
    if (entry) this.#queuedBytes -= entry.size;
    return entry;
  }

  #dropped(entry: Queued<Out>, reason: DropReason): false {
    if (entry.dropped) entry.dropped(reason);
    else this.#emit('drop', { data: entry.value, reason, queuedAt: entry.at });
    return false;
  }

  /** One frame or item on the wire; false when the mode has no room for it now; -1 when the mode refused it (and reported that). */
  #write(ws: WebSocketLike, frame: unknown): boolean | -1 {
    return this.#mode ? this.#mode.write(frame) : (ws.send(frame as Frame), true);
  }

  #dropAll(reason: DropReason): void {
    for (let entry; (entry = this.#shift()); ) this.#dropped(entry, reason);
  }

  #expire(now: number): void {
    const queue = this.#queue;
    this.#queue = queue.filter((e) => e.expires > now);
    for (const entry of queue) {
      if (entry.expires > now) continue;
      this.#queuedBytes -= entry.size;
      this.#dropped(entry, 'expired');
    }
  }

  /** Sends what waited, oldest first; sends made meanwhile (from listeners) queue behind. */
  #flush(ws: WebSocketLike): void {
    this.#expire(Date.now());
    while (ws === this.#ws && ws.readyState === 1 && this.#queue.length && this.#write(ws, this.#queue[0]!.frame)) this.#shift();
  }

  /** What a wire mode may do to this client. */
  #modeHost(): ModeHost {
    return {
      ready: (session) => this.#ws && this.#ready(this.#ws, session),
      emit: (type: 'message' | 'reset' | 'error' | 'heartbeat' | 'drop', arg: never) => {
        // In Lifeline mode the server measures the round trip and reports it in its pings.
        if (type === 'heartbeat') this.#rtt = arg;
        this.#emit(type, arg);
      },
      submit: (item, dropped) => void this.#submit(undefined as Out, item, {}, dropped),
      flush: () => this.#ws && this.#flush(this.#ws),
      fail: (code, reason, error) => {
        this.#abandon(code, reason);
        this.#lost(code, reason, false, error);
      },
      liveness: (interval, wait) => {
        const hb = this.#hb;
        if (hb) (hb.interval = interval), (hb.wait = wait || hb.timeout);
      },
      probe: () => this.#probe(),
    };
  }

  // ---- connection lifecycle ------------------------------------------------------------

  #connect(): void {
    const s = this.#state;
    if (s.status !== 'idle' && s.status !== 'closed' && s.status !== 'reconnecting') return;
    clearTimeout(this.#retryTimer);
    this.#listen(true);
    const gen = ++this.#gen;
    this.#set(transition(s, 'connecting', { attempt: this.#failures + 1 }));
    const dial = (url: string) => gen === this.#gen && this.#dial(url);
    const broken = (error: unknown) =>
      gen === this.#gen &&
      this.#lost(1006, 'no URL', false, error instanceof LifelineError ? error : fail('LL_INVALID_URL', `url() failed: ${String(error)}`, error));
    try {
      const url = typeof this.#url === 'function' ? this.#url() : this.#url;
      if (typeof url === 'string') dial(url);
      else url.then(dial, broken);
    } catch (error) {
      broken(error);
    }
  }

  #dial(raw: string): void {
    let ws: WebSocketLike;
    try {
      this.url = toWebSocketUrl(raw);
      ws = new this.#WS(this.url, this.#mode ? this.#mode.protocols : this.#protocols);
    } catch (error) {
      const e = error instanceof LifelineError ? error : fail('LL_SOCKET_ERROR', `Cannot open ${raw}: ${(error as Error).message}`, error);
      return this.#lost(1006, e.message, false, e);
    }
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    const url = this.url;
    ws.onopen = () => ws === this.#ws && (this.#mode ? this.#mode.attach(ws) : this.#ready(ws));
    ws.onmessage = (event) => ws === this.#ws && this.#receive(event.data);
    ws.onclose = (event) => ws === this.#ws && this.#lost(event.code, event.reason, event.wasClean);
    ws.onerror = (event) =>
      ws === this.#ws && this.#emit('error', fail('LL_SOCKET_ERROR', `WebSocket error on ${url}${event?.message ? `: ${event.message}` : ''}`, event?.error));
    const touch = () => ws === this.#ws && this.#touch();
    ws.on?.('ping', touch);
    ws.on?.('pong', touch);
    this.#connectTimer = setTimeout(
      () => this.#lost(1006, 'connect timeout', false, fail('LL_CONNECT_TIMEOUT', `${url} did not open within ${this.#connectTimeout} ms.`)),
      this.#connectTimeout,
    );
  }

  /** The connection is open: in a mode, once the session is (the connect timeout covers the welcome too). */
  #ready(ws: WebSocketLike, session?: SessionInfo): void {
    const s = this.#state;
    if (s.status !== 'connecting') return;
    clearTimeout(this.#connectTimer);
    this.#reauthed = false;
    this.#touch();
    this.#set(transition(s, 'open'));
    this.#flush(ws);
    if (ws !== this.#ws) return; // a listener closed it
    this.#emit('open', { url: this.url, protocol: ws.protocol, attempt: s.attempt, session });
    if (this.#hb && ws === this.#ws) this.#schedule(this.#lastIn! + this.#hb.interval);
  }

  #receive(data: unknown): void {
    this.#touch();
    if (this.#mode) return this.#mode.receive(data);
    const receivedAt = this.#lastIn!;
    let raw: { text: string } | { bytes: Uint8Array };
    if (typeof data === 'string') {
      if (data === this.#hb?.reply) return;
      raw = { text: data };
    } else {
      // An ArrayBuffer (no `buffer`, no offset) or a view of one (Node's Buffer).
      const view = data as Partial<ArrayBufferView> & ArrayBuffer;
      raw = { bytes: new Uint8Array(view.buffer ?? view, view.byteOffset, view.byteLength) };
    }
    let message: Message<In>;
    try {
      message = { ...raw, receivedAt, data: this.#codec.decode('text' in raw ? raw.text : raw.bytes) };
    } catch (error) {
      const e = error instanceof LifelineError ? error : fail('LL_DECODE_FAILED', `Cannot decode a message: ${(error as Error).message}`, error);
      message = { ...raw, receivedAt, data: undefined, error: e };
    }
    this.#emit('message', message);
  }

  /**
   * The current socket ended (close event, connect timeout, heartbeat timeout): ask the
   * policy, then wait and reconnect, or stop.
   */
  #lost(code: number, reason: string, wasClean: boolean, error?: LifelineError): void {
    const s = this.#state;
    if (s.status !== 'connecting' && s.status !== 'open') return;
    const dead = code === 1006 && !!error;
    this.#abandon(dead ? 3008 : 1000, dead ? reason : '', dead);
    if (error) this.#emit('error', error);
    const now = Date.now();
    const b = this.#backoff;
    // A link that stayed up resets the count; one that dropped soon after opening counts as
    // a failed attempt, so a server that accepts and then closes at once still backs off.
    if (s.status === 'open' && now - s.since >= b.stableAfter) this.#failures = 0;
    else this.#failures++;
    let action: CloseAction;
    try {
      action = this.#policy({ code, reason, wasClean });
    } catch (e) {
      this.#emit('error', fail('LL_INVALID_OPTION', `closePolicy threw: ${String(e)}; used the default policy.`, e));
      action = defaultCloseAction(code);
    }
    const hint = parseRetryHint(reason);
    const info: CloseInfo = { code, reason, wasClean, action, hint, at: now };
    if (action !== 'stop' && this.#failures >= b.maxAttempts) {
      info.action = 'stop';
      this.#set(
        transition(s, 'closed', {
          lastClose: info,
          error: b.maxAttempts
            ? fail('LL_RETRIES_EXHAUSTED', `${this.#failures} connection attempts in a row failed (reconnect.maxAttempts).`)
            : undefined,
        }),
      );
    } else if (action === 'stop') {
      this.#set(transition(s, 'closed', { lastClose: info }));
    } else {
      // After a link that stayed up (no failures), a server's hint replaces the client's own
      // jitter: the server already spread its clients (a node handing its sessions to others
      // says "now"). Otherwise the hint is only a floor under the backoff, so a server that
      // keeps closing cannot pull the client into a tight loop.
      const delay =
        action === 'retry-slow'
          ? Math.floor(b.maxDelay * (0.5 + Math.random() / 2))
          : (action === 'reauth' && !this.#reauthed) || (hint !== undefined && !this.#failures)
            ? 0
            : backoffDelay(this.#failures + 1, b);
      this.#reauthed = action === 'reauth';
      this.#wait(s, Math.max(delay, hint ?? 0), info);
    }
    if (this.#state.status === 'closed') {
      this.#listen(false);
      if (!this.#outbox.keepOnClose) this.#dropAll('closed');
    }
    this.#emit('close', info);
  }

  /** Enter `reconnecting`: wait `delay` ms, or for `online` while the browser says offline. */
  #wait(s: ClientState & { status: 'connecting' | 'open' | 'reconnecting' }, delay: number, lastClose = s.lastClose): void {
    clearTimeout(this.#retryTimer);
    const attempt = this.#failures + 1;
    if (this.#offline()) {
      this.#set(transition(s, 'reconnecting', { attempt, waitingFor: 'online', lastClose }));
    } else {
      this.#retryTimer = setTimeout(() => this.#connect(), delay);
      this.#set(transition(s, 'reconnecting', { attempt, waitingFor: 'timer', nextAttemptAt: Date.now() + delay, lastClose }));
    }
  }

  /** Forget the current socket (its late events are ignored) and every timer. */
  #abandon(code = 1000, reason = '', dead = false): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#gen++;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#beatTimer);
    this.#probeAt = 0;
    this.#mode?.detach();
    if (!ws) return;
    // noop, not null: ws emits 'error' when a connecting socket is closed, and an
    // EventEmitter with no 'error' listener throws.
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = noop;
    try {
      if (dead && ws.terminate) ws.terminate();
      else if (ws.readyState < 2) ws.close(code, reason);
    } catch {
      // A browser refuses codes other than 1000 and 3000-4999: a protocol error's 1002, 1007
      // or 1008 goes out as 4002, 4007 or 4008 (PROTOCOL.md §2.6), with the reason. Never
      // 1000, which would end a Lifeline session the server still holds. (The codes 4000-4999
      // this client uses never throw, and keep their value.)
      try {
        ws.close(4000 + (code % 1000), reason);
      } catch {
        // already closing
      }
    }
  }

  // ---- heartbeat -----------------------------------------------------------------------
  //
  // Silence is judged from wall-clock timestamps (last inbound frame, last probe), never by
  // counting timer ticks. A timer that fires late (throttled hidden tab, frozen page,
  // sleeping laptop) proves nothing about the link: events may be queued behind it. So a
  // late timer sends a fresh probe and gives it a full timeout; only an on-time timer, with
  // no inbound frame since a probe sent at least `timeout` ago, declares the link dead.

  #touch(): void {
    const now = (this.#lastIn = Date.now());
    const probedAt = this.#probeAt;
    if (probedAt) {
      this.#probeAt = 0;
      this.#schedule(now + this.#hb!.interval);
      // In Lifeline mode the server measures the round trip and reports it in its pings.
      if (this.#mode) return;
      this.#rtt = now - probedAt;
      this.#emit('heartbeat', this.#rtt);
    }
  }

  #schedule(at: number): void {
    clearTimeout(this.#beatTimer);
    this.#beatDue = at;
    this.#beatTimer = setTimeout(this.#beat, Math.max(0, at - Date.now()));
  }

  #beat = (): void => {
    const hb = this.#hb!;
    const now = Date.now();
    const wait = hb.wait;
    const late = now - this.#beatDue > Math.min(LATE_MS, wait / 2);
    if (this.#probeAt) {
      if (late) return this.#probe(true);
      if (now - this.#probeAt >= wait) {
        return this.#lost(1006, 'heartbeat timeout', false, fail('LL_HEARTBEAT_TIMEOUT', `Nothing arrived within ${wait} ms of a probe.`));
      }
      return this.#schedule(this.#probeAt + wait);
    }
    if (now - this.#lastIn! >= hb.interval) this.#probe(true);
    else this.#schedule(this.#lastIn! + hb.interval);
  };

  /**
   * Probes the link and arms the deadline for an answer (any inbound frame). `fresh`: the
   * timer's probe, sent even while one is outstanding; an event's (online, visible, a send
   * into a stale link) leaves an outstanding probe to its deadline.
   */
  #probe(fresh?: boolean): void {
    const ws = this.#ws;
    const hb = this.#hb;
    if (!hb || !ws || this.#state.status !== 'open' || (this.#probeAt && !fresh)) return;
    const m = hb.message;
    if (this.#mode) {
      // Lifeline mode: a `ping` the server answers at once, if its welcome said it does
      // (PROTOCOL.md §2.5). Else only the server's own pings can answer: the timer waits
      // `timeout` past `hb` for them, and an event has nothing to send.
      if (!this.#mode.probe() && !fresh) return;
    } else {
      try {
        if (m === undefined) ws.ping!();
        else ws.send(typeof m === 'function' ? m() : m);
      } catch {
        // the close event follows
      }
    }
    this.#probeAt = Date.now();
    this.#schedule(this.#probeAt + hb.wait);
  }

  // ---- browser events ------------------------------------------------------------------

  #offline(): boolean {
    return this.#listening && (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false;
  }

  #listen(on: boolean): void {
    const g = globalThis as unknown as { addEventListener?: Function; removeEventListener?: Function; document?: typeof g };
    if (!this.#browser || !g.addEventListener || this.#listening === on) return;
    this.#listening = on;
    const method = on ? 'addEventListener' : 'removeEventListener';
    for (const type of ['online', 'offline', 'pagehide', 'pageshow']) g[method]!(type, this.#onEvent);
    g.document?.[method]?.('visibilitychange', this.#onEvent);
  }

  #onEvent = (event: { type: string; persisted?: boolean }): void => {
    const s = this.#state;
    const type = event.type;
    if (type === 'pagehide') {
      // Close so the page can enter the back/forward cache; pageshow brings the link back.
      if (s.status === 'connecting' || s.status === 'open' || s.status === 'reconnecting') {
        this.#abandon(this.#mode ? PAUSE_CLOSE_CODE : 1000, 'page hidden');
        this.#set(transition(s, 'reconnecting', { waitingFor: 'pageshow' }));
      }
    } else if (type !== 'visibilitychange' || (globalThis as { document?: { visibilityState?: string } }).document?.visibilityState === 'visible') {
      // offline, online, pageshow, tab visible again: probe an open link (not on pageshow:
      // it just connected). Waiting to reconnect: offline waits for online instead of the
      // timer; the others try now rather than at the end of the backoff.
      if (s.status === 'open') {
        if (type !== 'pageshow') this.#probe();
      } else if (s.status === 'reconnecting') {
        if (type !== 'offline') {
          if ((s.waitingFor !== 'pageshow' || event.persisted) && !this.#offline()) this.#connect();
        } else if (s.waitingFor === 'timer') this.#wait(s, 0);
      }
    }
  };
}

/** `new LifelineClient(url, options)`. */
export function createClient<In = unknown, Out = unknown>(
  url: string | { href: string } | (() => string | Promise<string>),
  options?: ClientOptions<In, Out>,
): LifelineClient<In, Out> {
  return new LifelineClient<In, Out>(url, options);
}
