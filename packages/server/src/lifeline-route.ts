import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { EnvelopeError, type Envelope, type ResetReason } from '@lifeline/protocol';
import type WebSocket from 'ws';
import { CODECS, Link, type Codec, type LinkHost } from './link.js';
import type { Logger, LogFields } from './logger.js';
import type { ResolvedLifelineOptions } from './options.js';
import type { RouteParams } from './router.js';
import { SessionSocket, type SessionOwner } from './session.js';
import { MemorySessionStore, type SessionEndReason, type SessionStore } from './session-store.js';
import type { Socket, SocketHost } from './socket.js';

/** What a Lifeline route needs from its app. */
export interface LifelineAppHost extends SocketHost {
  readonly logger: Logger;
  readonly handshakeTimeout: number;
  /** `hb` in the welcome, in ms. */
  readonly heartbeatInterval: number;
  readonly maxChannels: number;
  sessionResumed(): void;
  sessionReset(reason: string): void;
  linkOpened(link: Link): void;
  linkClosed(link: Link): void;
  runWsHandler(handler: (socket: Socket, request: IncomingMessage) => unknown, socket: Socket, request: IncomingMessage): void;
}

/**
 * The Lifeline side of one route: picks the codec for the negotiated subprotocol, waits for
 * each connection's hello, and starts, resumes or resets sessions (PROTOCOL.md §2.2, §2.4).
 */
export class LifelineRoute implements LinkHost, SessionOwner {
  readonly store: SessionStore<SessionSocket> = new MemorySessionStore<SessionSocket>();
  /** Subprotocols, in the route's order of preference. */
  readonly protocols: readonly string[];
  private readonly codecs: readonly Codec[];

  constructor(
    readonly path: string,
    readonly options: ResolvedLifelineOptions,
    private readonly app: LifelineAppHost,
    private readonly handler: (socket: Socket, request: IncomingMessage) => unknown,
  ) {
    this.codecs = options.formats.map((format) => CODECS[format]);
    this.protocols = this.codecs.map((codec) => codec.protocol);
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

  codecFor(protocol: string): Codec | undefined {
    return this.codecs.find((codec) => codec.protocol === protocol);
  }

  /** Takes a connection that negotiated one of the Lifeline subprotocols; it must say hello first. */
  accept(ws: WebSocket, raw: Duplex, codec: Codec, init: { id: string; url: string; params: RouteParams; remoteAddress: string; request: IncomingMessage }): Link {
    const link = new Link(ws, raw, codec, this, init, this.app.handshakeTimeout);
    this.app.linkOpened(link);
    return link;
  }

  /** @internal LinkHost */
  onFirstEnvelope(link: Link, envelope: Envelope): void {
    if (envelope.t !== 'hello') {
      link.fail(new EnvelopeError(1008, `${envelope.t}: the first envelope must be hello`));
      return;
    }
    const request = link.request!;
    link.helloDone();
    if (envelope.sid === undefined) {
      this.startSession(link, request, undefined);
      return;
    }
    const sid = envelope.sid;
    const session = this.store.get(sid);
    if (session === undefined) {
      this.startSession(link, request, { sessionId: sid, reason: this.store.endedBecause(sid) ?? 'unknown-session' });
      return;
    }
    if (!session.tokenMatches(envelope.tok)) {
      this.startSession(link, request, { sessionId: sid, reason: 'bad-token' });
      return;
    }
    if (session.codec !== link.codec) {
      link.fail(new EnvelopeError(1008, `hello: the session speaks ${session.protocol}; resume it with that subprotocol`));
      return;
    }
    const result = session.resume(link, envelope.tok, envelope.rx);
    if (result.outcome === 'overflow') this.startSession(link, request, { sessionId: sid, reason: 'overflow' });
    else if (result.outcome === 'resumed') {
      this.app.sessionResumed();
      this.log('info', 'session-resume', session, { link: link.id, remote: link.remoteAddress, replayed: result.replayed });
    }
  }

  private startSession(link: Link, request: IncomingMessage, resetFrom: { sessionId: string; reason: ResetReason } | undefined): void {
    const socket = new SessionSocket(
      link,
      this.app,
      { id: link.id, route: this.path, url: link.url, params: link.params, remoteAddress: link.remoteAddress, textHeartbeat: undefined },
      this,
      resetFrom,
    );
    this.store.add(socket);
    socket.attach(link);
    if (resetFrom) {
      this.app.sessionReset(resetFrom.reason);
      this.log('info', 'session-reset', socket, { link: link.id, remote: link.remoteAddress, reason: resetFrom.reason, oldSid: resetFrom.sessionId });
    } else {
      this.log('info', 'session-start', socket, { link: link.id, remote: link.remoteAddress, protocol: link.codec.protocol });
    }
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
  onLinkProtocolError(link: Link, error: EnvelopeError): void {
    if (this.app.logger.enabled('info')) {
      this.app.logger.log('info', 'protocol-error', { link: link.id, remote: link.remoteAddress, route: this.path, code: error.closeCode, reason: error.reason });
    }
  }

  /** @internal SessionOwner */
  forget(session: SessionSocket, why?: SessionEndReason): void {
    this.store.delete(session.sessionId, why);
  }

  /** @internal SessionOwner. Never logs the resume token. */
  log(level: 'info' | 'debug' | 'error', event: string, session: SessionSocket, fields?: LogFields): void {
    const logger = this.app.logger;
    if (!logger.enabled(level)) return;
    logger.log(level, event, { id: session.id, sid: session.sessionId, route: this.path, ...fields });
  }
}
