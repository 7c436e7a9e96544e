import { LifelineError } from '@lifeline/protocol';
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { Gate, type GateOptions } from './gate.js';

/**
 * The two connections (commands, and subscriber mode) that the broker and the session store
 * each open, the options they share, and how they are opened, probed and closed.
 */

/** Either kind of ioredis client; both speak every command used here. */
export type RedisConnection = Redis | Cluster;

/** Options of every @lifeline/redis component that talks to Redis. */
export interface RedisConnectionOptions {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://…`. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** ioredis options (host, port, password, tls, connectTimeout, …), applied over `url`. The options of `connectionOptions()` always win. */
  redis?: RedisOptions;
  /**
   * Makes the two connections yourself: Redis Cluster, Sentinel, anything ioredis connects
   * to. Give each client the options of `connectionOptions()` (docs/redis.md explains why).
   */
  connect?: (role: 'commands' | 'subscriber') => RedisConnection;
  /** Prefix of every key and pub/sub channel. Default `lifeline:`. */
  prefix?: string;
  /** Operations waiting while Redis is unreachable. Default `{ maxQueued: 10000, timeout: 2000 }` (ms). */
  offlineQueue?: { maxQueued?: number; timeout?: number };
  /** An operation sent to Redis and not answered within this many ms fails `LL_UNAVAILABLE`. Default 2000. */
  commandTimeout?: number;
  /**
   * Both connections are probed with PING this often, in ms; one unanswered within
   * `commandTimeout` is reconnected (a Redis that hangs without closing its connections).
   * 0 turns it off. Default 5000.
   */
  pingInterval?: number;
}

export const REDIS_CONNECTION_DEFAULTS = {
  url: 'redis://127.0.0.1:6379',
  prefix: 'lifeline:',
  offlineQueue: { maxQueued: 10_000, timeout: 2_000 },
  commandTimeout: 2_000,
  pingInterval: 5_000,
} as const;

/**
 * What the broker needs from each ioredis client. Every one of these is about never losing
 * or repeating something silently:
 * - enableOfflineQueue false, maxRetriesPerRequest 0: nothing waits inside ioredis, where
 *   it is unbounded; the broker's own queue (gate.ts) bounds the wait;
 * - autoResendUnfulfilledCommands false: a publish in flight when the connection dropped
 *   may have run; sending it again would publish it twice. It fails instead;
 * - autoResubscribe false: the broker re-subscribes itself, so that it knows when the
 *   subscription is live again and can read what pub/sub missed meanwhile;
 * - a short retry delay (≤ 1 s): a Redis restart costs a second of publishing, not five.
 */
export function connectionOptions(commandTimeout: number = REDIS_CONNECTION_DEFAULTS.commandTimeout): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    commandTimeout,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
  };
}

/** What opening the connections resolved: validated options, the two clients, and the bounds of the wait for them. */
export interface OpenedConnections {
  readonly prefix: string;
  readonly commandTimeout: number;
  readonly pingInterval: number;
  readonly queue: Pick<GateOptions, 'maxQueued' | 'timeout'>;
  readonly commands: RedisConnection;
  readonly subscriber: RedisConnection;
}

/** Validates the shared options and opens the two connections (with `connect`, or from `url`). */
export function openConnections(options: RedisConnectionOptions): OpenedConnections {
  const d = REDIS_CONNECTION_DEFAULTS;
  const commandTimeout = positive('commandTimeout', options.commandTimeout, d.commandTimeout);
  const pingInterval = positive('pingInterval', options.pingInterval, d.pingInterval, 0);
  const queue = {
    maxQueued: positive('offlineQueue.maxQueued', options.offlineQueue?.maxQueued, d.offlineQueue.maxQueued, 0),
    timeout: positive('offlineQueue.timeout', options.offlineQueue?.timeout, d.offlineQueue.timeout, 0),
  };
  const connect = options.connect ?? (() => new Redis(options.url ?? d.url, { ...options.redis, ...connectionOptions(commandTimeout), lazyConnect: false }));
  return { prefix: options.prefix ?? d.prefix, commandTimeout, pingInterval, queue, commands: connect('commands'), subscriber: connect('subscriber') };
}

/** A gate in front of `connection` (gate.ts), waiting while it is not writable. */
export function gateFor(connection: RedisConnection, queue: OpenedConnections['queue'], what: string, ready: () => boolean = () => isWritable(connection)): Gate {
  return new Gate({ ...queue, what, notSent }, ready);
}

export function isWritable(connection: RedisConnection): boolean {
  if (connection.status !== 'ready') return false;
  const stream = (connection as { stream?: { writable?: boolean } }).stream;
  return stream?.writable !== false;
}

/** ioredis's words for a command it refused without sending (see isWritable); a command that left never fails this way. */
export function notSent(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("Stream isn't writeable");
}

/**
 * Probes `connections` with PING every `interval` ms (0: never): one unanswered within the
 * command timeout looks open but is not (a Redis that hangs without closing its
 * connections), so it is reconnected, and `report` says why. Returns the timer, for close().
 */
export function probeConnections(connections: readonly RedisConnection[], interval: number, commandTimeout: number, closed: () => boolean, report: (error: Error) => void): NodeJS.Timeout | undefined {
  if (interval === 0) return undefined;
  const probe = (connection: RedisConnection) => {
    if (connection.status !== 'ready') return;
    connection.ping().catch((error: Error) => {
      if (closed() || connection.status !== 'ready') return;
      report(new Error(`Redis did not answer PING within ${commandTimeout} ms; reconnecting: ${error.message}`));
      connection.disconnect(true);
    });
  };
  const timer = setInterval(() => connections.forEach(probe), interval);
  timer.unref();
  return timer;
}

export async function quit(connection: RedisConnection): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  await Promise.race([connection.quit().catch(() => {}), new Promise<void>((r) => setTimeout(r, 500).unref())]);
  connection.disconnect();
}

export function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min)) {
    throw new LifelineError('LL_INVALID_OPTION', `@lifeline/redis option ${name} is ${String(value)}; expected a number ≥ ${min}.`);
  }
  return value;
}

