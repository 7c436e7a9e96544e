/**
 * Lifeline mode for `@lifeline/client` (PROTOCOL.md §2), a separate entry point so that a
 * raw-mode bundle never contains it:
 *
 *   import { createClient } from '@lifeline/client';
 *   import { lifeline } from '@lifeline/client/lifeline';
 *   const client = createClient('wss://example.test/chat', { mode: lifeline() });
 *
 * One session survives every reconnect within the server's resume window: each message is
 * numbered, kept until the server acknowledges it, and sent again after a resume; the
 * server does the same, and duplicates are dropped by number. What cannot be resumed is
 * reported as a `reset` event, never lost silently.
 */
import {
  decodeBinaryEnvelope,
  decodeEnvelope,
  encodeBinaryEnvelope,
  encodeEnvelope,
  EnvelopeError,
  InboundSequence,
  jsonProblem,
  LIFELINE_JSON_PROTOCOL,
  LifelineError,
  MAX_REQUEST_ID,
  MAX_HEARTBEAT_INTERVAL,
  MAX_REQUEST_NAME_LENGTH,
  ReplayBuffer,
  RequestError,
  type BoundsProblem,
  type DecodeLimits,
  type Envelope,
  type ResponseError,
  type SequencedEnvelope,
  type WelcomeEnvelope,
} from '@lifeline/protocol';
import { channelHosts, type ChannelHost, type ChannelLink, type ChannelSink } from './channel-link.js';
import { byteLength } from './codec.js';
import type { Mode, ModeFactory, ModeHost, RequestHandler, ResetInfo, SessionInfo } from './mode.js';
import type { DropSource, Restored, SessionStore } from './store-link.js';
import type { Frame, WebSocketLike } from './types.js';

/** How envelopes travel: JSON text frames (default) or MessagePack binary frames (`@lifeline/client/msgpack`). */
export interface EnvelopeFormat {
  /** The subprotocol: `lifeline.v1` or `lifeline.v1.msgpack`. */
  readonly protocol: string;
  /** Frames are binary. */
  readonly binary: boolean;
  /** Throws LifelineError `LL_ENCODE_FAILED`. */
  encode(envelope: Envelope): Frame;
  /** Throws EnvelopeError (1007 / 1002). */
  decode(frame: string | Uint8Array): Envelope;
  /**
   * What in an encoded frame breaks `limits` (the server's `welcome.max`), so that the client
   * refuses it before numbering it; `undefined` when nothing does. Optional: without it only
   * the size is checked.
   */
  problem?(frame: Frame, limits: DecodeLimits): BoundsProblem | undefined;
  /**
   * A format of text frames whose envelopes with `b` may also travel as binary frames, once
   * the server agrees (JSON mode's binary form, PROTOCOL.md §2.8): the binary frame of an
   * envelope that carries `b`, or `undefined`. `decode` then takes such frames as bytes.
   */
  encodeBinary?(envelope: Envelope): Uint8Array | undefined;
}

/**
 * `lifeline.v1`: one JSON envelope per text frame; with the server's agreement, an envelope
 * with `b` in the binary form (PROTOCOL.md §2.8): its JSON without `b`, a 0x00 byte, the bytes.
 */
export const jsonFormat: EnvelopeFormat = {
  protocol: LIFELINE_JSON_PROTOCOL,
  binary: false,
  encode: encodeEnvelope,
  encodeBinary: encodeBinaryEnvelope,
  decode: (frame) => (typeof frame === 'string' ? decodeEnvelope(frame) : decodeBinaryEnvelope(frame)),
  // The server's own check, over the same text (of a binary form, its head): they agree exactly.
  problem: (frame, limits) => (typeof frame === 'string' ? jsonProblem(frame, limits, 1) : binaryFormProblem(frame as Uint8Array, limits)),
};

let headDecoder: InstanceType<typeof TextDecoder> | undefined;

/** What in a binary-form frame's head breaks `limits`, as the server counts it (`b` is one of its items). */
function binaryFormProblem(frame: Uint8Array, limits: DecodeLimits): BoundsProblem | undefined {
  const head = (headDecoder ??= new TextDecoder()).decode(frame.subarray(0, frame.indexOf(0)));
  return jsonProblem(head, { ...limits, maxItems: limits.maxItems - 1 }, 1);
}

/**
 * The bytes of a binary-form frame's text form (`b` in base64 inside the JSON): what a replay
 * on a connection that did not agree to the binary form would send (PROTOCOL.md §2.8 R7).
 */
function textFormSize(frame: Uint8Array): number {
  const head = frame.indexOf(0);
  return head + 7 + 4 * Math.ceil((frame.byteLength - head - 1) / 3);
}

export interface LifelineModeOptions {
  /** Envelope format. Default {@link jsonFormat}; `msgpackFormat` from `@lifeline/client/msgpack` for binary frames. */
  format?: EnvelopeFormat;
  /**
   * Bounds of the client's replay buffer: messages written and not yet acknowledged. When it
   * is full, new messages wait in the outbox (and its `outbox` bounds and policy apply)
   * until acknowledgements make room; nothing already numbered is ever dropped.
   */
  replay?: {
    /** Default 10000. */
    maxMessages?: number;
    /** UTF-8 bytes of the encoded envelopes. Default 8388608 (8 MiB). */
    maxBytes?: number;
  };
  /** Default timeout of `client.request()`, in ms. Default 30000. */
  requestTimeout?: number;
  /**
   * An access token for a server route with `auth` (PROTOCOL.md §4): called before every
   * hello, whose `auth` carries it, so each connection brings a fresh one. A failure closes
   * the attempt with 4401 and the close policy applies. Refresh a long session without
   * reconnecting with `client.request('$auth', { token })`.
   */
  token?: () => string | Promise<string>;
  /**
   * Keep the session, the outbox and the received position across page lives:
   * `persistent(name)` from `@lifeline/client/persist` (docs/client.md, "Persistence").
   * Unset: in memory, for this page life.
   */
  store?: SessionStore;
  /**
   * Probes (PROTOCOL.md §2.5), against a server whose welcome says it answers them: the
   * client sends `ping` on `online`, when the page becomes visible, on `client.check()`,
   * on a send into a link that received nothing for `staleAfter`, and when the server's own
   * ping is a second overdue; the link is dead when nothing answers within `timeout` (or
   * three round trips, if longer). `false`: never probe; a dead link is then noticed only
   * after the welcome's `hb` plus `heartbeat.timeout`. Off with `heartbeat: false` too.
   */
  probe?: { timeout?: number; staleAfter?: number } | false;
  /**
   * JSON mode: ask the server for the binary form (PROTOCOL.md §2.8), so that a message,
   * request or answer with bytes travels as one binary frame instead of base64 inside JSON,
   * once the server's welcome agrees (a server that does not know it keeps base64). Default
   * `true`; `false` keeps every envelope a text frame. No effect with `msgpackFormat`.
   */
  binaryForm?: boolean;
}

/**
 * Against a server that answers probes, the client probes by timer only this long after
 * the server's own ping fell due (a round trip, a busy machine): an idle healthy link then
 * costs the pongs it always did and nothing more.
 */
const PROBE_GRACE_MS = 1000;

interface ProbeSettings {
  timeout: number;
  staleAfter: number;
}

/** Lifeline mode, for `createClient(url, { mode: lifeline(options) })`. */
export function lifeline(options: LifelineModeOptions = {}): ModeFactory {
  const bound = (name: string, value: number | undefined, fallback: number, min = 1) => {
    if (value === undefined) return fallback;
    if (!(value >= min)) throw new LifelineError('LL_INVALID_OPTION', `lifeline(): ${name} is ${String(value)}; expected a number ≥ ${min}.`);
    return value;
  };
  const probe = options.probe;
  const settings: Settings = {
    format: options.format ?? jsonFormat,
    maxMessages: bound('replay.maxMessages', options.replay?.maxMessages, 10_000),
    maxBytes: bound('replay.maxBytes', options.replay?.maxBytes, 8 * 1024 * 1024),
    requestTimeout: bound('requestTimeout', options.requestTimeout, 30_000),
    token: options.token,
    store: options.store,
    binaryForm: options.binaryForm !== false,
    probe: probe !== false && {
      timeout: bound('probe.timeout', probe?.timeout, 2000),
      staleAfter: bound('probe.staleAfter', probe?.staleAfter, 5000, 0),
    },
  };
  return {
    create(host, client) {
      const session = new LifelineSession(host, settings, client as DropSource);
      // `@lifeline/client/channels` finds the session from the client the application holds.
      channelHosts.set(client, session);
      return session;
    },
  };
}

interface Settings {
  format: EnvelopeFormat;
  maxMessages: number;
  maxBytes: number;
  requestTimeout: number;
  token: (() => string | Promise<string>) | undefined;
  store: SessionStore | undefined;
  probe: ProbeSettings | false;
  binaryForm: boolean;
}

type Body = { d: unknown } | { b: Uint8Array };
type Unsequenced = { t: 'm' } & Body | ({ t: 'q'; id: number; n: string } & Body) | ({ t: 'r'; id: number } & (Body | { e: ResponseError }));

/** An outbox and replay-buffer item: the envelope without `s`/`a`, and the value `send()` got. */
interface Item {
  readonly envelope: Unsequenced;
  readonly value?: unknown;
  /** The session (by epoch) a response belongs to: it is not sent on a later one. */
  readonly epoch?: number;
}

interface PendingRequest {
  readonly name: string;
  /** Settles the request once: `error`, or the answer in `value`. */
  done(error: Error | undefined, value?: unknown): void;
  timer: ReturnType<typeof setTimeout>;
  /** Written to the session (not only queued): a reset means its answer will never come. */
  written?: boolean;
}

/** What the server may send once the session runs. */
type Inbound = Exclude<Envelope, { t: 'hello' | 'error' }>;

const isBinary = (value: unknown): value is ArrayBuffer | ArrayBufferView => value instanceof ArrayBuffer || ArrayBuffer.isView(value);

const toBytes = (value: ArrayBuffer | ArrayBufferView): Uint8Array =>
  ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);

const body = (value: unknown): Body => (isBinary(value) ? { b: toBytes(value) } : { d: value === undefined ? null : value });

const payloadOf = (e: { d?: unknown; b?: Uint8Array }): unknown => (e.b !== undefined ? e.b : e.d);

class LifelineSession implements Mode, ChannelHost {
  readonly protocols: string[];
  session: SessionInfo | undefined;
  readonly #host: ModeHost;
  readonly #settings: Settings;
  readonly #format: EnvelopeFormat;
  #ws: WebSocketLike | undefined;
  /** The transport carries the session: the welcome arrived on it. */
  #welcomed = false;
  /** Its server answers probes (`welcome.probe`, PROTOCOL.md §2.5). */
  #probes = false;
  /** The hello asks for the binary form (PROTOCOL.md §2.8): the option, and a format that has one. */
  readonly #asksBinary: boolean;
  /** This connection's welcome agreed to the binary form: binary frames arrive, and envelopes with `b` go, in it. */
  #binary = false;
  /** When the last frame arrived (a send into a link silent for `staleAfter` probes it), and the last round trip measured. */
  #lastIn = 0;
  #rtt = 0;
  #sid: string | undefined;
  #tok: string | undefined;
  /** Bumped on every new session (a reset): answers to an older session's requests are not sent. */
  #epoch = 0;
  #replay = new ReplayBuffer<Item>();
  #inbound = new InboundSequence();
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** The highest acknowledgement sent in this session (`a` or a hello's `rx`). */
  #ackSent = 0;
  #requests = new Map<number, PendingRequest>();
  #nextId = 1;
  #handlers = new Map<string, RequestHandler>();
  /** Channels (PROTOCOL.md §3), once `@lifeline/client/channels` is used on this client. */
  #channels: ChannelSink | undefined;
  /**
   * Until then, the subscriptions the server made (`$subscribed`, by channel, less those it
   * ended), so that channels attached later still learn about them.
   */
  #madeByServer = new Map<unknown, unknown>();
  /** Persistence (`lifeline({ store })`): every change goes to it, and waits for it. */
  readonly #store: SessionStore | undefined;
  /** Until the store has read what the last page life left: no hello before that. */
  #restoring: Promise<void> | undefined;
  /**
   * Restored items never written: they go out before anything the outbox holds (and stay,
   * like the outbox with `keepOnClose`, across `close()`).
   */
  #backlog: Item[] = [];
  /** Inbound work waiting for the store to make the received position durable. */
  #held = 0;
  /** A welcome (and what followed it on its connection) waiting behind held deliveries. */
  #waiting: { ws: WebSocketLike | undefined; envelopes: Inbound[] } | undefined;
  /** What the server accepts (`welcome.max`); unknown until a welcome says. */
  #maxSize: number | undefined;
  #limits: DecodeLimits | undefined;
  constructor(host: ModeHost, settings: Settings, client: DropSource) {
    this.#host = host;
    this.#settings = settings;
    this.#format = settings.format;
    this.#asksBinary = settings.binaryForm && !settings.format.binary && settings.format.encodeBinary !== undefined;
    this.protocols = [settings.format.protocol];
    const store = (this.#store = settings.store);
    // (The store listens to the client's drop events: the outbox drops items without telling the mode.)
    if (store) {
      this.#restoring = store.restore(this.#format, client).then((restored) => {
        // What the last page life left: its session, and the outbox it never wrote.
        this.#restoring = undefined;
        const stored = (restored as Restored<Item>).session;
        if (stored) {
          this.#replay = stored.replay;
          this.#inbound = new InboundSequence({ delivered: stored.rx });
          this.#sid = stored.sid;
          this.#tok = stored.tok;
          this.#nextId = stored.nextId;
        }
        this.#backlog = restored.queued as Item[];
      });
      store.onAcknowledgeable(() => this.#welcomed && this.#ackValue() > this.#ackSent && this.#sendAck());
    }
  }

  channels<S extends ChannelSink>(make: (link: ChannelLink) => S): S {
    if (this.#channels) return this.#channels as S;
    const session = this;
    const sink = make({
      get connected() {
        return session.#welcomed && session.#ws?.readyState === 1;
      },
      get resumed() {
        return session.session?.resumed === true;
      },
      call: (name, data, done) => this.#call(name, data, this.#settings.requestTimeout, done),
    });
    this.#channels = sink;
    // After the call that attached them returns, so that its caller's listeners hear of these.
    const made = [...this.#madeByServer.values()];
    this.#madeByServer.clear();
    if (made.length > 0) queueMicrotask(() => made.forEach((data) => sink.reserved('$subscribed', data, true)));
    return sink;
  }

  item(value: unknown): Item {
    return { envelope: { t: 'm', ...body(value) }, value };
  }

  size(item: Item): number {
    const frame = this.#format.encode({ ...item.envelope, s: 1 } as Envelope);
    // It waits in the outbox: messages and answers are kept for the next page life (a
    // request's caller is gone by then).
    if (item.envelope.t !== 'q') this.#store?.queued(item, () => frame, Date.now());
    return byteLength(frame);
  }

  attach(ws: WebSocketLike): void {
    this.#ws = ws;
    this.#welcomed = this.#probes = this.#binary = false;
    const restoring = this.#restoring;
    if (restoring) void restoring.then(() => ws === this.#ws && this.#greet(ws));
    else this.#greet(ws);
  }

  #greet(ws: WebSocketLike): void {
    const token = this.#settings.token;
    if (!token) return this.#hello(ws);
    // A fresh token for every connection; the connect timeout covers the wait.
    new Promise<string>((ok) => ok(token()))
      .then((auth) => this.#hello(ws, auth))
      .then(undefined, (error) => ws === this.#ws && this.#host.fail(4401, 'no token', new LifelineError('LL_AUTH_FAILED', `token(): ${String(error)}`, { cause: error })));
  }

  #hello(ws: WebSocketLike, auth?: string): void {
    if (ws !== this.#ws) return;
    const a = auth === undefined ? (this.#asksBinary ? { bin: true } : {}) : this.#asksBinary ? { auth, bin: true } : { auth };
    if (this.#sid !== undefined && this.#tok !== undefined) {
      const rx = this.#ackValue();
      this.#send({ t: 'hello', v: 1, sid: this.#sid, tok: this.#tok, rx, ...a });
      this.#inbound.acknowledgedByRx();
      this.#ackSent = rx;
    } else {
      this.#send({ t: 'hello', v: 1, ...a });
    }
  }

  probe(): boolean {
    return this.#probes && this.#send({ t: 'ping', ts: Date.now() }, true);
  }

  detach(): void {
    this.#ws = undefined;
    this.#welcomed = this.#probes = this.#binary = false;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#channels?.detached();
  }

  end(open: boolean): void {
    this.detach();
    const unconfirmed = this.#forget();
    const now = Date.now();
    this.#store?.session(undefined, undefined, true);
    if (!open) for (const data of unconfirmed) this.#host.emit('drop', { data, reason: 'closed', queuedAt: now });
    for (const [, request] of this.#requests) {
      request.done(new LifelineError('LL_SESSION_CLOSED', `Request "${request.name}": the client was closed before the answer arrived.`));
    }
    this.#sid = this.#tok = this.session = undefined;
  }

  write(item: Item): boolean | -1 {
    // Restored messages first: they were sent in an earlier page life.
    return this.#backlog.length === 0 && this.#number(item);
  }

  #number(item: Item): boolean | -1 {
    const ws = this.#ws;
    if (!this.#welcomed || ws === undefined || ws.readyState !== 1) return false;
    if (item.epoch !== undefined && item.epoch !== this.#epoch) return true; // an answer to a request of a session that is gone
    const replay = this.#replay;
    if (replay.count >= this.#settings.maxMessages || replay.bytes >= this.#settings.maxBytes) return false;
    const s = replay.lastSeq + 1;
    const { frame, a } = this.#encodeSequenced(item, s);
    const size = byteLength(frame);
    // Over what the server accepts: numbered and sent, it would close the connection, and
    // be resent after every resume (PROTOCOL.md §2.6). Refused here, it never gets a number
    // (and the acknowledgement it would have carried stays pending).
    const refused = this.#refusal(frame, size);
    if (refused !== undefined) {
      this.#refused(item, refused);
      return -1;
    }
    if (a !== undefined) this.#tookAck(a);
    const now = Date.now();
    replay.push(s, item, size, now);
    this.#store?.written(item, s, frame);
    this.#out(ws, frame);
    // Written into a link that received nothing for a while: is it still there? (PROTOCOL.md §2.5)
    if (this.#probes && now - this.#lastIn >= (this.#settings.probe as ProbeSettings).staleAfter) this.#host.probe();
    // (A request that timed out while it waited in the outbox is gone from the map.)
    const request = item.envelope.t === 'q' ? this.#requests.get(item.envelope.id) : undefined;
    if (request) request.written = true;
    return true;
  }

  receive(data: unknown): void {
    this.#lastIn = Date.now();
    const binary = typeof data !== 'string';
    if (binary !== this.#format.binary && !(binary && this.#binary)) {
      return this.#fail(new EnvelopeError(1008, this.#format.binary ? 'text frame in MessagePack mode' : 'binary frame in JSON mode without the binary form agreed'));
    }
    let envelope: Envelope;
    try {
      envelope = this.#format.decode(binary ? toBytes(data as ArrayBuffer) : (data as string));
    } catch (error) {
      if (error instanceof EnvelopeError) return this.#fail(error);
      throw error;
    }
    if (envelope.t === 'error') {
      // The server closes right after; say what it objected to.
      this.#host.emit('error', new LifelineError('LL_INVALID_ENVELOPE', `The server refused what this client sent (close ${envelope.code}): ${envelope.message}`));
      return;
    }
    if (envelope.t === 'hello') return this.#fail(new EnvelopeError(1008, 'hello: only the client sends this envelope'));
    // The binary form (PROTOCOL.md §2.8) holds from the welcome that agrees to what the hello asked.
    if (envelope.t === 'welcome') this.#binary = this.#asksBinary && envelope.bin === true;
    const waiting = this.#waiting;
    if (waiting) {
      waiting.envelopes.push(envelope);
      return;
    }
    this.#take(envelope);
  }

  /** A decoded envelope, in order. */
  #take(envelope: Inbound): void {
    if (!this.#welcomed) {
      if (envelope.t !== 'welcome') return this.#fail(new EnvelopeError(1008, `${envelope.t}: before welcome`));
      // Deliveries of the last connection wait for the store: the welcome (a reset, the
      // replay) and what follows it on this one come after them.
      if (this.#held > 0) this.#waiting = { ws: this.#ws, envelopes: [envelope] };
      else this.#welcome(envelope);
      return;
    }
    switch (envelope.t) {
      case 'welcome':
        return this.#fail(new EnvelopeError(1008, 'welcome: a second welcome on one connection'));
      case 'a':
        this.#acknowledged(envelope.a);
        return;
      case 'ping':
        this.#send({ t: 'pong', ts: envelope.ts }, true);
        if (envelope.rtt !== undefined) this.#host.emit('heartbeat', (this.#rtt = envelope.rtt));
        return;
      case 'pong':
        // The answer to this client's probe (PROTOCOL.md §2.5), with the clock it sent: the
        // core already counted it as life; the round trip is measured here.
        return this.#host.emit('heartbeat', (this.#rtt = Math.max(0, this.#lastIn - envelope.ts)));
      // Channel traffic is not numbered (PROTOCOL.md §3.2): the channels order it by offset.
      // (Behind deliveries waiting for the store, if any, so that they keep their place.)
      case 'p':
        return this.#held > 0 ? this.#later(() => this.#channels?.publication(envelope)) : this.#channels?.publication(envelope);
      case 'pr':
        return this.#held > 0 ? this.#later(() => this.#channels?.presence(envelope)) : this.#channels?.presence(envelope);
      default:
        return this.#sequenced(envelope);
    }
  }

  request(name: string, data: unknown, timeout = this.#settings.requestTimeout): Promise<unknown> {
    if (typeof name !== 'string' || name === '' || [...name].length > MAX_REQUEST_NAME_LENGTH) {
      return Promise.reject(new LifelineError('LL_INVALID_OPTION', `request(name): the name must be 1-${MAX_REQUEST_NAME_LENGTH} characters.`));
    }
    if (!(timeout > 0)) return Promise.reject(new LifelineError('LL_INVALID_OPTION', `request("${name}"): timeout must be a number of ms > 0.`));
    return new Promise((resolve, reject) => this.#call(name, data, timeout, (error, value) => (error ? reject(error) : resolve(value))));
  }

  handle(name: string, handler: RequestHandler | undefined): void {
    if (name.startsWith('$')) {
      throw new LifelineError('LL_INVALID_OPTION', `handle("${name}"): names starting with $ are reserved for the protocol (PROTOCOL.md §3.3).`);
    }
    if (handler === undefined) this.#handlers.delete(name);
    else this.#handlers.set(name, handler);
  }

  // ---- inbound -------------------------------------------------------------------------

  #welcome(welcome: WelcomeEnvelope): void {
    let replay = this.#replay;
    let reset: ResetInfo | undefined;
    if (welcome.resumed) {
      if (welcome.sid !== this.#sid) return this.#fail(new EnvelopeError(1002, 'welcome.sid: resumed a session this client did not ask for'));
      if (welcome.rx < replay.acked || welcome.rx > replay.lastSeq) return this.#fail(new EnvelopeError(1002, 'welcome.rx: out of range'));
      if (replay.ack(welcome.rx) > 0) this.#store?.acknowledged(welcome.rx);
    } else if (this.#sid !== undefined) {
      const unconfirmed = this.#forget();
      replay = this.#replay;
      this.#epoch++;
      reset = { reason: welcome.reset?.reason ?? 'unknown-session', session: { id: welcome.sid, resumed: false }, unconfirmed };
    }
    this.#sid = welcome.sid;
    this.#tok = welcome.tok;
    this.#store?.session(welcome.sid, welcome.tok, !welcome.resumed);
    this.#welcomed = true;
    const max = welcome.max;
    this.#maxSize = max?.size;
    this.#limits = max === undefined ? undefined : { maxDepth: max.depth, maxItems: max.items, maxKeyLength: max.key };
    this.session = { id: welcome.sid, resumed: welcome.resumed };
    // The server pings a link silent for hb + max(hb/4, 25 ms) at the latest (PROTOCOL.md
    // §2.5): against a server that answers probes, the client probes only once that ping is
    // a second overdue, so the server's pings alone keep an idle healthy link fresh.
    // A probe gets the probe timeout, or three round trips on a slow link.
    const hb = welcome.hb;
    const probe = welcome.probe === true && this.#settings.probe;
    this.#probes = !!probe;
    if (probe) this.#host.liveness(Math.min(hb + Math.max(hb / 4, 25) + PROBE_GRACE_MS, MAX_HEARTBEAT_INTERVAL), Math.max(probe.timeout, 3 * this.#rtt));
    else this.#host.liveness(hb);
    // What the server missed goes first, in order; the outbox follows when the host is ready.
    const ws = this.#ws!;
    for (const [s, item] of replay.entriesAfter(welcome.rx)) {
      const { frame, a } = this.#encodeSequenced(item, s);
      if (a !== undefined) this.#tookAck(a);
      this.#out(ws, frame);
    }
    this.#drain();
    // Every channel again, from its position, resumed or not (PROTOCOL.md §3.3): what was
    // written into the dead link is not replayed, and a new session has no subscriptions.
    // Before `ready`, so that these queue and go out with the outbox, ahead of what `open`
    // listeners send.
    this.#channels?.welcome();
    this.#host.ready(this.session);
    if (reset) this.#host.emit('reset', reset);
  }

  #sequenced(envelope: SequencedEnvelope): void {
    if (envelope.a !== undefined && !this.#acknowledged(envelope.a)) return;
    const inbound = this.#inbound;
    const verdict = inbound.receive(envelope.s, Date.now());
    if (verdict === 'gap') return this.#fail(new EnvelopeError(1002, `${envelope.t}.s: expected ${inbound.delivered + 1}, got a later one`));
    const store = this.#store;
    // Recorded before an acknowledgement can name it.
    if (verdict === 'deliver') store?.arrived(envelope.s, envelope);
    this.#scheduleAck();
    if (verdict === 'duplicate') return;
    if (!store) return this.#deliver(envelope);
    // Handed over only once the store holds the new position: never again after a reload.
    this.#later(() => this.#deliver(envelope));
  }

  #deliver(envelope: SequencedEnvelope): void {
    if (envelope.t === 'm') this.#host.emit('message', { data: payloadOf(envelope), bytes: envelope.b, receivedAt: Date.now(), seq: envelope.s });
    else if (envelope.t === 'q') {
      // Reserved names ($subscribed, …) are the protocol's, answered before any application handler.
      if (envelope.n.startsWith('$')) this.#reserved(envelope.id, envelope.n, payloadOf(envelope));
      else void this.#answer(envelope.id, envelope.n, payloadOf(envelope));
    } else {
      const request = this.#requests.get(envelope.id);
      if (request === undefined) return; // timed out already
      if (envelope.e !== undefined) request.done(new RequestError(request.name, envelope.e, 'server'));
      else request.done(undefined, payloadOf(envelope));
    }
  }

  /** Frees what `a` covers; false (after closing) when it acknowledges something never sent. */
  #acknowledged(a: number): boolean {
    const replay = this.#replay;
    if (a > replay.lastSeq) {
      this.#fail(new EnvelopeError(1002, 'a: acknowledges a sequence number never sent'));
      return false;
    }
    if (replay.ack(a) > 0) {
      this.#store?.acknowledged(a);
      this.#drain();
      this.#host.flush();
    }
    return true;
  }

  /** Answers a reserved request at once: the publications that follow it on the wire must find it applied. */
  #reserved(id: number, name: string, data: unknown): void {
    let error: ResponseError | undefined;
    const ch = (data as { ch?: unknown } | null)?.ch;
    if (this.#channels) error = this.#channels.reserved(name, data);
    else if (name === '$subscribed') this.#madeByServer.set(ch, data);
    else if (name === '$unsubscribed') this.#madeByServer.delete(ch);
    else error = { code: 'LL_NO_HANDLER', message: `no handler for request "${name}"` };
    const item: Item = { envelope: error ? { t: 'r', id, e: error } : { t: 'r', id, d: null }, epoch: this.#epoch };
    this.#host.submit(item, (reason) => this.#notSent(item, name, reason));
  }

  async #answer(id: number, name: string, data: unknown): Promise<void> {
    const epoch = this.#epoch;
    const handler = this.#handlers.get(name);
    let outcome: Body | { e: ResponseError };
    if (handler === undefined) {
      outcome = { e: { code: 'LL_NO_HANDLER', message: `no handler for request "${name}"` } };
    } else {
      try {
        outcome = body(await handler(data));
      } catch (error) {
        const code = (error as { code?: unknown } | null)?.code;
        if (typeof code === 'string' && code !== '') {
          outcome = { e: { code, message: String((error as Error).message ?? '') } };
        } else {
          // An unexpected failure: the server learns that it failed, not the details.
          this.#host.emit('error', new LifelineError('LL_REQUEST_FAILED', `The handler of request "${name}" threw: ${String(error)}`, { cause: error }));
          outcome = { e: { code: 'LL_HANDLER_ERROR', message: 'the request handler failed' } };
        }
      }
    }
    const reply = (o: typeof outcome) => {
      const item: Item = { envelope: { t: 'r', id, ...o }, epoch };
      this.#host.submit(item, (reason) => this.#notSent(item, name, reason));
    };
    try {
      reply(outcome);
    } catch (error) {
      this.#host.emit('error', error as LifelineError);
      reply({ e: { code: 'LL_ENCODE_FAILED', message: 'the request handler returned a value that cannot be encoded' } });
    }
  }

  #notSent(item: Item, name: string, reason: string): void {
    this.#store?.unqueued(item);
    this.#host.emit('error', new LifelineError('LL_REQUEST_NOT_SENT', `The answer to request "${name}" was not sent: ${reason}.`));
  }

  // ---- outbound ------------------------------------------------------------------------

  /**
   * Sends request `name` through the outbox and reports its outcome to `done`, once:
   * synchronously as the answer is read (channels act on an answer before the frames that
   * follow it), or with LL_REQUEST_TIMEOUT, LL_REQUEST_NOT_SENT, LL_SESSION_RESET or
   * LL_SESSION_CLOSED.
   */
  #call(name: string, data: unknown, timeout: number, done: (error: Error | undefined, value?: unknown) => void): void {
    const id = this.#takeRequestId();
    const pending: PendingRequest = {
      name,
      done: (error, value) => {
        if (this.#requests.get(id) !== pending) return;
        this.#requests.delete(id);
        clearTimeout(pending.timer);
        done(error, value);
      },
      timer: setTimeout(() => pending.done(new LifelineError('LL_REQUEST_TIMEOUT', `Request "${name}" got no answer within ${timeout} ms.`)), timeout),
    };
    this.#requests.set(id, pending);
    try {
      this.#host.submit({ envelope: { t: 'q', id, n: name, ...body(data) } } satisfies Item, (reason) =>
        pending.done(new LifelineError('LL_REQUEST_NOT_SENT', `Request "${name}" was not sent: ${reason} (see the outbox options).`)),
      );
    } catch (error) {
      pending.done(error as Error);
    }
  }

  /** The frame for `item` as number `s`, and the acknowledgement it carries, if one is due (the caller takes it once the frame goes out). */
  #encodeSequenced(item: Item, s: number): { frame: Frame; a: number | undefined } {
    // The acknowledgement rides along whenever one is due (PROTOCOL.md §2.3).
    const a = this.#ackDue();
    const envelope = (a === undefined ? { ...item.envelope, s } : { ...item.envelope, s, a }) as Envelope;
    const frame = (this.#binary && this.#format.encodeBinary?.(envelope)) || this.#format.encode(envelope);
    return { frame, a };
  }

  /**
   * What an acknowledgement names: the last `s` delivered, no further than the store records
   * (a reload resumes from there, and the leader tab of a shared connection records only what
   * every tab confirmed: the server must still hold what comes after it).
   */
  #ackValue(): number {
    return Math.min(this.#inbound.delivered, this.#store?.acknowledgeable() ?? Infinity);
  }

  /** The acknowledgement to send, if one is due: envelopes arrived since the last one, or the store let it go further. */
  #ackDue(): number | undefined {
    const a = this.#ackValue();
    return this.#inbound.pending > 0 || a > this.#ackSent ? a : undefined;
  }

  /** Acknowledgement `a` goes out: the batch ends (PROTOCOL.md §2.3 R4). (It never goes back: both positions only rise.) */
  #tookAck(a: number): void {
    this.#inbound.takeAck();
    this.#ackSent = a;
  }

  /**
   * An item the server would refuse, never numbered: a message is a `drop` event, a request
   * fails with the error, an answer becomes an error answer (the server hears why, not silence).
   */
  #refused(item: Item, error: LifelineError): void {
    const e = item.envelope;
    this.#store?.unqueued(item);
    if (e.t === 'm') this.#host.emit('drop', { data: item.value, reason: 'too-large', queuedAt: Date.now(), error });
    else if (e.t === 'q') this.#requests.get(e.id)?.done(error);
    else if (!('e' in e)) this.#host.submit({ envelope: { t: 'r', id: e.id, e: { code: error.code, message: 'the answer is over what the server accepts' } }, epoch: item.epoch } satisfies Item, () => {});
  }

  /** Why the server would refuse `frame` of `size` bytes (over `welcome.max`), or undefined. */
  #refusal(frame: Frame, size: number): LifelineError | undefined {
    const max = this.#maxSize;
    if (max === undefined) return undefined;
    // A binary-form frame is judged by its text form's size: a resume on a connection that
    // does not agree replays it so (PROTOCOL.md §2.8 R7), and it must fit there too.
    if (typeof frame !== 'string' && !this.#format.binary) size = textFormSize(frame as Uint8Array);
    if (size > max) return tooLarge(size, max);
    const limits = this.#limits!;
    // A frame of n bytes cannot nest, hold items or a key beyond n: small ones need no look.
    if (size <= Math.min(limits.maxDepth + 1, limits.maxItems, limits.maxKeyLength)) return undefined;
    const problem = this.#format.problem?.(frame, limits);
    return problem && new LifelineError(problem.code, `over welcome.max: the message ${problem.reason}`);
  }

  /** `now`: at once (a pong, a probe); else in turn with what waits for the store (a hello's `rx` and an `a` must be durable first). */
  #send(envelope: Envelope, now = false): boolean {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== 1) return false;
    const frame = this.#format.encode(envelope);
    if (now) ws.send(frame);
    else this.#out(ws, frame);
    return true;
  }

  /**
   * Puts a frame on `ws`. With a store, once everything recorded before it is durable: a
   * numbered envelope the server holds must be one the store holds, and an acknowledgement
   * must not run ahead of the received position the store holds, or a reload would resume
   * behind what the server already freed.
   */
  #out(ws: WebSocketLike, frame: Frame): void {
    const store = this.#store;
    if (!store) return ws.send(frame);
    store.after(() => ws === this.#ws && ws.readyState === 1 && ws.send(frame));
  }

  /** Runs `work` once the store holds what was recorded before it, in turn with the other deliveries. */
  #later(work: () => void): void {
    this.#held++;
    this.#store!.after(() => {
      this.#held--;
      work();
      const waiting = this.#waiting;
      if (this.#held > 0 || !waiting) return;
      this.#waiting = undefined;
      // The connection they came on may be gone: then nothing of it was taken in.
      for (const envelope of waiting.envelopes) if (waiting.ws === this.#ws && this.#ws !== undefined) this.#take(envelope);
    }, true);
  }

  /** Restored messages, oldest first, while the replay buffer has room. */
  #drain(): void {
    const backlog = this.#backlog;
    while (backlog.length > 0 && this.#number(backlog[0]!)) backlog.shift();
  }

  #scheduleAck(): void {
    const inbound = this.#inbound;
    const now = Date.now();
    if (inbound.needsAck(now)) return this.#sendAck();
    if (this.#ackTimer === undefined) this.#ackTimer = setTimeout(this.#sendAck, Math.max(0, inbound.ackDueAt()! - now));
  }

  #sendAck = (): void => {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (!this.#welcomed) return;
    const a = this.#ackDue();
    if (a === undefined) return;
    this.#tookAck(a);
    this.#send({ t: 'a', a });
  };

  #fail(error: EnvelopeError): void {
    this.#host.fail(error.closeCode, error.reason, error);
  }

  /**
   * Drops the session's numbering: returns the values of messages written and never
   * acknowledged, and fails every request written to it (acknowledged or not, its answer
   * cannot come on another session). Requests still in the outbox go to the next one.
   */
  #forget(): unknown[] {
    const unconfirmed: unknown[] = [];
    for (const item of this.#replay.itemsAfter(this.#replay.acked)) if (item.envelope.t === 'm') unconfirmed.push(item.value);
    for (const [, request] of this.#requests) {
      if (request.written) request.done(new LifelineError('LL_SESSION_RESET', `Request "${request.name}": the session was reset before the answer arrived; it may or may not have run.`));
    }
    this.#replay = new ReplayBuffer<Item>();
    this.#inbound = new InboundSequence();
    this.#ackSent = 0;
    return unconfirmed;
  }

  #takeRequestId(): number {
    let id = this.#nextId;
    while (this.#requests.has(id)) id = id >= MAX_REQUEST_ID ? 1 : id + 1;
    this.#nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    return id;
  }
}

function tooLarge(size: number, max: number): LifelineError {
  return new LifelineError('LL_TOO_LARGE', `over welcome.max: the message is ${size} bytes, the server takes ${max}`);
}

export type { ResetInfo, ResetReason, SessionInfo } from './mode.js';
export { RequestError } from '@lifeline/protocol';
