/**
 * Which options apply to a channel: `app.channel(pattern, options)` registers them for an
 * exact name, a pattern one segment deep (`prices:*`), or `*` for every channel; the most
 * specific one wins (exact, then the nearest pattern, then `*`, then the defaults).
 */
import { isChannelName, LifelineError, patternOf } from '@lifeline/protocol';

export type ChannelAction = 'subscribe' | 'publish' | 'presence';

export type SlowSubscriberPolicy = 'close' | 'drop-oldest' | 'drop-newest' | 'coalesce';

/**
 * Options of a channel. `S` is what `authorize` is given: the app's `ChannelOptions` is
 * `ChannelOptionsFor<Socket>` (connection/socket.ts); the channel layer itself knows no socket.
 */
export interface ChannelOptionsFor<S> {
  /** Publications kept for recovery. Default `{ size: 100, ttl: 300000 }` (5 min); size 0 keeps none. */
  history?: { size?: number; ttl?: number };
  /**
   * Presence: who is subscribed, and coalesced join/leave events. Default off; `true` or
   * `{ interval, maxListed }`: at most one `pr` per `interval` ms (default 1000), naming who
   * joined and left while the channel has at most `maxListed` members (default 100), and
   * only the count beyond.
   */
  presence?: boolean | { interval?: number; maxListed?: number };
  /** Clients may publish (`$publish`) on it. Default false: only server code and the HTTP API publish. */
  clientPublish?: boolean;
  /**
   * Decides each client action; may be async. Default: subscribe allowed, presence allowed
   * where enabled, publish where `clientPublish`. Returning false answers `LL_FORBIDDEN`.
   */
  authorize?(socket: S, channel: string, action: ChannelAction): boolean | Promise<boolean>;
  /** What to do with a subscriber that does not keep up (PROTOCOL.md §3.4). */
  slowSubscriber?: {
    /** Default `close` (1013; the client resumes and recovers from history). */
    policy?: SlowSubscriberPolicy;
    /** Unsent bytes on the connection above which publications queue instead of being written. Default 262144 (256 KiB). */
    bufferedBytes?: number;
    /** Publications queued per subscriber before the policy applies. Default 1000. */
    maxQueued?: number;
  };
}

export interface ResolvedChannelOptions {
  history: { size: number; ttl: number };
  presence: { interval: number; maxListed: number } | false;
  clientPublish: boolean;
  authorize: ChannelOptionsFor<unknown>['authorize'];
  slowSubscriber: { policy: SlowSubscriberPolicy; bufferedBytes: number; maxQueued: number };
}

export const CHANNEL_DEFAULTS = {
  history: { size: 100, ttl: 300_000 },
  presenceInterval: 1000,
  presenceMaxListed: 100,
  slowSubscriber: { policy: 'close', bufferedBytes: 256 * 1024, maxQueued: 1000 },
} as const;

const POLICIES: readonly SlowSubscriberPolicy[] = ['close', 'drop-oldest', 'drop-newest', 'coalesce'];

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min)) throw new LifelineError('LL_INVALID_OPTION', `Channel option ${name} is ${String(value)}; expected a number ≥ ${min}.`);
  return value;
}

export function resolveChannelOptions(options: ChannelOptionsFor<unknown> = {}): ResolvedChannelOptions {
  const policy = options.slowSubscriber?.policy ?? CHANNEL_DEFAULTS.slowSubscriber.policy;
  if (!POLICIES.includes(policy)) {
    throw new LifelineError('LL_INVALID_OPTION', `Channel option slowSubscriber.policy is ${String(policy)}; expected one of ${POLICIES.join(', ')}.`);
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function') {
    throw new LifelineError('LL_INVALID_OPTION', 'Channel option authorize must be a function (socket, channel, action) => boolean.');
  }
  const presence = options.presence;
  return {
    history: {
      size: count('history.size', options.history?.size, CHANNEL_DEFAULTS.history.size, 0),
      ttl: count('history.ttl', options.history?.ttl, CHANNEL_DEFAULTS.history.ttl, 1),
    },
    presence: presence
      ? {
          interval: count('presence.interval', typeof presence === 'object' ? presence.interval : undefined, CHANNEL_DEFAULTS.presenceInterval, 10),
          maxListed: count('presence.maxListed', typeof presence === 'object' ? presence.maxListed : undefined, CHANNEL_DEFAULTS.presenceMaxListed, 0),
        }
      : false,
    clientPublish: options.clientPublish === true,
    authorize: options.authorize,
    slowSubscriber: {
      policy,
      bufferedBytes: count('slowSubscriber.bufferedBytes', options.slowSubscriber?.bufferedBytes, CHANNEL_DEFAULTS.slowSubscriber.bufferedBytes, 0),
      maxQueued: count('slowSubscriber.maxQueued', options.slowSubscriber?.maxQueued, CHANNEL_DEFAULTS.slowSubscriber.maxQueued, 1),
    },
  };
}

/** The options table of one app. */
export class ChannelOptionsTable {
  private readonly byPattern = new Map<string, ResolvedChannelOptions>();
  private readonly defaults = resolveChannelOptions();

  set(pattern: string, options: ChannelOptionsFor<unknown>): void {
    if (pattern !== '*' && !isChannelName(pattern)) {
      throw new LifelineError('LL_INVALID_OPTION', `app.channel("${pattern}"): not a channel name, a pattern like "prices:*", or "*" (PROTOCOL.md §3.1).`);
    }
    this.byPattern.set(pattern, resolveChannelOptions(options));
  }

  /** The options for a channel or a pattern subscription. */
  get(channel: string): ResolvedChannelOptions {
    const exact = this.byPattern.get(channel);
    if (exact) return exact;
    // `a:b:c` → `a:b:*` → `a:*`; a pattern `a:b:*` itself → `a:*`.
    for (let name = channel.endsWith(':*') ? channel.slice(0, -2) : channel; ; ) {
      const pattern = patternOf(name);
      if (pattern === undefined) break;
      const found = this.byPattern.get(pattern);
      if (found) return found;
      name = pattern.slice(0, -2);
    }
    return this.byPattern.get('*') ?? this.defaults;
  }
}
