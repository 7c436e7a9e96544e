import { invalidOption, numberOption } from './option-checks.js';
import { RUNNING_ON } from './runtime.js';
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers';

/**
 * Per-connection inbound rate limits: messages per second and bytes per second, each a
 * token bucket with a burst (docs/server.md "Limits", ARCHITECTURE.md "Errors and limits").
 *
 * Each bucket is kept as one number per connection, the GCRA form of a token bucket: the
 * time at which the bucket will be full again ("theoretical arrival time"). A message
 * moves it forward by its cost; it conforms when that time is at most `burst` worth of
 * rate ahead of now. Refill is therefore computed lazily from the clock, never by a
 * timer, and an idle connection costs two numbers. The clock is `performance.now()`:
 * monotonic, so a wall-clock step cannot lock a connection out.
 */

/** What happens to a raw connection's message over a limit. Lifeline links are throttled either way (see InboundLimit). */
export type RateLimitAction = 'close' | 'drop';

export interface RateLimitOptions {
  /** Messages per second one connection may send. Default 1,000; 0: no limit on the message count. */
  messagesPerSecond?: number;
  /** Messages a connection may send at once after a quiet spell. Default: two seconds' worth (2,000). */
  messageBurst?: number;
  /** Payload bytes per second one connection may send. Default 2 MiB; 0: no limit on bytes. */
  bytesPerSecond?: number;
  /**
   * Payload bytes a connection may send at once. Default: two seconds' worth (4 MiB), and at
   * least `maxPayload` (the app's or a route's). Set explicitly, it must be at least
   * `maxPayload`, or a message of the largest allowed size could never pass.
   */
  byteBurst?: number;
  /**
   * Raw connections: `close` (default) closes with 1008 and a reason naming the limit;
   * `drop` discards the message, counts it in `stats.rateLimited` and emits `drop` with
   * reason `rate-limit`. Lifeline links are never closed or dropped for rate: they stop
   * reading until the bucket refills (TCP backpressure), because a dropped numbered
   * envelope would break the sequence and a 1008 would end the client for good.
   */
  action?: RateLimitAction;
}

export interface ResolvedRateLimit {
  messagesPerSecond: number;
  messageBurst: number;
  bytesPerSecond: number;
  byteBurst: number;
  /** byteBurst was set by the application (so a route's larger maxPayload is an error, not a reason to raise it). */
  byteBurstExplicit: boolean;
  action: RateLimitAction;
}

export interface RateLimitDefaults {
  readonly messagesPerSecond: number;
  readonly bytesPerSecond: number;
  readonly action: RateLimitAction;
  /** Bursts default to this many seconds of the rate. */
  readonly burstSeconds: number;
}

/** Validates `rateLimit` (LL_INVALID_OPTION naming the field); `false` turns both limits off. */
export function resolveRateLimit(value: RateLimitOptions | false | undefined, maxPayload: number, defaults: RateLimitDefaults): ResolvedRateLimit | false {
  if (value === false) return false;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw invalidOption('rateLimit', value, 'false or an object such as { messagesPerSecond: 1000, bytesPerSecond: 2097152 }');
  }
  const o = value ?? {};
  const action = o.action ?? defaults.action;
  if (action !== 'close' && action !== 'drop') throw invalidOption('rateLimit.action', action, '"close" or "drop"');
  const messagesPerSecond = numberOption('rateLimit.messagesPerSecond', o.messagesPerSecond, defaults.messagesPerSecond, 0, 'a number ≥ 0 (0: no limit)');
  const bytesPerSecond = numberOption('rateLimit.bytesPerSecond', o.bytesPerSecond, defaults.bytesPerSecond, 0, 'a number ≥ 0 (0: no limit)');
  const messageBurst = numberOption(
    'rateLimit.messageBurst',
    o.messageBurst,
    Math.max(1, Math.ceil(messagesPerSecond * defaults.burstSeconds)),
    1,
    'a number ≥ 1',
  );
  const byteBurstExplicit = o.byteBurst !== undefined;
  const byteBurst = numberOption('rateLimit.byteBurst', o.byteBurst, Math.max(maxPayload, Math.ceil(bytesPerSecond * defaults.burstSeconds)), 1, 'a number ≥ 1');
  if (bytesPerSecond > 0 && byteBurst < maxPayload) {
    throw invalidOption('rateLimit.byteBurst', byteBurst, `at least maxPayload (${maxPayload}), or a message of the largest allowed size could never pass`);
  }
  if (messagesPerSecond === 0 && bytesPerSecond === 0) return false;
  return { messagesPerSecond, messageBurst, bytesPerSecond, byteBurst, byteBurstExplicit, action };
}

/** The per-connection state an InboundLimit keeps: when each bucket is full again, in `performance.now()` ms. */
export interface RateState {
  rlMessagesAt: number;
  rlBytesAt: number;
}

/** Which limit a message went over. */
export const OVER_MESSAGES = 1;
export const OVER_BYTES = 2;
export type RateVerdict = 0 | typeof OVER_MESSAGES | typeof OVER_BYTES;

/**
 * The clock, read once per synchronous run: every message `ws` parses out of one TCP chunk
 * (and everything else done in the same turn) shares one reading, reset by a microtask.
 * A clock read costs as much as the rest of the check. A new connection's state is 0,
 * "full since the process started", so its buckets start full.
 *
 * On Bun and Deno every WebSocket message comes in a callback of its own, with the
 * microtasks run after each, so a microtask reset would read the clock (and queue a
 * microtask) once per message: on Bun that was about a fifth of the echo server's CPU
 * (bench/README.md "Bun and Deno: where the gap is"). There the reading lasts until the
 * event loop's next turn (setImmediate), shared by every message of the turn.
 *
 * A stale reading (at most one turn old) makes the check stricter: a message conforms
 * under it only if it does under the true time. What it stores is at most the staleness
 * behind the true state, so the bucket refills by at most one turn's worth of time early.
 */
const resetAfterTurn = RUNNING_ON !== 'node';
let clockReading = -1;
function now(): number {
  if (clockReading < 0) {
    clockReading = performance.now();
    if (resetAfterTurn) setImmediate(forgetClockReading);
    else queueMicrotask(forgetClockReading);
  }
  return clockReading;
}
function forgetClockReading(): void {
  clockReading = -1;
}
/** Room for rounding: `burst` additions of the interval must still fit the window. */
const EPSILON_MS = 1e-6;

/**
 * One route's limits, shared by all its connections; the state lives on each connection
 * (RateState). Two methods for the two policies:
 *
 * - `admit` (raw connections): the message is charged only if it conforms to both limits;
 *   otherwise nothing is charged and the caller closes or drops.
 * - `charge` (Lifeline links): the envelope is always charged (it must be processed: its
 *   number is in the sequence) and the answer is how long to stop reading; 0 while the
 *   connection is within its limits.
 */
export class InboundLimit {
  /** ms per message, and per byte; 0 when that limit is off. */
  private readonly messageInterval: number;
  private readonly byteInterval: number;
  /** How far ahead of now a bucket may run: burst × interval (Infinity when off). */
  private readonly messageWindow: number;
  private readonly byteWindow: number;
  readonly action: RateLimitAction;
  /** Close reasons, made once. */
  readonly messagesReason: string;
  readonly bytesReason: string;

  constructor(readonly options: ResolvedRateLimit) {
    const { messagesPerSecond, bytesPerSecond, messageBurst, byteBurst } = options;
    this.messageInterval = messagesPerSecond > 0 ? 1000 / messagesPerSecond : 0;
    this.byteInterval = bytesPerSecond > 0 ? 1000 / bytesPerSecond : 0;
    this.messageWindow = messagesPerSecond > 0 ? messageBurst * this.messageInterval + EPSILON_MS : Infinity;
    this.byteWindow = bytesPerSecond > 0 ? byteBurst * this.byteInterval + EPSILON_MS : Infinity;
    this.action = options.action;
    this.messagesReason = `rate limit: over ${messagesPerSecond} messages/s`;
    this.bytesReason = `rate limit: over ${bytesPerSecond} bytes/s`;
  }

  /** Charges one message of `size` bytes if it conforms to both limits; else charges nothing and says which it is over. */
  admit(state: RateState, size: number): RateVerdict {
    const t = now();
    const m = (state.rlMessagesAt > t ? state.rlMessagesAt : t) + this.messageInterval;
    if (m - t > this.messageWindow) return OVER_MESSAGES;
    const b = (state.rlBytesAt > t ? state.rlBytesAt : t) + size * this.byteInterval;
    if (b - t > this.byteWindow) return OVER_BYTES;
    state.rlMessagesAt = m;
    state.rlBytesAt = b;
    return 0;
  }

  /**
   * Charges one message of `size` bytes whatever it costs. Returns 0 while the connection is
   * within its limits; over one, the ms to stop reading: until the bucket is half full again,
   * so that a connection held at its limit reads in runs of half a burst (one timer per run,
   * not one per message).
   */
  charge(state: RateState, size: number): number {
    const t = now();
    const m = (state.rlMessagesAt > t ? state.rlMessagesAt : t) + this.messageInterval;
    const b = (state.rlBytesAt > t ? state.rlBytesAt : t) + size * this.byteInterval;
    state.rlMessagesAt = m;
    state.rlBytesAt = b;
    if (m - t <= this.messageWindow && b - t <= this.byteWindow) return 0;
    return this.resumeDelay(state, t);
  }

  /** ms until a throttled connection's buckets are half full again (0: they are). */
  resumeDelay(state: RateState, t = now()): number {
    const wait = Math.max(state.rlMessagesAt - this.messageWindow / 2, state.rlBytesAt - this.byteWindow / 2) - t;
    return wait > 0 ? Math.ceil(wait) : 0;
  }

  /** The reason naming the limit a charged connection is over now (its bytes, else its messages). */
  reasonOver(state: RateState): string {
    return state.rlBytesAt - now() > this.byteWindow ? this.bytesReason : this.messagesReason;
  }

  /** Which limit the reason of a close or a drop names. */
  reasonFor(verdict: RateVerdict): string {
    return verdict === OVER_BYTES ? this.bytesReason : this.messagesReason;
  }
}
