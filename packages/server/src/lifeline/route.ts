/**
 * The Lifeline side of one route: picks the codec for the negotiated subprotocol, waits for
 * each connection's hello, and starts, resumes, resets or claims sessions (PROTOCOL.md
 * §2.2, §2.4, §2.7).
 */
import type { IncomingMessage } from 'node:http';
import { EnvelopeError, type DecodeLimits, type Envelope, type HelloEnvelope, type ResetReason, type ResponseError, type WelcomeLimits } from '@lifeline/protocol';
import type { Socket, SocketHost } from '../connection/socket.js';
import { secretDigest } from '../leaves/bearer.js';
import { describeError, type Logger, type LogFields } from '../leaves/logger.js';
import type { RouteParams } from '../leaves/router.js';
import type { Transport } from '../transport/transport.js';
import { codecsWithin, type Codec } from './codec.js';
import { Link } from './link.js';
import type { ResolvedLifelineOptions } from './options.js';
import { SessionSocket, type SessionOrigin } from './session.js';
import { MemorySessionStore, type SessionEndReason, type SessionStore, type SharedSessionStore } from './session-store.js';

/** What a Lifeline route needs from its app. */
export interface LifelineAppHost extends SocketHost {
  readonly logger: Logger;
  readonly handshakeTimeout: number;
  /** `hb` in the welcome, in ms. */
  readonly heartbeatInterval: number;
  readonly maxChannels: number;
  /** Sessions shared with other processes (PROTOCOL.md §2.7), if the app has a store for them. */
  readonly sessionStore: SharedSessionStore | undefined;
  sessionResumed(): void;
  sessionReset(reason: string): void;
  linkOpened(link: Link): void;
  linkClosed(link: Link): void;
  runWsHandler(handler: (socket: Socket, request: IncomingMessage) => unknown, socket: Socket, request: IncomingMessage): void;
}

/** The route's authentication, as Lifeline mode uses it (app/auth implements it). */
export interface SessionAuth {
  /** A new link: where the route takes a token in the hello, it must come within the deadline. */
  linkOpened(link: Link): void;
  /**
   * True when the hello may go on now (its connection's token passed before the upgrade,
   * or in this hello already). Otherwise it verifies `hello.auth`, then calls `again` to
   * handle the hello once it passed, or fails the link with 1008.
   */
  helloPassed(link: Link, hello: HelloEnvelope, again: () => void): boolean;
  /** A new or resumed session takes the token its connection was verified with (its identity and expiry replace the old ones). */
  bindSession(session: SessionSocket, request: IncomingMessage): void;
  /** `$auth` (PROTOCOL.md §4): verify the new token and replace the session's identity, or refuse. */
  refresh(session: SessionSocket, data: unknown): Promise<{ d: unknown } | { e: ResponseError }>;
}

// A LinkHost for its links and the SessionOwner of its sessions: checked where it is handed to them, not with
// `implements`, which would name interfaces whose members the public .d.ts leaves out (stripInternal).
export class LifelineRoute {
  readonly store: SessionStore<SessionSocket> = new MemorySessionStore<SessionSocket>();
  /** Subprotocols, in the route's order of preference. */
  readonly protocols: readonly string[];
  private readonly codecs: readonly Codec[];
  /** Links whose hello is being looked up in the shared store; anything else they send first is an error. */
  private readonly claiming = new WeakSet<Link>();
  /** The route's authentication (app/auth), set by the app; a hello goes on once its connection's token passed. */
  auth: SessionAuth | undefined;

  /** What the welcome announces (PROTOCOL.md §2.1 `max`): the route's maxPayload and the app's structural bounds. */
  readonly welcomeMax: WelcomeLimits;

  constructor(
    readonly path: string,
    readonly options: ResolvedLifelineOptions,
    private readonly app: LifelineAppHost,
    private readonly handler: (socket: Socket, request: IncomingMessage) => unknown,
    /** The route's maxPayload, in bytes. */
    readonly maxPayload: number,
    limits: DecodeLimits,
  ) {
    const codecs = codecsWithin(limits);
    this.codecs = options.formats.map((format) => codecs[format]);
    this.protocols = this.codecs.map((codec) => codec.protocol);
    this.welcomeMax = { size: maxPayload, depth: limits.maxDepth, items: limits.maxItems, key: limits.maxKeyLength };
  }

  get maxBufferedBytes(): number {
    return this.app.maxBufferedBytes;
  }

  get heartbeatInterval(): number {
    return this.app.heartbeatInterval;
  }

  get maxChannels(): number {
    return this.app.maxChannels;
  }

  /** @internal SessionOwner */
  get storeUnreachableFor(): number {
    return this.app.sessionStore?.unreachableTimeout ?? DEFAULT_STORE_UNREACHABLE_MS;
  }

  codecFor(protocol: string): Codec | undefined {
    return this.codecs.find((codec) => codec.protocol === protocol);
  }

  /** Takes a connection that negotiated one of the Lifeline subprotocols; it must say hello first. */
  accept(transport: Transport, codec: Codec, init: { id: string; url: string; params: RouteParams; remoteAddress: string; request: IncomingMessage }): Link {
    const link = new Link(transport, codec, this, init, this.app.handshakeTimeout);
    this.app.linkOpened(link);
    this.auth?.linkOpened(link);
    return link;
  }

  /** @internal LinkHost */
  onFirstEnvelope(link: Link, envelope: Envelope): void {
    if (this.claiming.has(link)) {
      link.fail(new EnvelopeError(1008, `${envelope.t}: nothing may follow hello before the welcome`));
      return;
    }
    if (envelope.t !== 'hello') {
      link.fail(new EnvelopeError(1008, `${envelope.t}: the first envelope must be hello`));
      return;
    }
    // JSON mode's binary form (PROTOCOL.md §2.8): agreed when the hello asks; the welcome says so.
    link.binaryForm = envelope.bin === true && link.codec.binaryForm !== undefined;
    if (this.auth !== undefined && !this.auth.helloPassed(link, envelope, () => this.onFirstEnvelope(link, envelope))) return;
    const request = link.request!;
    if (envelope.sid === undefined) {
      link.helloDone();
      this.startSession(link, request, undefined);
      return;
    }
    const sid = envelope.sid;
    const session = this.store.get(sid);
    const shared = this.app.sessionStore;
    if (session === undefined) {
      if (shared !== undefined && this.store.endedBecause(sid) === undefined) {
        this.claim(shared, link, request, sid, envelope.tok, envelope.rx, undefined);
        return;
      }
      link.helloDone();
      this.startSession(link, request, { sessionId: sid, reason: this.store.endedBecause(sid) ?? 'unknown-session' });
      return;
    }
    if (!session.tokenMatches(envelope.tok)) {
      link.helloDone();
      this.startSession(link, request, { sessionId: sid, reason: 'bad-token' });
      return;
    }
    if (session.codec !== link.codec) {
      link.helloDone();
      link.fail(new EnvelopeError(1008, `hello: the session speaks ${session.protocol}; resume it with that subprotocol`));
      return;
    }
    // With a shared store the store confirms this copy is still the session's, and orders this
    // connection after every other that was given the session (PROTOCOL.md §2.7). Until it has,
    // only "below" is certain: a copy another node made stale knows less, never more, than the session.
    if (shared !== undefined && session.journal !== undefined) {
      const where = session.rxOutOfRange(envelope.rx);
      if (where === 'below') this.refuseRx(link, request, sid, where);
      else this.claim(shared, link, request, sid, envelope.tok, envelope.rx, session);
      return;
    }
    if (this.refuseRx(link, request, sid, session.rxOutOfRange(envelope.rx))) return;
    link.helloDone();
    this.resumeHere(session, link, request, envelope.tok, envelope.rx, false);
  }

  /**
   * A resume's `rx` that no correct client of the session sends (PROTOCOL.md §2.4), answered
   * the same on every node and never at the session's cost: below what it acknowledged, 1002;
   * above what it can have seen, a new session told `unknown-session`. True if refused.
   */
  private refuseRx(link: Link, request: IncomingMessage, sid: string, where: 'below' | 'above' | undefined): boolean {
    if (where === undefined) return false;
    link.helloDone();
    if (where === 'below') link.fail(new EnvelopeError(1002, 'hello.rx: below what the client acknowledged'));
    else this.startSession(link, request, { sessionId: sid, reason: 'unknown-session' });
    return true;
  }

  /** Continues `session`, held here, on `link`. */
  private resumeHere(session: SessionSocket, link: Link, request: IncomingMessage, token: string, rx: number, moved: boolean): void {
    const result = session.resume(link, token, rx);
    if (result.outcome === 'overflow') this.startSession(link, request, { sessionId: session.sessionId, reason: 'overflow' });
    else if (result.outcome === 'resumed') {
      this.app.sessionResumed();
      this.log('info', 'session-resume', session, { link: link.id, remote: link.remoteAddress, replayed: result.replayed, moved: moved || undefined });
      this.auth?.bindSession(session, request);
    }
  }

  /**
   * A hello for a session this process may not hold (another node may, PROTOCOL.md §2.7), or
   * holds (`held`: the store confirms it). The hello timeout keeps running meanwhile, so a
   * store that does not answer closes the link like a missing hello would, and the claim
   * stops there.
   */
  private claim(shared: SharedSessionStore, link: Link, request: IncomingMessage, sid: string, token: string, rx: number, held: SessionSocket | undefined): void {
    this.claiming.add(link);
    if (held !== undefined) held.shared!.confirming++;
    this.log('debug', 'session-claim', undefined, { sid, link: link.id, held: held !== undefined });
    const tokenDigest = secretDigest(token);
    const claimRequest = { rx, holding: held?.journal, abandoned: () => !link.isOpen };
    shared.claim(sid, tokenDigest, this.path, link.codec.protocol, this.options.resumeWindow, claimRequest).then(
      (result) => {
        this.claiming.delete(link);
        if (held !== undefined) held.shared!.confirming--;
        if (result.outcome === 'abandoned') return;
        if (!link.isOpen) {
          // Nobody waits for it here: a session taken for this link is let go at once, for the next claim.
          if (result.outcome === 'claimed') result.journal.release().catch(() => {});
          return;
        }
        link.helloDone();
        if (result.outcome === 'protocol') {
          link.fail(new EnvelopeError(1008, `hello: the session speaks ${result.protocol}; resume it with that subprotocol`));
          return;
        }
        if (result.outcome === 'rx') {
          this.refuseRx(link, request, sid, result.below ? 'below' : 'above');
          return;
        }
        if (result.outcome === 'kept' || result.outcome === 'lost') {
          // This node's copy is the session's; it may have ended meanwhile (its window passed).
          if (held === undefined || !held.isOpen) {
            this.startSession(link, request, { sessionId: sid, reason: this.store.endedBecause(sid) ?? 'unknown-session' });
            return;
          }
          if (this.refuseRx(link, request, sid, held.rxOutOfRange(rx))) return;
          if (result.outcome === 'lost') {
            this.log('error', 'session-store-lost', held, { link: link.id });
            held.restate();
          }
          this.resumeHere(held, link, request, token, rx, false);
          return;
        }
        if (result.outcome === 'reset') {
          // A copy held here that the store no longer knows as the session's is stale.
          held?.movedAway();
          this.startSession(link, request, { sessionId: sid, reason: result.reason });
          return;
        }
        const session = this.newSession(link, { kind: 'moved', sessionId: sid, tokenDigest, snapshot: result.snapshot, journal: result.journal });
        this.store.get(sid)?.movedAway(); // a copy here that another node's claim made stale, or a second hello that raced this one
        this.store.add(session);
        const resumed = session.resume(link, token, rx);
        if (resumed.outcome === 'overflow') {
          this.startSession(link, request, { sessionId: sid, reason: 'overflow' });
          return;
        }
        if (resumed.outcome === 'resumed') {
          this.app.sessionResumed();
          this.log('info', 'session-resume', session, { link: link.id, remote: link.remoteAddress, replayed: resumed.replayed, moved: true });
        } else session.waitForResume();
        // The handler runs again here: what it kept in memory stayed on the other node.
        this.auth?.bindSession(session, request);
        this.app.runWsHandler(this.handler, session, request);
      },
      (error: unknown) => {
        this.claiming.delete(link);
        if (held !== undefined) held.shared!.confirming--;
        link.helloDone();
        this.log('error', 'session-claim-failed', undefined, { sid, link: link.id, error: (error as Error).message });
        // The session is still in the store: the client retries and resumes it then.
        link.closeWith(1013, 'session store unavailable; try again later');
      },
    );
  }

  private newSession(link: Link, origin: SessionOrigin): SessionSocket {
    const init = { id: link.id, route: this.path, url: link.url, params: link.params, remoteAddress: link.remoteAddress };
    return new SessionSocket(link.codec, this.app, init, this, origin);
  }

  private startSession(link: Link, request: IncomingMessage, resetFrom: { sessionId: string; reason: ResetReason } | undefined): void {
    const shared = this.app.sessionStore;
    const socket = this.newSession(link, resetFrom ? { kind: 'reset', resetFrom, shared } : { kind: 'new', shared });
    this.store.add(socket);
    socket.attach(link);
    if (resetFrom) {
      this.app.sessionReset(resetFrom.reason);
      this.log('info', 'session-reset', socket, { link: link.id, remote: link.remoteAddress, reason: resetFrom.reason, oldSid: resetFrom.sessionId });
    } else {
      this.log('info', 'session-start', socket, { link: link.id, remote: link.remoteAddress, protocol: link.codec.protocol });
    }
    this.auth?.bindSession(socket, request);
    this.app.runWsHandler(this.handler, socket, request);
  }

  /** @internal LinkHost */
  onLinkClose(link: Link, code: number, reason: string): void {
    this.app.linkClosed(link);
    if (this.app.logger.enabled('debug')) {
      this.app.logger.log('debug', 'link-close', { link: link.id, remote: link.remoteAddress, route: this.path, code, reason: reason || undefined, sid: link.session?.sessionId });
    }
  }

  /** @internal LinkHost */
  onLinkHeartbeatTimeout(link: Link, silentForMs: number): void {
    this.app.logger.log('info', 'heartbeat-timeout', { id: link.id, remote: link.remoteAddress, silentForMs, sid: link.session?.sessionId });
  }

  /** @internal LinkHost */
  onLinkProtocolError(link: Link, code: number, reason: string): void {
    if (this.app.logger.enabled('info')) {
      this.app.logger.log('info', 'protocol-error', { link: link.id, remote: link.remoteAddress, route: this.path, code, reason });
    }
  }

  /** @internal LinkHost */
  onLinkWriteFailed(link: Link, error: unknown): void {
    this.app.logger.log('error', 'write-failed', { link: link.id, remote: link.remoteAddress, route: this.path, sid: link.session?.sessionId, error: describeError(error) });
  }

  /** @internal SessionOwner */
  forget(session: SessionSocket, why?: SessionEndReason): void {
    // A copy replaced by a claim of the same session must not take the new one with it.
    if (this.store.get(session.sessionId) === session) this.store.delete(session.sessionId, why);
  }

  /** @internal SessionOwner: `$auth` */
  refreshAuth(session: SessionSocket, data: unknown): Promise<{ d: unknown } | { e: ResponseError }> {
    if (this.auth === undefined) return Promise.resolve({ e: { code: 'LL_NO_HANDLER', message: '$auth: this route has no authentication' } });
    return this.auth.refresh(session, data);
  }

  /** @internal SessionOwner. Never logs the resume token. */
  log(level: 'info' | 'debug' | 'error', event: string, session: SessionSocket | undefined, fields?: LogFields): void {
    const logger = this.app.logger;
    if (!logger.enabled(level)) return;
    logger.log(level, event, session ? { id: session.id, sid: session.sessionId, route: this.path, ...fields } : { route: this.path, ...fields });
  }
}

/** How long a shared session store may stay unreachable before its sessions end, in ms. */
export const DEFAULT_STORE_UNREACHABLE_MS = 10_000;
