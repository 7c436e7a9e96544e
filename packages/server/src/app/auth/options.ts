/**
 * Authentication for WebSocket routes (`app.ws(path, { auth }, handler)`, docs/server.md
 * "Authentication"): its options, their defaults and validation, and one route's settings
 * (RouteAuth). A token comes from the `Authorization: Bearer` header, a
 * `lifeline.auth.<base64url>` subprotocol entry, a query parameter or a cookie (tokens.ts),
 * and is verified (verify.ts) before the upgrade (upgrade.ts); or, where the route allows
 * it, from the first message after the upgrade (raw: first-message.ts; Lifeline mode:
 * `hello.auth`, hello.ts), and the handler runs only once it is verified. Lifeline sessions
 * refresh it with the reserved request `$auth` (refresh.ts); an `expiresAt` that passes
 * without a refresh closes the connection with 4401 (binding.ts).
 *
 * A token never reaches a log line: refusal reasons do not quote it, the query parameter
 * is removed from `request.url` (and so from `socket.url`), and a verify error's message is
 * logged with the token cut out.
 */
import type { IncomingMessage } from 'node:http';
import type { AuthSource } from '../../connection/identity.js';
import type { Socket } from '../../connection/socket.js';
import type { Logger } from '../../leaves/logger.js';
import { invalidOption, positiveOption } from '../../leaves/option-checks.js';
import type { OriginCheck } from '../handshake.js';

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

/** Authentication's defaults, per route; `DEFAULTS.auth`. */
export const AUTH_DEFAULTS = {
  /** Where tokens are looked for, in order (plus `cookie` when `auth.cookie` is set). */
  sources: ['header', 'protocol', 'query'],
  queryParam: 'access_token',
  /** How long `verify` may take, in ms. */
  verifyTimeout: 5_000,
  /** Source `message`: how long after the upgrade the token may take, in ms. */
  firstMessageTimeout: 5_000,
} as const;

const SOURCES: readonly AuthSource[] = ['header', 'protocol', 'query', 'cookie', 'message'];

/** One route's authentication settings, validated. */
export class RouteAuth {
  readonly sources: readonly AuthSource[];
  readonly queryParam: string;
  readonly cookie: string | undefined;
  readonly verifyTimeout: number;
  readonly firstMessageTimeout: number;
  readonly verify: AuthVerify;
  readonly allowedOrigins: OriginCheck | undefined;

  constructor(
    readonly path: string,
    options: AuthOptions,
    private readonly logger: () => Logger,
  ) {
    const name = `${path}: auth`;
    if (typeof options !== 'object' || options === null || typeof options.verify !== 'function') {
      throw invalidOption(`${name}.verify`, (options as AuthOptions | null)?.verify, 'a function verify(token, request) => identity | false');
    }
    const d = AUTH_DEFAULTS;
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

  get log(): Logger {
    return this.logger();
  }

  /** An info line about a connection (`auth-refused`, `auth-expired`, …). */
  logFor(event: string, socket: Socket, fields: Record<string, string | number | undefined>): void {
    const logger = this.logger();
    if (logger.enabled('info')) logger.log('info', event, { id: socket.id, sid: socket.sessionId, route: this.path, ...fields });
  }
}

const positive = (name: string, value: number | undefined, fallback: number): number => positiveOption(name, value, fallback, 'a positive number of ms');
