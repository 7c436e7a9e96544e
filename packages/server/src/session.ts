import { randomBytes, timingSafeEqual } from 'node:crypto';
import { secretDigest } from './bearer.js';
import {
  EnvelopeError,
  InboundSequence,
  LifelineError,
  MAX_REQUEST_ID,
  RequestError,
  ReplayBuffer,
  type Envelope,
  type ReplayBound,
  type RequestEnvelope,
  type ResetReason,
  type ResponseEnvelope,
  type ResponseError,
  type SequencedEnvelope,
  type ChannelPosition,
  type WelcomeLimits,
} from '@lifeline/protocol';
import type { SharedFrame, WireFormat } from './channels/hub.js';
import { serverFrame } from './frame.js';
import { answerChannelRequest } from './channels/session-requests.js';
import { answerAuthRequest } from './auth.js';
import type { Codec, Frame, Link } from './link.js';
import type { LogFields } from './logger.js';
import { Message } from './message.js';
import type { ResolvedLifelineOptions } from './options.js';
import { SessionDurability, type DurableHost } from './session-durability.js';
import type { SessionEndReason, SessionJournal, SessionSnapshot, SharedSessionStore } from './session-store.js';
import {
  checkCloseArguments,
  Socket,
  type RequestHandler,
  type RequestOptions,
  type Sendable,
  type SocketHost,
  type SocketInit,
  type SocketStats,
  whenWritten,
} from './socket.js';

/** What a session needs from the route that owns it. */
export interface SessionOwner {
  readonly options: ResolvedLifelineOptions;
  /** `hb` of the welcome: the heartbeat interval, in ms. */
  readonly heartbeatInterval: number;
  /** `max` of the welcome: what the route accepts (PROTOCOL.md §2.1). */
  readonly welcomeMax: WelcomeLimits;
  /** Channels one connection may subscribe to. */
  readonly maxChannels: number;
  /** Removes the session from the store (remembering `why`, if given). */
  forget(session: SessionSocket, why?: SessionEndReason): void;
  /** With a shared store: how long it may stay unreachable before a session ends, in ms. */
  readonly storeUnreachableFor: number;
  log(level: 'info' | 'debug' | 'error', event: string, session: SessionSocket, fields?: LogFields): void;
}

/**
 * A message received in Lifeline mode: `json()` is the payload `d` as sent, `text` is `d`
 * itself when it is a string. For a `d` payload, `data` (its JSON, as bytes) is made only
 * when something reads it: an echo (`socket.send(msg)`) or a handler that only reads `json()`
 * never pays for serialising the value again.
 */
export class LifelineMessage extends Message {
  constructor(
    /** The payload `d` (undefined for a binary `b` payload). */
    readonly value: unknown,
    /** The bytes of a `b` payload; undefined for `d`, whose JSON is made on demand. */
    data: Buffer | undefined,
    binary: boolean,
  ) {
    super(data as Buffer, binary);
  }

  override get text(): string {
    return !this.binary && typeof this.value === 'string' ? this.value : super.text;
  }

  override json<T = unknown>(): T {
    return this.binary ? super.json<T>() : (this.value as T);
  }

  /** @internal */
  protected override lazyData(): Buffer {
    const d = this.value;
    return Buffer.from(typeof d === 'string' ? d : (JSON.stringify(d) ?? 'null'));
  }
}

interface PendingRequest {
  name: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

type Payload = { d: unknown } | { b: Uint8Array };

/** How a session comes to be on this node. */
export type SessionOrigin =
  /** A hello without a session id. */
  | { kind: 'new'; shared?: SharedSessionStore }
  /** A hello whose session could not be resumed (PROTOCOL.md §2.4): a new one, with the reason. */
  | { kind: 'reset'; resetFrom: { sessionId: string; reason: ResetReason }; shared?: SharedSessionStore }
  /** A session another node held, claimed from the shared store (PROTOCOL.md §2.7). */
  | { kind: 'moved'; sessionId: string; tokenDigest: Buffer; snapshot: SessionSnapshot; journal: SessionJournal };

/**
 * A Lifeline session, and the Socket its route handler holds. It outlives its transports
 * (Links): when the connection drops, sends wait in the replay buffer, the `for await`
 * loop simply waits, and a resume within the window replays what each side missed.
 * It ends on `close()`, when the resume window passes (1006 `session expired`), or when
 * the replay buffer goes over its bounds (1013 `replay overflow`).
 */
export class SessionSocket extends Socket {
  /** @internal */ readonly codec: Codec;
  private readonly sid: string;
  /** @internal SHA-256 of the resume token. */
  readonly tokenDigest: Buffer;
  /** Given out in the first welcome only; never logged. */
  private newToken: string | null;
  private readonly replay: ReplayBuffer<Frame>;
  private readonly inbound: InboundSequence;
  /** With a shared store: the journal writer; server envelopes reach the wire only once stored. */
  private readonly durable: SessionDurability | undefined;
  /** With a shared store: the server envelopes written to the current link, up to here. */
  private writtenSeq = 0;
  /** With a shared store: client envelopes accepted but not yet stored, in order; delivered once stored. */
  private unstored: SequencedEnvelope[] | undefined;
  /** With a shared store: publications that arrived while numbered envelopes waited to be stored, each behind the last of them. */
  private publicationsWaiting: { afterSeq: number; frame: string | Uint8Array; shared: SharedFrame | undefined }[] | undefined;
  /** With a shared store: another node asked for the session and this node is letting go. */
  private handingOver = false;
  /** @internal With a shared store: resumes of this session here that the store is confirming (lifeline-route.ts). */
  confirming = 0;
  /** This session began on another node; this handler run continues it (PROTOCOL.md §2.7). */
  readonly moved: boolean;
  private link: Link | null = null;
  private ackTimer: NodeJS.Timeout | undefined;
  private ackFlushQueued = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  private handlers: Map<string, RequestHandler> | undefined;
  private readonly pending = new Map<number, PendingRequest>();
  private nextRequestId = 1;
  private ended = false;
  private rttMs: number | undefined;
  /** @internal When the last pong came (0: never), read through the link by the heartbeat sweep. */
  rttMeasuredAt = 0;
  private readonly reset: { sessionId: string; reason: ResetReason } | undefined = undefined;

  /** @internal Created by the route for a hello that starts a session, or for one claimed from another node. */
  constructor(link: Link, host: SocketHost, init: SocketInit, private readonly owner: SessionOwner, origin: SessionOrigin) {
    super(link.ws, link.raw, host, init, false);
    this.codec = link.codec;
    this.moved = origin.kind === 'moved';
    if (origin.kind === 'moved') {
      const { snapshot } = origin;
      this.sid = origin.sessionId;
      this.tokenDigest = origin.tokenDigest;
      this.newToken = null;
      this.replay = new ReplayBuffer<Frame>(snapshot.acked);
      const now = Date.now();
      let s = snapshot.acked;
      for (const stored of snapshot.frames) {
        // A store may hand JSON frames back as bytes; the link writes them as text frames.
        const frame = this.codec.binary || typeof stored === 'string' ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('utf8');
        this.replay.push(++s, frame, frameSize(frame), now);
      }
      this.inbound = new InboundSequence({ delivered: snapshot.rx });
      this.writtenSeq = s;
    } else {
      this.sid = randomBytes(16).toString('base64url');
      const token = randomBytes(32).toString('base64url'); // 256 bits from the CSPRNG
      this.tokenDigest = secretDigest(token);
      this.newToken = token;
      this.replay = new ReplayBuffer<Frame>();
      this.inbound = new InboundSequence();
      if (origin.kind === 'reset') this.reset = origin.resetFrom;
    }
    const journal =
      origin.kind === 'moved'
        ? origin.journal
        : origin.shared?.create({ sessionId: this.sid, tokenDigest: this.tokenDigest, route: init.route, protocol: this.codec.protocol, ttl: owner.options.resumeWindow });
    if (journal !== undefined) {
      const from = { seq: this.replay.lastSeq, rx: this.inbound.delivered };
      this.durable = new SessionDurability(journal, this.durableHost(), from, origin.kind !== 'moved', owner.storeUnreachableFor);
      this.unstored = [];
    }
  }

  override get lifeline(): boolean {
    return true;
  }

  override get sessionId(): string {
    return this.sid;
  }

  override get resetFrom(): { readonly sessionId: string; readonly reason: ResetReason } | undefined {
    return this.reset;
  }

  override get rtt(): number | undefined {
    return this.rttMs;
  }

  /** The negotiated subprotocol: `lifeline.v1` or `lifeline.v1.msgpack`. */
  override get protocol(): string {
    return this.codec.protocol;
  }

  /** True until the session ends, including while its connection is down and sends wait for a resume. */
  override get isOpen(): boolean {
    return !this.ended;
  }

  /** True while a connection carries the session. */
  get connected(): boolean {
    return this.link !== null;
  }

  override get bufferedAmount(): number {
    return this.link?.ws.bufferedAmount ?? 0;
  }

  override get stats(): SocketStats {
    return { ...super.stats, replayMessages: this.replay.count, replayBytes: this.replay.bytes };
  }

  /**
   * Sends an `m` envelope: a string as `d`, bytes as `b`, a received Message as it came.
   * Accepted while the session lives, connected or not; false (and `drop`) once it ended.
   */
  override send(data: Sendable, options?: { binary?: boolean }): boolean {
    return this.sendPayload(payloadOf(data, options?.binary));
  }

  private sendPayload(payload: Payload): boolean {
    if (this.ended) return this.drop('not-open', sizeOf(payload));
    let sent: boolean;
    try {
      sent = this.sendSequenced((s, a) => (a === undefined ? { t: 'm', s, ...payload } : { t: 'm', s, a, ...payload }) as SequencedEnvelope);
    } catch (error) {
      // A value the wire cannot carry (too deep for an encoder, a BigInt, a lone surrogate…):
      // nothing was numbered; the application hears why.
      return this.drop('encode-failed', sizeOf(payload), error as Error);
    }
    if (!sent) return false;
    this.messagesOut++;
    return true;
  }

  /** Sends `value` as the payload `d` of an `m` envelope (the client gets the value, not a string). */
  override sendJson(value: unknown): boolean {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
      throw new LifelineError('LL_INVALID_JSON', `sendJson() was given ${typeof value}, which has no JSON form.`);
    }
    return this.sendPayload({ d: value });
  }

  /** Ends the session: the connection (if any) closes with `code` and `reason` after what was already sent. */
  override close(code = 1000, reason = ''): void {
    checkCloseArguments(code, reason);
    this.end(code, reason, undefined, code);
  }

  /** Ends the session and drops its connection at once (the client sees 1006). */
  override terminate(): void {
    this.end(1006, 'terminated by the server', undefined, 'terminate');
  }

  /** Answers the client's `q` envelopes named `name`. */
  override handle(name: string, handler: RequestHandler): this {
    if (typeof handler !== 'function') throw new LifelineError('LL_INVALID_OPTION', `socket.handle("${name}", handler): handler must be a function.`);
    if (name.startsWith('$')) throw new LifelineError('LL_INVALID_OPTION', `socket.handle("${name}"): names starting with $ are reserved for the protocol (PROTOCOL.md §3.3).`);
    (this.handlers ??= new Map()).set(name, handler);
    return this;
  }

  /**
   * Sends a request to the client; resolves with its answer, exactly once even across
   * reconnects. Rejects `LL_REQUEST_TIMEOUT`, `LL_REQUEST_FAILED` (a {@link RequestError}
   * with the client's code) or `LL_SESSION_CLOSED`.
   */
  override request(name: string, data?: unknown, options?: RequestOptions): Promise<unknown> {
    if (this.ended) return Promise.reject(sessionClosed(name));
    const timeout = options?.timeout ?? this.owner.options.requestTimeout;
    const id = this.takeRequestId();
    const payload: Payload =
      data instanceof Uint8Array ? { b: data } : data instanceof ArrayBuffer ? { b: new Uint8Array(data) } : { d: data === undefined ? null : data };
    return new Promise((resolve, reject) => {
      let sent: boolean;
      try {
        sent = this.sendSequenced((s, a) => ({ t: 'q', s, ...(a === undefined ? {} : { a }), id, n: name, ...payload }) as RequestEnvelope);
      } catch (error) {
        reject(error as Error);
        return;
      }
      if (!sent) {
        reject(sessionClosed(name));
        return;
      }
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new LifelineError('LL_REQUEST_TIMEOUT', `Request "${name}" got no response within ${timeout} ms.`));
      }, timeout);
      timer.unref();
      this.pending.set(id, { name, resolve, reject, timer });
    });
  }

  // ---- channels: publications travel outside the numbered stream (PROTOCOL.md §3) -------

  /** @internal Subscriber */
  override get format(): WireFormat {
    return this.codec.format;
  }

  /** @internal Subscriber: written to the current connection; while there is none, the client recovers it with `since`. */
  override writeFrame(frame: string | Uint8Array, _binary: boolean, shared?: SharedFrame): void {
    const link = this.link;
    if (link === null) return;
    // With a shared store, numbered envelopes wait to be stored; a publication must not pass
    // them (the missed publications follow a `$subscribe` answer, PROTOCOL.md §3.3).
    if (this.durable !== undefined && this.writtenSeq < this.replay.lastSeq) {
      (this.publicationsWaiting ??= []).push({ afterSeq: this.replay.lastSeq, frame, shared });
      return;
    }
    writePublication(link, frame, shared);
  }

  /** @internal Subscriber */
  override get backlog(): number {
    return this.link?.backlog ?? 0;
  }

  /** @internal Subscriber */
  override whenDrained(callback: () => void): void {
    if (this.link === null) queueMicrotask(callback);
    else whenWritten(this.link.raw, callback);
  }

  /** @internal Subscriber: the connection closes; the session stays, and its client resumes and re-subscribes with `since`. */
  override closeSlow(reason: string): void {
    this.link?.closeWith(1013, reason);
  }

  /** @internal Closes the current connection, if any; the session stays resumable (auth.ts: token expired). */
  closeConnection(code: number, reason: string): void {
    this.link?.closeWith(code, reason);
  }

  /** @internal The client learns about subscriptions the server made, exactly once (a request). */
  protected override subscribedByServer(channel: string, position: ChannelPosition, presence: boolean): void {
    const d = { ch: channel, o: position.offset, ep: position.epoch, ...(presence ? { presence: true } : {}) };
    this.request('$subscribed', d).catch(() => {});
  }

  /** @internal */
  protected override unsubscribedByServer(channel: string): void {
    this.request('$unsubscribed', { ch: channel }).catch(() => {});
  }

  /** @internal With a shared store: the journal of this copy, while it is the session's. */
  get journal(): SessionJournal | undefined {
    return this.ended ? undefined : this.durable?.journal;
  }

  /**
   * @internal Where a resume's `rx` stands (PROTOCOL.md §2.4): `below` what the client
   * acknowledged (no correct client sends that), `above` the last envelope the client can
   * have seen (with a shared store, the last one stored: nothing unstored is shown), or
   * within (undefined).
   */
  rxOutOfRange(rx: number): 'below' | 'above' | undefined {
    if (rx < this.replay.acked) return 'below';
    if (rx > (this.durable?.storedSeq ?? this.replay.lastSeq)) return 'above';
    return undefined;
  }

  /** @internal The shared store lost the session (Redis restarted empty): the next write stores all of it again. */
  restate(): void {
    this.durable?.restate();
  }

  /** @internal The shared store is back after being unreachable: find out at once whether it still has the session. */
  checkStored(): void {
    this.durable?.check();
  }

  /** @internal The token the client presented matches this session's (constant time). */
  tokenMatches(token: string): boolean {
    return timingSafeEqual(secretDigest(token), this.tokenDigest);
  }

  /** @internal Puts the session on `link` with a welcome; for a resume, replays what the client missed. */
  attach(link: Link, resume?: { token: string; rx: number }): number {
    const old = this.link;
    if (old !== null && old !== link) {
      old.session = null;
      old.closeWith(4000, 'replaced by a newer connection of the same session');
      this.owner.log('info', 'session-replace', this, { oldLink: old.id });
    }
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.link = link;
    link.session = this;
    this.ws = link.ws;
    this.raw = link.raw;
    if (this.pausedByIterator) link.ws.pause();
    const tok = resume?.token ?? this.newToken!;
    this.newToken = null;
    const hb = this.owner.heartbeatInterval;
    const max = this.owner.welcomeMax;
    const rx = this.inbound.delivered;
    // `probe`: this server answers the client's pings (PROTOCOL.md §2.5).
    link.sendEnvelope(
      resume
        ? { t: 'welcome', sid: this.sid, tok, rx, resumed: true, hb, probe: true, max }
        : this.reset
          ? { t: 'welcome', sid: this.sid, tok, rx, resumed: false, hb, probe: true, max, reset: { reason: this.reset.reason } }
          : { t: 'welcome', sid: this.sid, tok, rx, resumed: false, hb, probe: true, max },
    );
    this.inbound.acknowledgedByRx();
    // With a shared store, only what the store holds may be seen; the rest follows once stored.
    const upTo = this.durable?.storedSeq ?? this.replay.lastSeq;
    this.writtenSeq = upTo;
    // Publications meant for the old connection: the client re-subscribes from its position after this welcome.
    this.publicationsWaiting = undefined;
    if (!resume) return 0;
    let replayed = 0;
    for (const [s, frame] of this.replay.entriesAfter(resume.rx)) {
      if (s > upTo) break;
      link.write(frame, typeof frame === 'string' ? frame.length : frame.byteLength, true);
      replayed++;
    }
    return replayed;
  }

  /**
   * @internal A hello with this session's id and token arrived on `link`. Returns what
   * happened: `resumed`; `overflow` (the session ended, the route starts a new one);
   * `failed` (the link was closed for a protocol error).
   */
  resume(link: Link, token: string, rx: number): { outcome: 'resumed'; replayed: number } | { outcome: 'overflow' | 'failed' } {
    if (this.rxOutOfRange(rx) !== undefined) {
      // The route checked before (rxOutOfRange); a copy claimed from the store may know less.
      link.fail(new EnvelopeError(1002, 'hello.rx: outside what the session acknowledged and sent'));
      return { outcome: 'failed' };
    }
    if (this.replay.ack(rx) > 0) this.durable?.schedule();
    const over = this.replay.exceeded(this.owner.options.replay, Date.now());
    if (over !== undefined) {
      this.overflow(over);
      return { outcome: 'overflow' };
    }
    return { outcome: 'resumed', replayed: this.attach(link, { token, rx }) };
  }

  /** @internal An envelope from the client, on the link that carries this session. */
  receiveEnvelope(envelope: Envelope, link: Link): void {
    switch (envelope.t) {
      case 'm':
      case 'q':
      case 'r': {
        if (envelope.a !== undefined && !this.acknowledged(envelope.a, envelope.t, link)) return;
        if (this.unstored !== undefined) this.hold(envelope, link);
        else this.deliverEnvelope(envelope, link, Date.now());
        return;
      }
      case 'a':
        this.acknowledged(envelope.a, 'a', link);
        return;
      case 'ping':
        // The client's probe (PROTOCOL.md §2.5): answered at once, outside the numbered stream.
        // A client that probes in a loop pays like any sender: Link.receive charged the
        // rate limit, and a pong it does not read counts towards maxBufferedBytes.
        link.sendEnvelope({ t: 'pong', ts: envelope.ts });
        return;
      case 'pong': {
        const rtt = Date.now() - envelope.ts;
        if (rtt >= 0) {
          this.rttMs = rtt;
          this.rttMeasuredAt = Date.now();
        }
        return;
      }
      case 'hello':
        link.fail(new EnvelopeError(1008, 'hello: the session is already open on this connection'));
        return;
      default:
        link.fail(new EnvelopeError(1008, `${envelope.t}: only the server sends this envelope`));
    }
  }

  /** Hands a numbered client envelope to the handler (or drops a duplicate), and schedules the acknowledgement. */
  private deliverEnvelope(envelope: SequencedEnvelope, link: Link | null, now: number): void {
    const verdict = this.inbound.receive(envelope.s, now);
    if (verdict === 'gap') {
      link?.fail(new EnvelopeError(1002, `${envelope.t}.s: sequence gap, expected ${this.inbound.delivered + 1}`));
      return;
    }
    this.scheduleAck(now);
    if (verdict === 'duplicate') return;
    if (envelope.t === 'm') {
      this.messagesIn++;
      this.accept(envelope.b !== undefined ? new LifelineMessage(undefined, toBuffer(envelope.b), true) : textMessage(envelope.d));
    } else if (envelope.t === 'q') this.answer(envelope);
    else this.settle(envelope);
  }

  /** With a shared store: a client envelope waits until the store holds `rx` past it, then is delivered. */
  private hold(envelope: SequencedEnvelope, link: Link): void {
    const durable = this.durable!;
    const s = envelope.s;
    if (s > durable.acceptedRx + 1) {
      link.fail(new EnvelopeError(1002, `${envelope.t}.s: sequence gap, expected ${durable.acceptedRx + 1}`));
      return;
    }
    if (s <= this.inbound.delivered) this.deliverEnvelope(envelope, link, Date.now()); // a duplicate: acknowledged again
    if (s <= durable.acceptedRx) return; // delivered, or held already (a resend after a resume)
    durable.acceptedRx = s;
    this.unstored!.push(envelope);
    durable.schedule();
  }

  /** @internal The store holds the server's envelopes up to `seq` and the client's up to `rx`. */
  storedUpTo(seq: number, rx: number): void {
    const link = this.link;
    const waiting = this.publicationsWaiting;
    let next = 0; // the first waiting publication not yet written
    if (link !== null && seq > this.writtenSeq) {
      for (const [s, frame] of this.replay.entriesAfter(Math.max(this.writtenSeq, this.replay.acked))) {
        if (s > seq) break;
        while (waiting !== undefined && next < waiting.length && waiting[next]!.afterSeq < s) writePublication(link, waiting[next]!.frame, waiting[next++]!.shared);
        link.write(frame, frameSize(frame));
      }
    }
    if (seq > this.writtenSeq) this.writtenSeq = seq;
    if (waiting !== undefined) {
      while (link !== null && next < waiting.length && waiting[next]!.afterSeq <= seq) writePublication(link, waiting[next]!.frame, waiting[next++]!.shared);
      if (next === waiting.length) this.publicationsWaiting = undefined;
      else waiting.splice(0, next);
    }
    const unstored = this.unstored!;
    let delivered = 0;
    const now = Date.now();
    while (delivered < unstored.length && unstored[delivered]!.s <= rx && !this.ended) this.deliverEnvelope(unstored[delivered++]!, null, now);
    unstored.splice(0, delivered);
  }

  /**
   * @internal Another node claimed the session (it resumed there): this copy ends without
   * touching the store. The handler hears close 4000; a connection still here closes with it.
   */
  movedAway(): void {
    if (this.ended) return;
    if (this.durable === undefined) return;
    this.durable.release(); // calls back endMoved() once an append in flight has settled
  }

  /** @internal The session ends here for good: what was sent but never stored is reported as dropped, not lost silently. */
  endMoved(): void {
    if (this.ended) return;
    const unstored = this.endStored(4000, 'session moved to another node');
    this.owner.log('info', 'session-moved', this, { unstored: unstored || undefined });
  }

  /** Ends the copy here, leaving the session in the store; what was never stored is reported as `drop` (`moved`). Returns how many. */
  private endStored(code: number, reason: string): number {
    const unstored = this.replay.lastSeq - (this.durable?.storedSeq ?? this.replay.lastSeq);
    this.end(code, reason, undefined, code, true);
    for (let i = 0; i < unstored; i++) this.drop('moved', 0);
    return unstored;
  }

  /** Waits until the store holds everything accepted (at most `timeout` ms), then stops writing and releases the session. False if it ended meanwhile. */
  private async storeAndRelease(timeout: number): Promise<boolean> {
    const durable = this.durable!;
    await durable.whenIdle(timeout);
    if (this.ended) return false;
    durable.stop();
    try {
      await durable.journal.release();
    } catch (error) {
      // A claim then asks this node (which no longer holds it), or takes it after its hand-over timeout.
      this.owner.log('error', 'session-release-failed', this, { error: (error as Error).message });
    }
    return true;
  }

  /**
   * @internal Shutdown with a shared store: once the store holds everything accepted (or
   * after `timeout` ms), the connection closes with `code` and the session ends here but
   * stays in the store, so that its client resumes it on another node.
   */
  async handOff(code: number, reason: string, timeout: number): Promise<void> {
    if (this.durable === undefined || this.ended) {
      this.close(code, reason);
      return;
    }
    // Released, so that the node its client reaches next takes it at once, without asking this one.
    if (await this.storeAndRelease(timeout)) this.endStored(code, reason);
  }

  /**
   * @internal Another node asks for the session: its client resumed there. A connection
   * still here is stale and closes (4000); what the session accepted is stored (within
   * `timeout` ms), then the session is released to that node and ends here. Sends after
   * that are reported as `drop` with reason `moved`.
   */
  async handOver(timeout: number): Promise<void> {
    if (this.durable === undefined || this.ended || this.handingOver) return;
    this.handingOver = true;
    this.link?.closeWith(4000, 'session moved to another node');
    if (await this.storeAndRelease(timeout)) this.endMoved();
  }

  /** What the journal writer sees of this session (session-durability.ts). */
  private durableHost(): DurableHost {
    const replay = this.replay;
    return {
      get lastSeq() {
        return replay.lastSeq;
      },
      get acked() {
        return replay.acked;
      },
      framesAfter: (seq) => replay.itemsAfter(seq),
      stored: (seq, rx) => this.storedUpTo(seq, rx),
      moved: () => this.endMoved(),
      // The shared store stayed unreachable: what was not stored cannot be promised, so the session ends.
      unreachable: (forMs) => {
        this.owner.log('error', 'session-store-unreachable', this, { forMs });
        this.end(1011, `session store unreachable for ${forMs} ms`, undefined, 1011, true);
      },
      journalError: (error, attempt) => {
        if (attempt === 1 || attempt % 20 === 0) this.owner.log('error', 'session-store-write-failed', this, { attempt, error: error.message });
      },
    };
  }

  /** @internal The link that carried this session closed. */
  linkClosed(link: Link, code: number, reason: string): void {
    if (link !== this.link) return;
    this.link = null;
    this.clearAckTimer();
    if (this.ended) return;
    if (code === 1000) {
      // The client closed normally: it is done with the session (PROTOCOL.md §2.4), so the
      // handler hears the close now instead of after the resume window.
      this.end(1000, reason, undefined);
      return;
    }
    const window = this.owner.options.resumeWindow;
    this.owner.log('info', 'session-detach', this, { link: link.id, code, reason: reason || undefined, resumeWindowMs: window });
    this.expiryTimer = setTimeout(expire, window, this);
    this.expiryTimer.unref();
  }

  /** @internal A session claimed from another node whose resume failed on its first link: it waits for the next. */
  waitForResume(): void {
    if (this.link !== null || this.ended || this.expiryTimer !== undefined) return;
    this.expiryTimer = setTimeout(expire, this.owner.options.resumeWindow, this);
    this.expiryTimer.unref();
  }

  /** @internal The resume window passed without a resume. */
  expire(): void {
    if (this.ended || this.link !== null) return;
    const window = this.owner.options.resumeWindow;
    this.owner.log('info', 'session-expire', this, { resumeWindowMs: window });
    this.end(1006, `session expired: not resumed within ${window} ms`, 'expired');
  }

  /** @internal */
  flushAck(): void {
    this.clearAckTimer();
    this.ackFlushQueued = false;
    const link = this.link;
    if (link === null) return;
    const a = this.inbound.takeAck();
    if (a !== undefined) link.sendEnvelope({ t: 'a', a });
  }

  private scheduleAck(now: number): void {
    if (this.inbound.needsAck(now)) {
      if (!this.ackFlushQueued) {
        this.ackFlushQueued = true;
        process.nextTick(flushAck, this); // after this turn's replies, which may carry it
      }
    } else if (this.ackTimer === undefined) {
      this.ackTimer = setTimeout(ackTimerFired, this.inbound.ackDelay, this);
      this.ackTimer.unref();
    }
  }

  /**
   * @internal The ack timer stays armed when a reply carries the acknowledgement (re-arming
   * per message costs more than the ack). When it fires, what is pending may be younger
   * than the delay: wait for the rest of it rather than acknowledge early.
   */
  ackTimerDue(): void {
    this.ackTimer = undefined;
    const due = this.inbound.ackDueAt();
    if (due === undefined) return;
    const wait = due - Date.now();
    if (wait > 0) {
      this.ackTimer = setTimeout(ackTimerFired, wait, this);
      this.ackTimer.unref();
    } else this.flushAck();
  }

  private clearAckTimer(): void {
    if (this.ackTimer !== undefined) {
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
    }
  }

  /** Frees what the client acknowledged; false (and 1002) for an acknowledgement of something never sent. */
  private acknowledged(a: number, t: string, link: Link): boolean {
    if (a > this.replay.lastSeq) {
      link.fail(new EnvelopeError(1002, `${t}.a: above the last s the server sent`));
      return false;
    }
    // With a shared store the acknowledgement is stored too, so that every node refuses a resume below it.
    if (this.replay.ack(a) > 0) this.durable?.schedule();
    return true;
  }

  /**
   * Numbers, encodes, holds for replay and (when connected) writes one sequenced envelope,
   * with a pending acknowledgement riding along. False when it pushed the replay buffer over
   * its bounds (the session then ends). Throws LL_ENCODE_FAILED before numbering anything.
   */
  private sendSequenced(make: (s: number, a: number | undefined) => SequencedEnvelope): boolean {
    const link = this.link;
    const s = this.replay.lastSeq + 1;
    const a = link !== null && this.inbound.pending > 0 ? this.inbound.delivered : undefined;
    const frame = this.codec.encode(make(s, a));
    // The ack timer stays armed: when it fires with nothing pending it sends nothing, and
    // clearing it here would cost a timer per message in a request-reply exchange.
    if (a !== undefined) this.inbound.takeAck();
    const size = frameSize(frame);
    const now = Date.now();
    this.replay.push(s, frame, size, now);
    const over = this.replay.exceeded(this.owner.options.replay, now);
    if (over !== undefined) {
      this.overflow(over);
      return false;
    }
    // With a shared store the frame is written once stored (storedUpTo).
    if (this.durable !== undefined) this.durable.schedule();
    else link?.write(frame, size);
    return true;
  }

  private overflow(bound: ReplayBound): void {
    const { replay } = this;
    this.owner.log('info', 'session-overflow', this, { bound, replayMessages: replay.count, replayBytes: replay.bytes });
    this.end(1013, `replay overflow: over ${bound}`, 'overflow', 1013);
  }

  /**
   * Ends the session once: forgets it, closes (`linkClose` a code) or drops (`terminate`)
   * its connection, rejects requests in flight, and reports `close (code, reason)`.
   */
  private end(code: number, reason: string, why: SessionEndReason | undefined, linkClose?: number | 'terminate', keepStored = false): void {
    if (this.ended) return;
    this.ended = true;
    this.owner.forget(this, why);
    const durable = this.durable;
    if (durable !== undefined) {
      durable.stop();
      this.unstored!.length = 0;
      if (!keepStored) {
        durable.journal.end(why).catch((error: unknown) => {
          this.owner.log('error', 'session-store-end-failed', this, { error: (error as Error).message });
        });
      }
    }
    const link = this.link;
    this.link = null;
    if (link !== null) {
      link.session = null;
      if (linkClose === 'terminate') link.terminate();
      else link.closeWith(linkClose ?? code, reason);
    }
    this.clearAckTimer();
    clearTimeout(this.expiryTimer);
    for (const [id, request] of this.pending) {
      this.pending.delete(id);
      clearTimeout(request.timer);
      request.reject(sessionClosed(request.name));
    }
    this.replay.clear();
    this.closedBy(code, reason);
  }

  private answer(q: RequestEnvelope): void {
    if (q.n.charCodeAt(0) === 36 /* $ */) {
      // `$auth`: a fresh access token for the session (auth.ts, PROTOCOL.md §4).
      if (q.n === '$auth') {
        answerAuthRequest(this, q.b !== undefined ? undefined : q.d).then(
          (outcome) => this.respond(q.id, outcome, q.n),
          (error: unknown) => this.respondError(q, error),
        );
      }
      else this.answerChannelRequest(q);
      return;
    }
    const handler = this.handlers?.get(q.n);
    if (handler === undefined) {
      this.respond(q.id, { e: { code: 'LL_NO_HANDLER', message: `no handler for request "${q.n}"` } });
      return;
    }
    const data = q.b !== undefined ? toBuffer(q.b) : q.d;
    let result: unknown;
    try {
      result = handler(data, { name: q.n, socket: this });
    } catch (error) {
      this.respondError(q, error);
      return;
    }
    Promise.resolve(result).then(
      (value) => this.respondValue(q, value),
      (error: unknown) => this.respondError(q, error),
    );
  }

  /** `$subscribe` and the other reserved requests (PROTOCOL.md §3.3). */
  private answerChannelRequest(q: RequestEnvelope): void {
    const context = { hub: this.host.hub, socket: this, maxChannels: this.owner.maxChannels };
    answerChannelRequest(context, q.n, q.b !== undefined ? undefined : q.d).then(
      ({ outcome, start }) => {
        this.respond(q.id, outcome, q.n);
        // The missed publications follow the answer on the wire, then live ones.
        start?.();
      },
      (error: unknown) => this.respondError(q, error),
    );
  }

  private respondValue(q: RequestEnvelope, value: unknown): void {
    const outcome = value instanceof Uint8Array ? { b: value } : value instanceof ArrayBuffer ? { b: new Uint8Array(value) } : { d: value === undefined ? null : value };
    this.respond(q.id, outcome, q.n);
  }

  private respondError(q: RequestEnvelope, error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code !== '') {
      this.respond(q.id, { e: { code, message: String((error as Error).message ?? '') } });
      return;
    }
    this.owner.log('error', 'request-handler-error', this, { name: q.n, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    this.respond(q.id, { e: { code: 'LL_HANDLER_ERROR', message: 'the request handler failed' } });
  }

  /** Answers request `id`; an answer that cannot be encoded becomes `LL_ENCODE_FAILED` (logged), never a throw. */
  private respond(id: number, outcome: { d: unknown } | { b: Uint8Array } | { e: ResponseError }, name?: string): void {
    if (this.ended) return;
    const answer = (o: typeof outcome) => this.sendSequenced((s, a) => ({ t: 'r', s, ...(a === undefined ? {} : { a }), id, ...o }) as ResponseEnvelope);
    try {
      answer(outcome);
    } catch (error) {
      this.owner.log('error', 'request-handler-result', this, { name, error: (error as Error).message });
      answer({ e: { code: 'LL_ENCODE_FAILED', message: 'the answer cannot be encoded' } });
    }
  }

  private settle(r: ResponseEnvelope): void {
    const request = this.pending.get(r.id);
    if (request === undefined) return; // timed out already
    this.pending.delete(r.id);
    clearTimeout(request.timer);
    if (r.e !== undefined) request.reject(new RequestError(request.name, r.e, 'client'));
    else request.resolve(r.b !== undefined ? toBuffer(r.b) : r.d);
  }

  private takeRequestId(): number {
    let id = this.nextRequestId;
    while (this.pending.has(id)) id = id >= MAX_REQUEST_ID ? 1 : id + 1;
    this.nextRequestId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    return id;
  }
}

function expire(session: SessionSocket): void {
  session.expire();
}

function ackTimerFired(session: SessionSocket): void {
  session.ackTimerDue();
}

function flushAck(session: SessionSocket): void {
  session.flushAck();
}

function writePublication(link: Link, frame: string | Uint8Array, shared: SharedFrame | undefined): void {
  if (shared === undefined) link.write(frame, typeof frame === 'string' ? frame.length : frame.byteLength, true);
  else link.writeFramed((shared.wire ??= serverFrame(shared.frame, shared.binary)));
}

function frameSize(frame: Frame): number {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
}

function sessionClosed(name: string): LifelineError {
  return new LifelineError('LL_SESSION_CLOSED', `Request "${name}": the session ended before a response came.`);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function textMessage(d: unknown): LifelineMessage {
  return new LifelineMessage(d, undefined, false);
}

/** The payload of what send() was given: strings and JSON values as `d`, bytes as `b`. */
function payloadOf(data: Sendable, binary: boolean | undefined): Payload {
  if (data instanceof Message) {
    if (binary ?? data.binary) return { b: data.data };
    return { d: data instanceof LifelineMessage && !data.binary ? data.value : data.text };
  }
  if (typeof data === 'string') return binary === true ? { b: Buffer.from(data) } : { d: data };
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  return binary === false ? { d: toBuffer(bytes).toString('utf8') } : { b: bytes };
}

function sizeOf(payload: Payload): number {
  return 'b' in payload ? payload.b.byteLength : typeof payload.d === 'string' ? Buffer.byteLength(payload.d) : 0;
}
