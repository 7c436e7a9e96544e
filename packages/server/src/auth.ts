/**
 * Authentication for WebSocket routes (`app.ws(path, { auth }, handler)`, docs/server.md
 * "Authentication"). A token comes from the `Authorization: Bearer` header, a
 * `lifeline.auth.<base64url>` subprotocol entry, a query parameter or a cookie, and is
 * verified before the upgrade (refusals are HTTP 401/403/500/503); or, where the route
 * allows it, from the first message after the upgrade (raw: the first text message;
 * Lifeline mode: `hello.auth`), and the handler runs only once it is verified. Lifeline
 * sessions refresh it with the reserved request `$auth`; an `expiresAt` that passes without
 * a refresh closes the connection with 4401.
 *
 * A token never reaches a log line: refusal reasons do not quote it, the query parameter
 * is removed from `request.url` (and so from `socket.url`), and a verify error's message is
 * logged with the token cut out.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { EnvelopeError, LifelineError, type HelloEnvelope, type ResponseError } from '@lifeline/protocol';
import type WebSocket from 'ws';
import { bearerToken } from './bearer.js';
import type { Rejection } from './handshake.js';
import type { Link } from './link.js';
import type { Logger } from './logger.js';
import { invalidOption, positiveOption } from './option-checks.js';
import { DEFAULTS, type OriginCheck } from './options.js';
import type { Socket } from './socket.js';

/** Where a token may come from. `message`: after the upgrade, in the first message (raw) or the hello (Lifeline). */
export type AuthSource = 'header' | 'protocol' | 'query' | 'cookie' | 'message';

/** What `verify` may return for an accepted token when it also knows when the token expires. */
export interface AuthGrant<Identity = unknown> {
  identity: Identity;
  /** When the token stops being valid: ms since the epoch, or a Date. The connection is closed with 4401 then, unless refreshed. */
  expiresAt?: number | Date;
}

/** The second and third arguments of `verify`. */
export interface AuthContext {
  /** Where this token came from; `refresh` for a Lifeline `$auth` request. */
  readonly source: AuthSource | 'refresh';
  /** For a `$auth` refresh: the session, whose `identity` is the one being replaced. */
  readonly socket?: Socket;
}

/**
 * Decides whether a token is good. Return (or resolve) the identity the handler should see
 * (any value but `false`, `null` and `undefined`), or `{ identity, expiresAt }`; return
 * `false` (or `null`/`undefined`) to refuse it (401 / close 1008 / `LL_UNAUTHORIZED`).
 * Throw only when it cannot decide (the auth backend is down): that answers 500 and is
 * logged. A thrown error with `status` 401 or 403 is a refusal with that status.
 * `request` is the upgrade request; `undefined` for a `$auth` refresh.
 */
export type AuthVerify = (token: string, request: IncomingMessage | undefined, context: AuthContext) => unknown;

/** `app.ws(path, { auth: AuthOptions }, handler)`. Only `verify` is required; defaults in `DEFAULTS.auth`. */
export interface AuthOptions {
  verify: AuthVerify;
  /**
   * Where tokens are looked for, in order; the first one present is the one verified (a
   * refused token is never retried from another source). Default `['header', 'protocol',
   * 'query']`, plus `'cookie'` when `cookie` is set. Add `'message'` to accept a token after
   * the upgrade from clients that sent none with it.
   */
  sources?: readonly AuthSource[];
  /** The query parameter for source `query`. Default `access_token`. Removed from `request.url` and `socket.url`. */
  queryParam?: string;
  /**
   * A cookie that carries the token (source `cookie`). Browsers send cookies with every
   * request, from any page, so such a route refuses upgrades whose `Origin` is foreign (403):
   * cross-site WebSocket hijacking.
   */
  cookie?: string;
  /**
   * For a cookie route: the origins allowed (exact `scheme://host[:port]`, or a function).
   * Default: the app's `allowedOrigins` when set, else only the origin whose host is the
   * request's `Host`. Requests without `Origin` (not from a browser) are allowed.
   */
  allowedOrigins?: OriginCheck;
  /** How long `verify` may take, in ms: 503 (before the upgrade) or close 1013 (after) beyond it. Default 5,000. */
  verifyTimeout?: number;
  /** Source `message`: how long after the upgrade the token may take to arrive, in ms; close 1008 beyond it. Default 5,000. */
  firstMessageTimeout?: number;
}

/** What `socket.auth` holds. */
export interface SocketAuth {
  readonly identity: unknown;
  /** Where the token came from (`refresh` after a Lifeline `$auth`). */
  readonly source: AuthSource | 'refresh';
  /** When the token expires (ms since the epoch), if `verify` said so. */
  readonly expiresAt: number | undefined;
}

/** The subprotocol entry that carries a token: `lifeline.auth.` + base64url(UTF-8 token). */
export const AUTH_PROTOCOL_PREFIX = 'lifeline.auth.';

/** Close code when a token expires without a refresh (PROTOCOL.md §1.3); a client reconnects with a fresh one. */
export const TOKEN_EXPIRED_CLOSE = 4401;

/** Never selected as the connection's subprotocol, never echoed back, never logged. */
export function isAuthProtocol(protocol: string): boolean {
  return protocol.startsWith(AUTH_PROTOCOL_PREFIX);
}

const SOURCES: readonly AuthSource[] = ['header', 'protocol', 'query', 'cookie', 'message'];
/** setTimeout's largest delay; later expiries are re-armed in steps. */
const MAX_TIMER = 2 ** 31 - 1;

type Outcome =
  | { kind: 'ok'; identity: unknown; expiresAt: number | undefined }
  | { kind: 'refused'; status: 401 | 403; why: string }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout' };

interface State extends SocketAuth {
  readonly route: RouteAuth;
  timer: NodeJS.Timeout | undefined;
}

const states = new WeakMap<Socket, State>();
/** Verified before the upgrade, by upgrade request, until the connection's socket or session takes it. */
const grants = new WeakMap<IncomingMessage, { identity: unknown; expiresAt: number | undefined; source: AuthSource }>();

/** @internal `socket.auth`. */
export function authOf(socket: Socket): SocketAuth | undefined {
  const state = states.get(socket);
  return state && { identity: state.identity, source: state.source, expiresAt: state.expiresAt };
}

/** What the upgrade step needs from the app. */
export interface UpgradeHost {
  /** The app's own origin check; a cookie route without `allowedOrigins` of its own relies on it when set. */
  readonly appOrigins: OriginCheck | undefined;
  /** Capacity and shutdown, checked again after an asynchronous verify. */
  recheck(): Rejection | null;
  refuse(rejection: Rejection): void;
  /** Completes the WebSocket handshake. */
  upgrade(): void;
}

/** One route's authentication. */
export class RouteAuth {
  readonly sources: readonly AuthSource[];
  readonly queryParam: string;
  readonly cookie: string | undefined;
  readonly verifyTimeout: number;
  readonly firstMessageTimeout: number;
  private readonly verify: AuthVerify;
  private readonly allowedOrigins: OriginCheck | undefined;
  /** Lifeline links whose hello token is being verified. */
  private readonly verifying = new WeakSet<Link>();

  constructor(
    readonly path: string,
    options: AuthOptions,
    private readonly logger: () => Logger,
  ) {
    const name = `${path}: auth`;
    if (typeof options !== 'object' || options === null || typeof options.verify !== 'function') {
      throw invalidOption(`${name}.verify`, (options as AuthOptions | null)?.verify, 'a function verify(token, request) => identity | false');
    }
    const d = DEFAULTS.auth;
    this.verify = options.verify;
    this.cookie = options.cookie;
    if (this.cookie !== undefined && (typeof this.cookie !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(this.cookie))) {
      throw invalidOption(`${name}.cookie`, this.cookie, 'a cookie name');
    }
    const sources = options.sources ?? (this.cookie === undefined ? d.sources : [...d.sources, 'cookie']);
    if (!Array.isArray(sources) || sources.length === 0 || sources.some((s) => !SOURCES.includes(s)) || new Set(sources).size !== sources.length) {
      throw invalidOption(`${name}.sources`, sources, `a non-empty list of ${SOURCES.join(', ')}`);
    }
    if (sources.includes('cookie') !== (this.cookie !== undefined)) throw invalidOption(`${name}.sources`, sources, 'to list "cookie" exactly when auth.cookie names the cookie');
    this.sources = sources;
    this.queryParam = options.queryParam ?? d.queryParam;
    if (typeof this.queryParam !== 'string' || this.queryParam === '') throw invalidOption(`${name}.queryParam`, this.queryParam, 'a non-empty string');
    this.verifyTimeout = positive(`${name}.verifyTimeout`, options.verifyTimeout, d.verifyTimeout);
    this.firstMessageTimeout = positive(`${name}.firstMessageTimeout`, options.firstMessageTimeout, d.firstMessageTimeout);
    const origins = options.allowedOrigins;
    if (origins !== undefined && typeof origins !== 'function' && !Array.isArray(origins)) throw invalidOption(`${name}.allowedOrigins`, origins, 'an array of origins or a function');
    this.allowedOrigins = origins;
  }

  /** Tokens may arrive after the upgrade. */
  get afterUpgrade(): boolean {
    return this.sources.includes('message');
  }

  /**
   * Before the upgrade: the cookie route's origin check, then the token from the request,
   * verified (asynchronously) before `host.upgrade()`. Without a token: 401, or the upgrade
   * when the token may come in the first message.
   */
  upgrade(request: IncomingMessage, socket: Duplex, host: UpgradeHost): void {
    const foreign = this.checkOrigin(request, host.appOrigins);
    if (foreign) return host.refuse(foreign);
    const found = this.tokenOf(request);
    if (found === undefined) {
      if (this.afterUpgrade) return host.upgrade();
      return host.refuse({
        status: 401,
        message: `${this.path} needs an access token: send "Authorization: Bearer <token>"${this.sourceHint()}.`,
        headers: { 'WWW-Authenticate': 'Bearer realm="lifeline"' },
      });
    }
    // ws removes nothing, but Node took its own error listener off the upgraded socket:
    // a peer that resets while verify runs must not crash the process.
    const ignore = () => {};
    socket.on('error', ignore);
    void this.check(found.token, request, { source: found.source }).then((outcome) => {
      socket.off('error', ignore);
      if (socket.destroyed) return;
      if (outcome.kind === 'ok') {
        const later = host.recheck();
        if (later) return host.refuse(later);
        grants.set(request, { identity: outcome.identity, expiresAt: outcome.expiresAt, source: found.source });
        return host.upgrade();
      }
      host.refuse(this.rejection(outcome, found.source, request));
    });
  }

  /** The answer to an upgrade whose token did not pass. */
  private rejection(outcome: Exclude<Outcome, { kind: 'ok' }>, source: AuthSource, request: IncomingMessage): Rejection {
    if (outcome.kind === 'refused') {
      return outcome.status === 403
        ? { status: 403, message: `The access token (from ${source}) does not allow ${this.path}.` }
        : {
            status: 401,
            message: `The access token (from ${source}) was refused: ${outcome.why}.`,
            headers: { 'WWW-Authenticate': `Bearer realm="lifeline", error="invalid_token"` },
          };
    }
    if (outcome.kind === 'timeout') {
      this.logger().log('warn', 'auth-timeout', { route: this.path, source, remote: remoteOf(request), verifyTimeout: this.verifyTimeout });
      return { status: 503, message: 'Authentication is taking too long; retry shortly.', headers: { 'Retry-After': '5' } };
    }
    return { status: 500, message: 'Authentication failed on the server.' };
  }

  /**
   * After the upgrade, for a raw socket: with a token verified before the upgrade, binds it
   * and runs the handler; otherwise the first text message must be the token, within
   * `firstMessageTimeout` (close 1008), and the handler runs only once it is verified.
   */
  admit(socket: Socket, ws: WebSocket, request: IncomingMessage, run: () => void): void {
    const grant = grants.get(request);
    if (grant !== undefined) {
      grants.delete(request);
      bind(socket, this, grant.identity, grant.expiresAt, grant.source);
      return run();
    }
    const deadline = setTimeout(() => {
      stop();
      this.closeRaw(socket, 1008, `auth: no token within ${this.firstMessageTimeout} ms`, 'message');
    }, this.firstMessageTimeout);
    const onMessage = () => {
      // The socket holds what arrives until the handler listens: the first message is taken
      // out before anyone sees it (a text heartbeat is answered and held back by the socket).
      const message = socket.takeHeld();
      if (message === undefined) return;
      stop();
      if (message.binary) return this.closeRaw(socket, 1008, 'auth: the first message must be the access token, as text', 'message');
      void this.check(message.text, request, { source: 'message' }).then((outcome) => {
        if (!socket.isOpen) return;
        if (outcome.kind === 'ok') {
          bind(socket, this, outcome.identity, outcome.expiresAt, 'message');
          return run();
        }
        const [code, reason] = closeFor(outcome);
        this.closeRaw(socket, code, reason, 'message');
      });
    };
    const stop = () => {
      clearTimeout(deadline);
      ws.off('message', onMessage);
      socket.off('close', stop);
    };
    ws.on('message', onMessage);
    socket.on('close', stop);
  }

  private closeRaw(socket: Socket, code: number, reason: string, source: AuthSource): void {
    this.log('auth-refused', socket, { source, code, reason });
    socket.close(code, reason);
  }

  /**
   * Lifeline mode, on a hello: true when it may go on now (its connection's token passed
   * before the upgrade, or in this hello already). Otherwise verifies `hello.auth`, then
   * calls `again` to handle the hello once it passed, or fails the link with 1008.
   */
  helloPassed(link: Link, envelope: HelloEnvelope, again: () => void): boolean {
    const request = link.request;
    if (request === null || grants.has(request)) return true;
    if (this.verifying.has(link)) {
      link.fail(new EnvelopeError(1008, 'hello: nothing may follow hello before the welcome'));
      return false;
    }
    if (envelope.auth === undefined) {
      link.fail(new EnvelopeError(1008, `hello.auth: ${this.path} needs an access token`));
      return false;
    }
    this.verifying.add(link);
    void this.check(envelope.auth, request, { source: 'message' }).then((outcome) => {
      this.verifying.delete(link);
      if (!link.isOpen) return;
      if (outcome.kind === 'ok') {
        grants.set(request, { identity: outcome.identity, expiresAt: outcome.expiresAt, source: 'message' });
        return again();
      }
      const [code, reason] = closeFor(outcome);
      this.logger().log('info', 'auth-refused', { link: link.id, remote: link.remoteAddress, route: this.path, source: 'message', code, reason });
      if (code === 1008) link.fail(new EnvelopeError(1008, reason));
      else link.closeWith(code, reason);
    });
    return false;
  }

  /** Lifeline mode, a new connection without a token yet: its hello must bring one within `firstMessageTimeout`. */
  helloDeadline(link: Link): void {
    const request = link.request;
    if (request === null || grants.has(request) || !this.afterUpgrade) return;
    const timer = setTimeout(() => {
      if (link.request !== null && !this.verifying.has(link) && !grants.has(link.request)) {
        link.fail(new EnvelopeError(1008, `hello.auth: no access token within ${this.firstMessageTimeout} ms`));
      }
    }, this.firstMessageTimeout);
    timer.unref();
  }

  /** A new or resumed session takes the token its connection was verified with (its identity and expiry replace the old ones). */
  bindSession(session: Socket, request: IncomingMessage): void {
    const grant = grants.get(request);
    if (grant === undefined) return;
    grants.delete(request);
    bind(session, this, grant.identity, grant.expiresAt, grant.source);
  }

  /** Runs verify with the timeout; never rejects. */
  async check(token: string, request: IncomingMessage | undefined, context: AuthContext): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Outcome>((resolve) => (timer = setTimeout(resolve, this.verifyTimeout, { kind: 'timeout' })));
    const verify = this.verify;
    const run = async (): Promise<Outcome> => {
      try {
        return outcomeOf(await verify(token, request, context));
      } catch (error) {
        const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
        if (status === 401 || status === 403) return { kind: 'refused', status, why: 'verify refused it' };
        return { kind: 'error', error };
      }
    };
    const outcome = await Promise.race([run(), timeout]);
    clearTimeout(timer);
    if (outcome.kind === 'error') {
      this.logger().log('error', 'auth-error', { route: this.path, source: context.source, error: redact(describe(outcome.error), token) });
    }
    return outcome;
  }

  /** `$auth` (PROTOCOL.md §4): verify the new token and replace the session's identity, or refuse. */
  async refresh(session: Socket, data: unknown): Promise<{ d: unknown } | { e: ResponseError }> {
    const token = (data as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token === '') return { e: { code: 'LL_INVALID_REQUEST', message: '$auth: d must be { token: string }' } };
    const outcome = await this.check(token, undefined, { source: 'refresh', socket: session });
    if (outcome.kind === 'ok') {
      if (!session.isOpen) return { e: { code: 'LL_SESSION_CLOSED', message: '$auth: the session ended' } };
      bind(session, this, outcome.identity, outcome.expiresAt, 'refresh');
      this.log('auth-refresh', session, { expiresAt: outcome.expiresAt });
      return { d: { expiresAt: outcome.expiresAt ?? null } };
    }
    const [code, reason] = closeFor(outcome);
    this.log('auth-refresh-refused', session, { reason });
    if (code === 1008) return { e: { code: 'LL_UNAUTHORIZED', message: `$auth: ${reason.replace(/^auth: /, '')}` } };
    return { e: { code: 'LL_UNAVAILABLE', message: `$auth: ${reason.replace(/^auth: /, '')}` } };
  }

  /** For a route with a cookie source: a browser's request from a foreign page is refused (403). */
  checkOrigin(request: IncomingMessage, appOrigins: OriginCheck | undefined): Rejection | null {
    if (this.cookie === undefined) return null;
    const origin = request.headers.origin;
    if (origin === undefined) return null; // not a browser: no ambient credentials to abuse
    const check = this.allowedOrigins ?? appOrigins;
    let allowed: boolean;
    if (typeof check === 'function') allowed = check(origin, request);
    else if (check !== undefined) allowed = check.includes(origin);
    else allowed = sameOrigin(origin, request.headers.host);
    if (allowed) return null;
    return {
      status: 403,
      message:
        `Origin ${JSON.stringify(origin)} may not open ${this.path}: it authenticates with a cookie, which a browser sends from any page, ` +
        'so only the same origin (or auth.allowedOrigins) may connect.',
    };
  }

  /** The first token present in the upgrade request, from the route's sources in order. */
  private tokenOf(request: IncomingMessage): { token: string; source: AuthSource } | undefined {
    let found: { token: string; source: AuthSource } | undefined;
    for (const source of this.sources) {
      const token = found ? undefined : this.read(source, request);
      if (token !== undefined) found = { token, source };
    }
    // The token in the URL is never kept where logs and handlers read it.
    if (this.sources.includes('query')) stripQueryParam(request, this.queryParam);
    return found;
  }

  private read(source: AuthSource, request: IncomingMessage): string | undefined {
    switch (source) {
      case 'header':
        return bearerToken(request.headers.authorization);
      case 'protocol': {
        const header = request.headers['sec-websocket-protocol'];
        const entry = header?.split(',').map((p) => p.trim()).find(isAuthProtocol);
        if (entry === undefined) return undefined;
        const encoded = entry.slice(AUTH_PROTOCOL_PREFIX.length);
        // Not base64url: a token that cannot be right, refused by verify like any other.
        return /^[A-Za-z0-9_-]+$/.test(encoded) ? Buffer.from(encoded, 'base64url').toString('utf8') : encoded;
      }
      case 'query': {
        const url = request.url ?? '';
        const q = url.indexOf('?');
        if (q === -1) return undefined;
        const value = new URLSearchParams(url.slice(q + 1)).get(this.queryParam);
        return value === null || value === '' ? undefined : value;
      }
      case 'cookie':
        return cookieValue(request.headers.cookie, this.cookie!);
      default:
        return undefined;
    }
  }

  private sourceHint(): string {
    const hints: string[] = [];
    if (this.sources.includes('protocol')) hints.push(`a "${AUTH_PROTOCOL_PREFIX}<base64url token>" subprotocol entry`);
    if (this.sources.includes('query')) hints.push(`?${this.queryParam}=<token>`);
    if (this.sources.includes('cookie')) hints.push(`the ${this.cookie} cookie`);
    return hints.length ? `, or ${hints.join(', or ')}` : '';
  }

  /** @internal */
  log(event: string, socket: Socket, fields: Record<string, string | number | undefined>): void {
    const logger = this.logger();
    if (logger.enabled('info')) logger.log('info', event, { id: socket.id, sid: socket.sessionId, route: this.path, ...fields });
  }
}

/** Sets (or replaces) a socket's identity and its expiry timer. */
function bind(socket: Socket, route: RouteAuth, identity: unknown, expiresAt: number | undefined, source: SocketAuth['source']): void {
  const old = states.get(socket);
  if (old === undefined) socket.once('close', () => forget(socket));
  else clearTimeout(old.timer);
  const state: State = { identity, expiresAt, source, route, timer: undefined };
  states.set(socket, state);
  if (expiresAt !== undefined) arm(socket, state);
}

function arm(socket: Socket, state: State): void {
  const wait = state.expiresAt! - Date.now();
  state.timer = setTimeout(() => {
    if (states.get(socket) !== state || !socket.isOpen) return;
    if (state.expiresAt! > Date.now()) return arm(socket, state); // a far expiry, in steps
    state.route.log('auth-expired', socket, { expiresAt: state.expiresAt });
    // A raw connection closes; a Lifeline session stays resumable, and its client comes back with a fresh token.
    if (socket.lifeline) (socket as Socket & { closeConnection(code: number, reason: string): void }).closeConnection(TOKEN_EXPIRED_CLOSE, 'token expired');
    else socket.close(TOKEN_EXPIRED_CLOSE, 'token expired');
  }, Math.min(Math.max(wait, 0), MAX_TIMER));
  state.timer.unref();
}

function forget(socket: Socket): void {
  const state = states.get(socket);
  if (state) clearTimeout(state.timer);
  states.delete(socket);
}

/** @internal The route's auth, for `$auth` on a session (undefined: the route has none). */
export function routeAuthOf(socket: Socket): RouteAuth | undefined {
  return states.get(socket)?.route;
}

/** `$auth` for a session: the session hook in session.ts. */
export function answerAuthRequest(session: Socket, data: unknown): Promise<{ d: unknown } | { e: ResponseError }> {
  const route = routeAuthOf(session);
  if (route === undefined) return Promise.resolve({ e: { code: 'LL_NO_HANDLER', message: '$auth: this route has no authentication' } });
  return route.refresh(session, data);
}

function outcomeOf(value: unknown): Outcome {
  if (value === false || value === null || value === undefined) return { kind: 'refused', status: 401, why: 'invalid token' };
  let identity: unknown = value;
  let expiresAt: number | undefined;
  if (typeof value === 'object' && 'identity' in value && 'expiresAt' in value) {
    const grant = value as AuthGrant;
    identity = grant.identity;
    if (identity === false || identity === null || identity === undefined) return { kind: 'refused', status: 401, why: 'invalid token' };
    const at = grant.expiresAt;
    if (at !== undefined) {
      expiresAt = at instanceof Date ? at.getTime() : at;
      if (typeof expiresAt !== 'number' || Number.isNaN(expiresAt)) {
        return { kind: 'error', error: new LifelineError('LL_INVALID_OPTION', 'verify returned an expiresAt that is neither a number of ms nor a Date') };
      }
      if (expiresAt <= Date.now()) return { kind: 'refused', status: 401, why: 'token expired' };
    }
  }
  return { kind: 'ok', identity, expiresAt };
}

/** The close code and reason for a token refused after the upgrade. */
function closeFor(outcome: Exclude<Outcome, { kind: 'ok' }>): [number, string] {
  if (outcome.kind === 'refused') return [1008, outcome.status === 403 ? 'auth: token not allowed here' : `auth: ${outcome.why}`];
  if (outcome.kind === 'timeout') return [1013, 'auth: verification timed out; retry later'];
  return [1011, 'auth: verification failed on the server'];
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const from = new URL(origin);
    if (from.protocol !== 'http:' && from.protocol !== 'https:') return false;
    // The Host header with the origin's scheme, so that default ports compare equal.
    return from.host === new URL(`${from.protocol}//${host}`).host;
  } catch {
    return false; // "null" (a sandboxed page, file://) and anything unparsable is foreign
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // not percent-encoded: as sent
    }
    return value === '' ? undefined : value;
  }
  return undefined;
}

/** Removes `name` from the request's query, so that `request.url` and `socket.url` never hold the token. */
function stripQueryParam(request: IncomingMessage, name: string): void {
  const url = request.url;
  const q = url?.indexOf('?') ?? -1;
  if (url === undefined || q === -1) return;
  const params = new URLSearchParams(url.slice(q + 1));
  if (!params.has(name)) return;
  params.delete(name);
  const rest = params.toString();
  request.url = url.slice(0, q) + (rest ? `?${rest}` : '');
}

function redact(text: string, token: string): string {
  return token.length > 0 ? text.split(token).join('[token]') : text;
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

function remoteOf(request: IncomingMessage): string {
  return `${request.socket.remoteAddress}:${request.socket.remotePort}`;
}

const positive = (name: string, value: number | undefined, fallback: number): number => positiveOption(name, value, fallback, 'a positive number of ms');
