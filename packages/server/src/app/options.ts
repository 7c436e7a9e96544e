/** Every option of an app, its default (DEFAULTS) and its validation. */
import { DEFAULT_DECODE_LIMITS, resolveDecodeLimits, type DecodeLimits } from '@lifeline/protocol';
import type { Broker } from '../channels/broker.js';
import type { SlowConsumerPolicy } from '../connection/socket.js';
import { createJsonLogger, isLogLevel, type Logger, type LogLevel } from '../leaves/logger.js';
import { invalidOption, numberOption, positiveOption } from '../leaves/option-checks.js';
import { resolveRateLimit, type RateLimitOptions, type ResolvedRateLimit } from '../leaves/rate-limit.js';
import { LIFELINE_DEFAULTS } from '../lifeline/options.js';
import type { SharedSessionStore } from '../lifeline/session-store.js';
import type { RuntimeChoice } from '../transport/native.js';
import { AUTH_DEFAULTS } from './auth/options.js';
import { resolveTrustProxy, type ClientAddressFunction } from './client-address.js';
import type { OriginCheck } from './handshake.js';

export type { OriginCheck } from './handshake.js';
export type { SlowConsumerPolicy } from '../connection/socket.js';
export type { RuntimeChoice } from '../transport/native.js';
export type { LifelineFormat, LifelineOptions, ResolvedLifelineOptions } from '../lifeline/options.js';


export interface HeartbeatOptions {
  /** Ping a connection after this long without an inbound frame, in ms. Default 25,000. 0 turns the heartbeat off. */
  interval?: number;
  /** Terminate a connection after this long without an inbound frame, in ms. Default 45,000; must exceed `interval`. */
  timeout?: number;
}

export interface ShutdownOptions {
  /** Close code sent to every client: 1012 (service restart, default) or 1001 (going away). */
  code?: 1001 | 1012;
  /** Clients are told to come back after a random delay in [0, window) ms. Default 10,000. */
  retryWindow?: number;
  /** How long to wait for buffered messages to reach clients before cutting them off, in ms. Default 10,000. */
  drainTimeout?: number;
  /**
   * With a shared session store and other nodes up: the resumes per second each other node is
   * expected to take. Sessions handed off to them are told to come back within
   * `sessions / (other nodes × handOffRate)` s (at most `retryWindow`) instead of `retryWindow`:
   * they can resume at once, spread only as much as the other nodes need. Default 500.
   */
  handOffRate?: number;
}

export interface AppOptions {
  /** Largest message accepted, in bytes; a bigger one closes the connection with 1009. Default 1 MiB. */
  maxPayload?: number;
  /**
   * The server `listen()` starts: `auto` (default) the native one of the runtime the process
   * runs on (Node: `node:http` with `ws`; Bun: `Bun.serve`; Deno: `Deno.serve`), or `node`
   * (on Bun or Deno: their `node:http` compatibility, e.g. to use `attach()`). docs/server.md, "Runtimes".
   */
  runtime?: RuntimeChoice;
  /** Time for a TCP connection to deliver a complete upgrade request, in ms. Default 10,000. */
  handshakeTimeout?: number;
  /** Open WebSocket connections allowed; the next upgrade is answered 503. Default 50,000. */
  maxConnections?: number;
  /** Origins allowed to connect (exact `scheme://host[:port]`), or a function. Default: any origin. */
  allowedOrigins?: OriginCheck;
  /** Unsent bytes one socket may hold before `slowConsumer` applies. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** `close` (default): close with 1013; `drop`: discard the message, count it and emit `drop`. */
  slowConsumer?: SlowConsumerPolicy;
  /** Protocol-level heartbeat, one sweep timer for all connections. `false` turns it off. */
  heartbeat?: HeartbeatOptions | false;
  shutdown?: ShutdownOptions;
  /** A level for the built-in JSON-lines logger on stderr (default `warn`), or your own logger. */
  logger?: LogLevel | Logger;
  /** The channel engine: default an in-memory broker (one process); `@lifeline/redis` for many. */
  broker?: Broker;
  /** Channels one connection may subscribe to (`LL_TOO_MANY_CHANNELS` beyond). Default 100. */
  maxChannels?: number;
  /**
   * Lifeline sessions shared with every process using the same store (`@lifeline/redis`'s
   * `createRedisSessionStore`), so that a client resumes on any node. Default: none (each
   * process keeps its sessions in memory). The app does not close it.
   */
  sessionStore?: SharedSessionStore;
  /**
   * Inbound rate limits per connection (messages/s and bytes/s, each with a burst); over a
   * limit a raw connection is closed with 1008 (or its message dropped), a Lifeline link
   * stops reading until it is within the limit again. `false` turns them off. Defaults:
   * 1,000 messages/s (burst 2,000), 2 MiB/s (burst 4 MiB, at least maxPayload), `close`.
   */
  rateLimit?: RateLimitOptions | false;
  /** Open connections per client address (IPv6: per /64); the next upgrade is answered 429. Default 1,000; 0: no limit. */
  maxConnectionsPerIp?: number;
  /**
   * Behind reverse proxies: `true` (one proxy) or the number of proxies in front, whose
   * `X-Forwarded-For` entries name the client. Default `false`: the TCP peer is the client.
   */
  trustProxy?: boolean | number;
  /** The client's address from the upgrade request (e.g. a CDN's header); undefined falls back to trustProxy / the TCP peer. */
  clientAddress?: ClientAddressFunction;
  /**
   * Structural bounds on JSON and MessagePack a peer sends (Lifeline envelopes, `Message.json()`,
   * `POST /api/publish` bodies) and on publications: `maxDepth` (64 levels), `maxItems` (10,000
   * values in all) and `maxKeyLength` (1,024 characters). Over one: a Lifeline connection gets
   * an `error` envelope and close 1007, `json()` throws `LL_INVALID_JSON`, the HTTP API answers
   * 400 (docs/server.md "Limits").
   */
  limits?: Partial<DecodeLimits>;
}

export interface ResolvedOptions {
  maxPayload: number;
  runtime: RuntimeChoice;
  handshakeTimeout: number;
  maxConnections: number;
  allowedOrigins: OriginCheck | undefined;
  maxBufferedBytes: number;
  slowConsumer: SlowConsumerPolicy;
  heartbeat: { interval: number; timeout: number } | false;
  shutdown: Required<ShutdownOptions>;
  logger: Logger;
  maxChannels: number;
  rateLimit: ResolvedRateLimit | false;
  maxConnectionsPerIp: number;
  trustProxy: number;
  clientAddress: ClientAddressFunction | undefined;
  limits: DecodeLimits;
}

/** Every default in one place; README and docs/server.md quote this table. */
export const DEFAULTS = {
  maxPayload: 1024 * 1024,
  runtime: 'auto',
  handshakeTimeout: 10_000,
  maxConnections: 50_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  slowConsumer: 'close',
  heartbeat: { interval: 25_000, timeout: 45_000 },
  shutdown: { code: 1012, retryWindow: 10_000, drainTimeout: 10_000, handOffRate: 500 },
  logLevel: 'warn',
  maxChannels: 100,
  /** Inbound, per connection; bursts default to `burstSeconds` of the rate (the byte burst to at least maxPayload). */
  rateLimit: { messagesPerSecond: 1000, bytesPerSecond: 2 * 1024 * 1024, action: 'close', burstSeconds: 2 },
  maxConnectionsPerIp: 1000,
  /** Structural bounds on what peers send (`limits`): nesting depth, values in all, key length. */
  limits: DEFAULT_DECODE_LIMITS,
  /** Lifeline mode, per route (`app.ws(path, { lifeline: true }, handler)`). */
  lifeline: LIFELINE_DEFAULTS,
  /** Authentication, per route (`app.ws(path, { auth: { verify } }, handler)`; app/auth). */
  auth: AUTH_DEFAULTS,
} as const;

export function resolveOptions(options: AppOptions = {}): ResolvedOptions {
  const heartbeat = resolveHeartbeat(options.heartbeat);
  const shutdown = {
    code: options.shutdown?.code ?? DEFAULTS.shutdown.code,
    retryWindow: nonNegative('shutdown.retryWindow', options.shutdown?.retryWindow, DEFAULTS.shutdown.retryWindow),
    drainTimeout: nonNegative('shutdown.drainTimeout', options.shutdown?.drainTimeout, DEFAULTS.shutdown.drainTimeout),
    handOffRate: positiveOption('shutdown.handOffRate', options.shutdown?.handOffRate, DEFAULTS.shutdown.handOffRate, 'a number of resumes per second > 0'),
  };
  if (shutdown.code !== 1001 && shutdown.code !== 1012) {
    throw invalidOption('shutdown.code', shutdown.code, '1012 (service restart) or 1001 (going away)');
  }
  const slowConsumer = options.slowConsumer ?? DEFAULTS.slowConsumer;
  if (slowConsumer !== 'close' && slowConsumer !== 'drop') {
    throw invalidOption('slowConsumer', slowConsumer, '"close" or "drop"');
  }
  const origins = options.allowedOrigins;
  if (origins !== undefined && typeof origins !== 'function' && !Array.isArray(origins)) {
    throw invalidOption('allowedOrigins', origins, 'an array of origins such as ["https://example.com"] or a function');
  }
  const runtime = options.runtime ?? DEFAULTS.runtime;
  if (!(['auto', 'node', 'bun', 'deno'] as unknown[]).includes(runtime)) throw invalidOption('runtime', runtime, '"auto", "node", "bun" or "deno"');
  return {
    maxPayload: positiveOption('maxPayload', options.maxPayload, DEFAULTS.maxPayload),
    runtime,
    handshakeTimeout: positiveOption('handshakeTimeout', options.handshakeTimeout, DEFAULTS.handshakeTimeout),
    maxConnections: positiveOption('maxConnections', options.maxConnections, DEFAULTS.maxConnections),
    allowedOrigins: origins,
    maxBufferedBytes: positiveOption('maxBufferedBytes', options.maxBufferedBytes, DEFAULTS.maxBufferedBytes),
    slowConsumer,
    heartbeat,
    shutdown,
    logger: resolveLogger(options.logger),
    maxChannels: positiveOption('maxChannels', options.maxChannels, DEFAULTS.maxChannels),
    rateLimit: resolveRateLimit(options.rateLimit, options.maxPayload ?? DEFAULTS.maxPayload, DEFAULTS.rateLimit),
    maxConnectionsPerIp: wholeNumber('maxConnectionsPerIp', options.maxConnectionsPerIp, DEFAULTS.maxConnectionsPerIp),
    trustProxy: resolveTrustProxy(options.trustProxy),
    clientAddress: resolveClientAddress(options.clientAddress),
    limits: resolveDecodeLimits(options.limits, (name, value) => {
      throw invalidOption(name, value, name === 'limits' ? 'an object { maxDepth?, maxItems?, maxKeyLength? }' : 'a whole number ≥ 1');
    }),
  };
}

function resolveHeartbeat(value: AppOptions['heartbeat']): ResolvedOptions['heartbeat'] {
  if (value === false) return false;
  const interval = nonNegative('heartbeat.interval', value?.interval, DEFAULTS.heartbeat.interval);
  if (interval === 0) return false;
  const timeout = positiveOption(
    'heartbeat.timeout',
    value?.timeout,
    // Keep the default grace (timeout − interval) when only the interval is changed.
    value?.interval === undefined ? DEFAULTS.heartbeat.timeout : interval + (DEFAULTS.heartbeat.timeout - DEFAULTS.heartbeat.interval),
  );
  if (timeout <= interval) {
    throw invalidOption('heartbeat.timeout', timeout, `more than heartbeat.interval (${interval} ms), so a ping has time to be answered`);
  }
  return { interval, timeout };
}

function resolveLogger(value: AppOptions['logger']): Logger {
  if (value === undefined) return createJsonLogger(DEFAULTS.logLevel);
  if (isLogLevel(value)) return createJsonLogger(value);
  if (typeof value === 'object' && value !== null && typeof value.log === 'function' && typeof value.enabled === 'function') {
    return value;
  }
  throw invalidOption('logger', value, 'one of silent, error, warn, info, debug, or an object with log() and enabled()');
}

function wholeNumber(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw invalidOption(name, value, 'a whole number ≥ 0 (0: no limit)');
  return value;
}

function resolveClientAddress(value: ClientAddressFunction | undefined): ClientAddressFunction | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalidOption('clientAddress', typeof value, 'a function (request) => address');
  return value;
}

const nonNegative = (name: string, value: number | undefined, fallback: number): number => numberOption(name, value, fallback, 0, 'a number ≥ 0');

