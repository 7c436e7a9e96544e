/**
 * A Lifeline session, and the Socket its route handler holds (PROTOCOL.md §2): its
 * lifecycle — created (new, reset, or claimed from another node), put on a link with a
 * welcome, resumed on a new one, detached, expired, ended — and the wiring of its parts:
 * the numbered stream out (outbound.ts) and in (acknowledgements.ts), requests both ways
 * (requests.ts), the connection side (linked-socket.ts: the channel Subscriber, read
 * pausing), and a shared store (shared-session.ts). It carries no transport of its own: it
 * is on one Link at a time, or on none while its client is away.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  EnvelopeError,
  InboundSequence,
  LifelineError,
  ReplayBuffer,
  type Envelope,
  type ReplayBound,
  type ReplayBounds,
  type ResetReason,
  type ResponseError,
  type SequencedEnvelope,
  type WelcomeLimits,
} from '@lifeline/protocol';
import { checkCloseArguments, type RequestHandler, type RequestOptions, type Sendable, type SocketHost, type SocketInit, type SocketStats } from '../connection/socket.js';
import { secretDigest } from '../leaves/bearer.js';
import type { LogFields } from '../leaves/logger.js';
import { PauseReason } from '../transport/transport.js';
import { Acknowledgements } from './acknowledgements.js';
import { answerChannelRequest } from './channel-requests.js';
import type { Codec, Frame } from './codec.js';
import { LinkedSocket } from './linked-socket.js';
import type { Link } from './link.js';
import { LifelineMessage, toBuffer } from './message.js';
import { BytesMessage, EncodedEnvelope, EncodedPayload, encodedMessage } from './message-bytes.js';
import type { ResolvedLifelineOptions } from './options.js';
import { acknowledged, freeAcknowledged, replayTo, restoredReplay, rxOutOfRange, sendNumbered } from './outbound.js';
import { payloadOf, sizeOf, type Payload } from './payload.js';
import { sessionClosed, SessionRequests } from './requests.js';
import { SharedSession } from './shared-session.js';
import type { SessionEndReason, SessionJournal, SessionSnapshot, SharedSessionStore } from './session-store.js';

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
  /** `$auth`: the route's authentication refreshes the session's token (LL_NO_HANDLER without one). */
  refreshAuth(session: SessionSocket, data: unknown): Promise<{ d: unknown } | { e: ResponseError }>;
  log(level: 'info' | 'debug' | 'error', event: string, session: SessionSocket, fields?: LogFields): void;
}

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
// The LinkSession of its links, the RequestParty of its requests, the SharedParty of its shared copy, the
// OutboundParty of its numbered stream and the AckParty of its acknowledgements: checked where it is handed to
// them, not with `implements`, which would name interfaces whose members the public .d.ts leaves out (stripInternal).
export class SessionSocket extends LinkedSocket {
  /** @internal */ readonly codec: Codec;
  /** @internal OutboundParty: the last link's welcome agreed to the binary form (PROTOCOL.md §2.8). */
  binaryForm = false;
  private readonly sid: string;
  /** @internal SHA-256 of the resume token. */
  readonly tokenDigest: Buffer;
  /** Given out in the first welcome only; never logged. */
  private newToken: string | null;
  /** @internal Sent envelopes, encoded, until the client acknowledges them. */
  readonly replay: ReplayBuffer<Frame>;
  /** @internal The client's numbered envelopes: delivered, duplicate or gap; the acknowledgement due. */
  readonly inbound: InboundSequence;
  /** The acknowledgements the session owes for them (acknowledgements.ts). */
  private readonly acks: Acknowledgements;
  /** @internal With a shared store: nothing is seen before it is stored (shared-session.ts). */
  readonly shared: SharedSession | undefined;
  /** This session began on another node; this handler run continues it (PROTOCOL.md §2.7). */
  readonly moved: boolean;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Requests both ways, made on first use. */
  private requests: SessionRequests | undefined;
  private ended = false;
  private rttMs: number | undefined;
  /** @internal When the last pong came (0: never), read through the link by the heartbeat sweep. */
  rttMeasuredAt = 0;
  private readonly reset: { sessionId: string; reason: ResetReason } | undefined = undefined;

  /** @internal Created by the route for a hello that starts a session, or for one claimed from another node. */
  constructor(codec: Codec, host: SocketHost, init: SocketInit, private readonly owner: SessionOwner, origin: SessionOrigin) {
    super(host, init);
    this.codec = codec;
    this.moved = origin.kind === 'moved';
    if (origin.kind === 'moved') {
      const { snapshot } = origin;
      this.sid = origin.sessionId;
      this.tokenDigest = origin.tokenDigest;
      this.newToken = null;
      this.replay = restoredReplay(snapshot, codec);
      this.inbound = new InboundSequence({ delivered: snapshot.rx });
    } else {
      this.sid = randomBytes(16).toString('base64url');
      const token = randomBytes(32).toString('base64url'); // 256 bits from the CSPRNG
      this.tokenDigest = secretDigest(token);
      this.newToken = token;
      this.replay = new ReplayBuffer<Frame>();
      this.inbound = new InboundSequence();
      if (origin.kind === 'reset') this.reset = origin.resetFrom;
    }
    this.acks = new Acknowledgements(this, this.inbound);
    const journal =
      origin.kind === 'moved'
        ? origin.journal
        : origin.shared?.create({ sessionId: this.sid, tokenDigest: this.tokenDigest, route: init.route, protocol: codec.protocol, ttl: owner.options.resumeWindow });
    if (journal !== undefined) this.shared = new SharedSession(this, journal, origin.kind !== 'moved', owner.storeUnreachableFor);
  }

  get lifeline(): boolean {
    return true;
  }

  get sessionId(): string {
    return this.sid;
  }

  get resetFrom(): { readonly sessionId: string; readonly reason: ResetReason } | undefined {
    return this.reset;
  }

  get rtt(): number | undefined {
    return this.rttMs;
  }

  /** The negotiated subprotocol: `lifeline.v1` or `lifeline.v1.msgpack`. */
  get protocol(): string {
    return this.codec.protocol;
  }

  /** True until the session ends, including while its connection is down and sends wait for a resume. */
  get isOpen(): boolean {
    return !this.ended;
  }

  override get stats(): SocketStats {
    return { ...super.stats, replayMessages: this.replay.count, replayBytes: this.replay.bytes };
  }

  /**
   * Sends an `m` envelope: a string as `d`, bytes as `b`, a received Message as it came.
   * Accepted while the session lives, connected or not; false (and `drop`) once it ended.
   */
  send(data: Sendable, options?: { binary?: boolean }): boolean {
    return this.sendPayload(payloadOf(data, options?.binary));
  }

  private sendPayload(payload: Payload): boolean {
    if (this.ended) return this.drop('not-open', sizeOf(payload));
    let sent: boolean;
    try {
      sent = sendNumbered(this, (s, a) =>
        payload instanceof EncodedPayload ? encodedMessage(s, a, payload) : messageEnvelope(s, a, payload),
      );
    } catch (error) {
      // A value the wire cannot carry (too deep for an encoder, a BigInt, a lone surrogate…):
      // nothing was numbered; the application hears why. (A transport's failed write is no
      // drop: the link closes with 1011 and the numbered frame waits for the resume.)
      return this.drop('encode-failed', sizeOf(payload), error as Error);
    }
    if (!sent) return false;
    this.messagesOut++;
    return true;
  }

  /** Sends `value` as the payload `d` of an `m` envelope (the client gets the value, not a string). */
  sendJson(value: unknown): boolean {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
      throw new LifelineError('LL_INVALID_JSON', `sendJson() was given ${typeof value}, which has no JSON form.`);
    }
    return this.sendPayload({ d: value });
  }

  /** Ends the session: the connection (if any) closes with `code` and `reason` after what was already sent. */
  close(code = 1000, reason = ''): void {
    checkCloseArguments(code, reason);
    this.end(code, reason, undefined, code);
  }

  /** Ends the session and drops its connection at once (the client sees 1006). */
  terminate(): void {
    this.end(1006, 'terminated by the server', undefined, 'terminate');
  }

  /** @internal Closes the current connection, if any; the session stays resumable (auth: token expired). */
  closeConnection(code: number, reason: string): void {
    this.link?.closeWith(code, reason);
  }

  /** Answers the client's `q` envelopes named `name`. */
  handle(name: string, handler: RequestHandler): this {
    this.requestsOf().handle(name, handler);
    return this;
  }

  /**
   * Sends a request to the client; resolves with its answer, exactly once even across
   * reconnects. Rejects `LL_REQUEST_TIMEOUT`, `LL_REQUEST_FAILED` (a {@link RequestError}
   * with the client's code) or `LL_SESSION_CLOSED`.
   */
  request(name: string, data?: unknown, options?: RequestOptions): Promise<unknown> {
    if (this.ended) return Promise.reject(sessionClosed(name));
    return this.requestsOf().request(name, data, options?.timeout ?? this.owner.options.requestTimeout);
  }

  private requestsOf(): SessionRequests {
    return (this.requests ??= new SessionRequests(this));
  }

  /** @internal RequestParty */
  refreshAuth(data: unknown): Promise<{ d: unknown } | { e: ResponseError }> {
    return this.owner.refreshAuth(this, data);
  }

  /** @internal RequestParty: `$subscribe` and the other reserved requests (PROTOCOL.md §3.3). */
  channelRequest(name: string, data: unknown): ReturnType<typeof answerChannelRequest> {
    return answerChannelRequest({ hub: this.host.hub, socket: this, maxChannels: this.owner.maxChannels }, name, data);
  }

  /** @internal RequestParty */
  requestLog(event: string, fields: LogFields): void {
    this.owner.log('error', event, this, fields);
  }

  // ---- a shared store (shared-session.ts) ---------------------------------------------------

  /** @internal With a shared store: the journal of this copy, while it is the session's. */
  get journal(): SessionJournal | undefined {
    return this.ended ? undefined : this.shared?.journal;
  }

  /** @internal The shared store lost the session (Redis restarted empty): the next write stores all of it again. */
  restate(): void {
    this.shared?.durability.restate();
  }

  /** @internal The shared store is back after being unreachable: find out at once whether it still has the session. */
  checkStored(): void {
    this.shared?.durability.check();
  }

  /**
   * @internal Another node claimed the session (it resumed there): this copy ends without
   * touching the store. The handler hears close 4000; a connection still here closes with it.
   */
  movedAway(): void {
    if (this.ended) return;
    this.shared?.movedAway();
  }

  /**
   * @internal Shutdown: with a shared store, the session is handed off (it ends here once
   * stored, and stays in the store for its client to resume elsewhere); else it closes.
   */
  async handOff(code: number, reason: string, timeout: number): Promise<void> {
    if (this.shared === undefined || this.ended) {
      this.close(code, reason);
      return;
    }
    await this.shared.handOff(code, reason, timeout);
  }

  /** @internal Another node asks for the session: see SharedSession.handOver. */
  async handOver(timeout: number): Promise<void> {
    if (this.shared === undefined || this.ended) return;
    await this.shared.handOver(timeout);
  }

  /** @internal SharedParty */
  endHere(code: number, reason: string): void {
    this.end(code, reason, undefined, code, true);
  }

  /** @internal SharedParty */
  droppedUnstored(): void {
    this.drop('moved', 0);
  }

  /** @internal SharedParty */
  sharedLog(level: 'info' | 'error', event: string, fields?: LogFields): void {
    this.owner.log(level, event, this, fields);
  }

  // ---- links: attach, resume, detach, expire ------------------------------------------------

  /**
   * @internal Where a resume's `rx` stands (PROTOCOL.md §2.4): `below` what the client
   * acknowledged (no correct client sends that), `above` the last envelope the client can
   * have seen (with a shared store, the last one stored: nothing unstored is shown), or
   * within (undefined).
   */
  rxOutOfRange(rx: number): 'below' | 'above' | undefined {
    return rxOutOfRange(this, rx);
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
    if (this.pausedForInbox) link.transport.pauseReading(PauseReason.inbox);
    const tok = resume?.token ?? this.newToken!;
    this.newToken = null;
    const hb = this.owner.heartbeatInterval;
    const max = this.owner.welcomeMax;
    const rx = this.inbound.delivered;
    // `probe`: this server answers the client's pings (PROTOCOL.md §2.5). `bin`: the binary
    // form, when the hello asked for it (§2.8); what the session numbers from now on uses it.
    const bin = (this.binaryForm = link.binaryForm);
    link.sendEnvelope(
      resume
        ? { t: 'welcome', sid: this.sid, tok, rx, resumed: true, hb, probe: true, bin, max }
        : this.reset
          ? { t: 'welcome', sid: this.sid, tok, rx, resumed: false, hb, probe: true, bin, max, reset: { reason: this.reset.reason } }
          : { t: 'welcome', sid: this.sid, tok, rx, resumed: false, hb, probe: true, bin, max },
    );
    this.inbound.acknowledgedByRx();
    // With a shared store, only what the store holds may be seen; the rest follows once stored.
    const upTo = this.shared?.attached() ?? this.replay.lastSeq;
    return resume ? replayTo(link, this.replay, resume.rx, upTo) : 0;
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
    freeAcknowledged(this, rx);
    const over = this.replay.exceeded(this.owner.options.replay, Date.now());
    if (over !== undefined) {
      this.overflow(over);
      return { outcome: 'overflow' };
    }
    return { outcome: 'resumed', replayed: this.attach(link, { token, rx }) };
  }

  /** @internal LinkSession: the link that carried this session closed. */
  linkClosed(link: Link, code: number, reason: string): void {
    if (link !== this.link) return;
    this.link = null;
    this.acks.clear();
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

  // ---- receiving ----------------------------------------------------------------------------

  /** @internal LinkSession: an envelope from the client, on the link that carries this session. */
  receiveEnvelope(envelope: Envelope, link: Link): void {
    switch (envelope.t) {
      case 'm':
      case 'q':
      case 'r': {
        if (envelope.a !== undefined && !acknowledged(this, envelope.a, envelope.t, link)) return;
        if (this.shared !== undefined) this.shared.hold(envelope, link);
        else this.deliverEnvelope(envelope, link, Date.now());
        return;
      }
      case 'a':
        acknowledged(this, envelope.a, 'a', link);
        return;
      case 'ping':
        // The client's probe (PROTOCOL.md §2.5): answered at once, outside the numbered stream.
        // A client that probes in a loop pays like any sender: the link charged the rate
        // limit, and a pong it does not read counts towards maxBufferedBytes.
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

  /** @internal Hands a numbered client envelope to the handler (or drops a duplicate), and schedules the acknowledgement. */
  deliverEnvelope(envelope: SequencedEnvelope, link: Link | null, now: number): void {
    const verdict = this.acks.receive(envelope.s, now);
    if (verdict === 'gap') {
      link?.fail(new EnvelopeError(1002, `${envelope.t}.s: sequence gap, expected ${this.inbound.delivered + 1}`));
      return;
    }
    if (verdict === 'duplicate') return;
    if (envelope.t === 'm') {
      this.messagesIn++;
      this.accept(
        envelope instanceof EncodedEnvelope
          ? new LifelineMessage(envelope.encoded, undefined, envelope instanceof BytesMessage) // (reading envelope.b would decode it)
          : envelope.b !== undefined
            ? new LifelineMessage(undefined, toBuffer(envelope.b), true)
            : new LifelineMessage(envelope.d, undefined, false),
      );
    } else if (envelope.t === 'q') this.requestsOf().answer(envelope);
    else this.requests?.settle(envelope);
  }

  // ---- sending: numbered, held for replay, written when connected (outbound.ts) ------------

  /** @internal OutboundParty */
  get replayBounds(): ReplayBounds {
    return this.owner.options.replay;
  }

  /** @internal OutboundParty */
  overflow(bound: ReplayBound): void {
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
    this.shared?.ended(why, keepStored);
    const link = this.link;
    this.link = null;
    if (link !== null) {
      link.session = null;
      if (linkClose === 'terminate') link.terminate();
      else link.closeWith(linkClose ?? code, reason);
    }
    this.acks.clear();
    clearTimeout(this.expiryTimer);
    this.requests?.rejectAll();
    this.replay.clear();
    this.closedBy(code, reason);
  }
}

function expire(session: SessionSocket): void {
  session.expire();
}

/** The `m` envelope of a `d` or a `b` payload, its fields written out: an object spread took 5% of a small Lifeline echo on Bun. */
function messageEnvelope(s: number, a: number | undefined, payload: { d: unknown } | { b: Uint8Array }): SequencedEnvelope {
  if ('b' in payload) return a === undefined ? { t: 'm', s, b: payload.b } : { t: 'm', s, a, b: payload.b };
  return a === undefined ? { t: 'm', s, d: payload.d } : { t: 'm', s, a, d: payload.d };
}
