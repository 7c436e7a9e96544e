import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isChannelPattern, LifelineError, patternOf, type ChannelPosition } from '@lifeline/protocol';
import type { Broker, HistoryResult, PresenceEntry, PresenceEvent, Publication, PublicationPayload, PublishOptions } from '@lifeline/server';
import { decodeBody, decodeMessage, encodeBody } from './codec.js';
import { gateFor, isWritable, openConnections, positive, probeConnections, quit, REDIS_CONNECTION_DEFAULTS, type RedisConnection, type RedisConnectionOptions } from './connections.js';
import { type Gate, unavailable } from './gate.js';
import { RedisPresence } from './presence.js';
import { PRESENCE_LUA, PRESENCE_READ_LUA, PUBLISH_LUA, READ_LUA } from './scripts.js';

export interface RedisBrokerOptions extends RedisConnectionOptions {
  /** How long a channel's offset and epoch outlive its last publication, in ms (at least its history ttl). Default 86400000 (24 h). */
  positionTtl?: number;
  /**
   * How long this node's presence entries outlive its last heartbeat, in ms; heartbeats go
   * every third of it. A node that dies has its members leave on the others within
   * `presenceTtl × 4/3` plus the channel's presence interval. Default 15000.
   */
  presenceTtl?: number;
}

export const REDIS_BROKER_DEFAULTS = {
  ...REDIS_CONNECTION_DEFAULTS,
  positionTtl: 86_400_000,
  presenceTtl: 15_000,
} as const;

/** A channel this process subscribes to by name (not by pattern). */
interface ExactChannel {
  wanted: boolean;
  /** The last publication handed to the hub: once per process, and where a catch-up starts. */
  epoch: string | undefined;
  offset: number;
  /** The channel's position just before this process subscribed: where a catch-up starts if nothing was delivered yet. */
  floor: ChannelPosition | undefined;
  /** Live publications received while the catch-up reads the stream; delivered after it. */
  held: Publication[] | undefined;
}

/** The Lua scripts as ioredis commands (EVALSHA, falling back to EVAL when Redis lacks the script). */
interface ScriptCommands {
  lifelinePublish(meta: string, stream: string, ...args: (string | number | Buffer)[]): Promise<[number, string]>;
  lifelineReadBuffer(meta: string, stream: string, ...args: (string | number)[]): Promise<[number, Buffer, number, [Buffer, Buffer[]][]]>;
  lifelinePresence(members: string, leases: string, ...args: (string | number)[]): Promise<number>;
  lifelinePresenceRead(members: string, leases: string, ...args: string[]): Promise<string[]>;
}

export interface RedisBrokerEvents {
  /** A connection problem or a failed catch-up; emitted only when someone listens. */
  error: [error: Error];
  /** The subscriber connection came back and the channel's missed publications were read from its stream. */
  'catch-up': [event: { channel: string; recovered: number }];
}

/**
 * Channels across processes through Redis (docs/redis.md): a Lua script assigns offsets,
 * keeps history in a stream and publishes through pub/sub; one subscriber connection per
 * process receives what its connections subscribe to, once per process.
 */
export class RedisBroker extends EventEmitter<RedisBrokerEvents> implements Broker {
  readonly commands: RedisConnection;
  readonly subscriber: RedisConnection;
  readonly prefix: string;
  /** This process among the nodes sharing presence: random, new at every start. */
  readonly nodeId = randomBytes(9).toString('base64url');
  private readonly scripts: ScriptCommands;
  private readonly presence: RedisPresence;
  private handler: (publication: Publication) => void = () => {};
  private readonly exact = new Map<string, ExactChannel>();
  private readonly patterns = new Set<string>();
  private readonly commandGate: Gate;
  private readonly subscriberGate: Gate;
  /** The subscriber connection is ready and subscribed to everything wanted. */
  private subscriberLive = false;
  private subscriberConnectedBefore = false;
  /** Counts the subscriber connection's comebacks: a catch-up of an older one stops. */
  private generation = 0;
  private readonly pingTimer: NodeJS.Timeout | undefined;
  private readonly positionTtl: number;
  private readonly commandTimeout: number;
  private closed = false;
  /** Epochs: this process's random prefix and a counter, unique without asking anyone. */
  private readonly epochPrefix = randomBytes(9).toString('base64url');
  private epochCounter = 0;

  constructor(options: RedisBrokerOptions = {}) {
    super();
    const { prefix, commandTimeout, pingInterval, queue, commands, subscriber } = openConnections(options);
    this.prefix = prefix;
    this.commandTimeout = commandTimeout;
    this.positionTtl = positive('positionTtl', options.positionTtl, REDIS_BROKER_DEFAULTS.positionTtl);
    this.commands = commands;
    this.subscriber = subscriber;
    this.commands.defineCommand('lifelinePublish', { numberOfKeys: 2, lua: PUBLISH_LUA });
    this.commands.defineCommand('lifelineRead', { numberOfKeys: 2, lua: READ_LUA });
    this.commands.defineCommand('lifelinePresence', { numberOfKeys: 2, lua: PRESENCE_LUA });
    this.commands.defineCommand('lifelinePresenceRead', { numberOfKeys: 2, lua: PRESENCE_READ_LUA });
    this.scripts = this.commands as unknown as ScriptCommands;
    const presenceTtl = positive('presenceTtl', options.presenceTtl, REDIS_BROKER_DEFAULTS.presenceTtl, 30);
    this.presence = new RedisPresence({
      nodeId: this.nodeId,
      ttl: presenceTtl,
      markerTimeout: this.commandTimeout,
      ready: () => !this.closed && isWritable(this.commands),
      write: (channel, mode, payload, joins, rest) =>
        this.commandGate.pass(() =>
          this.scripts.lifelinePresence(
            this.key(channel, 'pm'),
            this.key(channel, 'pn'),
            this.nodeId,
            mode,
            presenceTtl,
            this.pubsubName(channel),
            channel,
            payload,
            joins,
            ...rest,
          ),
        ),
      read: (channel, token) =>
        this.commandGate.pass(() =>
          this.scripts.lifelinePresenceRead(this.key(channel, 'pm'), this.key(channel, 'pn'), this.pubsubName(channel), channel, this.nodeId, token),
        ),
      report: (error) => this.report(error),
    });

    this.commandGate = gateFor(commands, queue, 'Redis (commands connection)');
    this.subscriberGate = gateFor(subscriber, queue, 'Redis (subscriber connection)', () => this.subscriberLive && isWritable(subscriber));
    this.commands.on('ready', () => {
      this.commandGate.open();
      this.presence.resume();
    });
    this.commands.on('error', (error: Error) => this.report(error));
    this.subscriber.on('ready', () => void this.resubscribe());
    this.subscriber.on('close', () => {
      this.subscriberLive = false;
    });
    this.subscriber.on('error', (error: Error) => this.report(error));
    this.subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.receive(message));
    this.pingTimer = probeConnections([commands, subscriber], pingInterval, commandTimeout, () => this.closed, (error) => this.report(error));
  }

  /** Both connections are up and the subscriber is subscribed: what readiness (`GET /readyz`) asks. */
  available(): boolean {
    return !this.closed && this.commands.status === 'ready' && this.subscriberLive;
  }

  /** Resolves once both connections are ready (or rejects LL_UNAVAILABLE after `offlineQueue.timeout`). */
  async ready(): Promise<void> {
    await this.commandGate.pass(() => Promise.resolve());
    await this.subscriberGate.pass(() => Promise.resolve());
  }

  onPublication(handler: (publication: Publication) => void): void {
    this.handler = handler;
  }

  publish(channel: string, payload: PublicationPayload, options: PublishOptions): Promise<ChannelPosition> {
    const { size, ttl } = options.history;
    const historyTtl = Number.isFinite(ttl) ? Math.max(1, Math.ceil(ttl)) : 0;
    const metaTtl = historyTtl === 0 ? 0 : Math.max(historyTtl, this.positionTtl);
    const pattern = patternOf(channel);
    const body = encodeBody(channel, payload, options.key);
    // What this process has seen of the channel lets the script notice offsets going backwards.
    const seen = this.exact.get(channel);
    return this.commandGate
      .pass(() =>
        this.scripts.lifelinePublish(
          this.key(channel, 'm'),
          this.key(channel, 's'),
          this.newEpoch(),
          Number.isFinite(size) ? Math.max(0, Math.floor(size)) : Number.MAX_SAFE_INTEGER,
          historyTtl,
          metaTtl,
          this.pubsubName(channel),
          pattern === undefined ? '' : this.pubsubName(pattern),
          body,
          seen?.epoch ?? '',
          seen?.offset ?? 0,
        ),
      )
      .then(
        ([offset, epoch]) => ({ offset, epoch }),
        (error: unknown) => Promise.reject(this.failure('publish', channel, error)),
      );
  }

  async subscribe(channel: string): Promise<void> {
    const name = this.pubsubName(channel);
    if (isChannelPattern(channel)) {
      this.patterns.add(channel);
      try {
        await this.subscriberGate.pass(() => this.subscriber.subscribe(name));
      } catch (error) {
        this.patterns.delete(channel);
        throw this.failure('subscribe', channel, error);
      }
      return;
    }
    let state = this.exact.get(channel);
    if (state === undefined) {
      state = { wanted: true, epoch: undefined, offset: 0, floor: undefined, held: undefined };
      this.exact.set(channel, state);
    }
    state.wanted = true;
    try {
      // Read before SUBSCRIBE: whatever follows this position arrives through pub/sub, or
      // through a catch-up if the subscriber connection drops first.
      state.floor ??= await this.read(channel, '', 0, false).then((r) => r.position);
      await this.subscriberGate.pass(() => this.subscriber.subscribe(name));
    } catch (error) {
      if (this.exact.get(channel) === state) this.exact.delete(channel);
      throw this.failure('subscribe', channel, error);
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    const name = this.pubsubName(channel);
    if (isChannelPattern(channel)) {
      this.patterns.delete(channel);
      if (this.subscriberLive) await this.subscriber.unsubscribe(name).catch(() => {});
      return;
    }
    const state = this.exact.get(channel);
    if (state === undefined) return;
    state.wanted = false;
    // Kept until Redis confirms: copies still on the way (the exact channel's and the
    // pattern's of the same publication) must still be told apart.
    if (this.subscriberLive) await this.subscriber.unsubscribe(name).catch(() => {});
    if (!state.wanted && this.exact.get(channel) === state) this.exact.delete(channel);
  }

  position(channel: string): Promise<ChannelPosition> {
    return this.read(channel, '', 0, false).then(
      (r) => r.position,
      (error: unknown) => Promise.reject(this.failure('position', channel, error)),
    );
  }

  async history(channel: string, since: number, epoch: string): Promise<HistoryResult> {
    let read: ReadResult;
    try {
      read = await this.read(channel, epoch, since, false);
    } catch (error) {
      throw this.failure('history', channel, error);
    }
    const { position, publications, expired } = read;
    if (epoch !== position.epoch || since > position.offset) return { complete: false, position, reason: 'epoch' };
    if (since === position.offset) return { complete: true, position, publications: [] };
    // Complete means every offset from since + 1 to the last, none of them past its ttl.
    const contiguous =
      publications.length === position.offset - since && publications[0]?.offset === since + 1 && publications.at(-1)?.offset === position.offset;
    if (!contiguous || expired) return { complete: false, position, reason: 'too-old' };
    return { complete: true, position, publications };
  }

  // ---- presence across nodes (presence.ts) ----------------------------------------------------

  onPresence(handler: (event: PresenceEvent) => void): void {
    this.presence.onPresence(handler);
  }

  presenceWatch(channel: string): Promise<void> {
    return this.presence.watch(channel);
  }

  presenceUnwatch(channel: string): void {
    this.presence.unwatch(channel);
  }

  presenceUpdate(channel: string, join: readonly PresenceEntry[], leave: readonly string[]): void {
    this.presence.update(channel, join, leave);
  }

  presenceSnapshot(channel: string): Promise<PresenceEntry[]> {
    return this.presence.snapshot(channel).catch((error: unknown) => Promise.reject(this.failure('presence read', channel, error)));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // This node's members leave now (one write per channel, 500 ms at most), not when its leases expire.
    const leaving = this.presence.close(Math.min(500, this.commandTimeout));
    this.closed = true;
    clearInterval(this.pingTimer);
    await leaving;
    const error = unavailable('The Redis broker is closed.');
    this.commandGate.close(error);
    this.subscriberGate.close(error);
    this.subscriberLive = false;
    this.exact.clear();
    this.patterns.clear();
    await Promise.all([quit(this.commands), quit(this.subscriber)]);
  }

  // ---- receiving ---------------------------------------------------------------------------

  private receive(message: Buffer): void {
    // Presence messages start with "P " (scripts.ts), publications with their offset.
    if (message[0] === 0x50 && message[1] === 0x20) {
      this.presence.receive(message);
      return;
    }
    let publication: Publication;
    try {
      publication = decodeMessage(message);
    } catch (error) {
      this.report(new Error(`ignored a pub/sub message that is not a Lifeline publication: ${(error as Error).message}`));
      return;
    }
    const state = this.exact.get(publication.channel);
    if (state !== undefined) {
      if (state.held !== undefined) {
        state.held.push(publication);
        return;
      }
      if (!advance(state, publication)) return;
    }
    this.handler(publication);
  }

  /**
   * The subscriber connection is (again) ready: subscribe to everything wanted, then, after a
   * drop, read from each channel's stream what pub/sub delivered to nobody meanwhile and
   * hand it over, in order, before the live publications that arrived during the read.
   */
  private async resubscribe(): Promise<void> {
    const generation = ++this.generation;
    const comeback = this.subscriberConnectedBefore;
    this.subscriberConnectedBefore = true;
    const channels = [...this.exact].filter(([, state]) => state.wanted);
    if (comeback) for (const [, state] of channels) state.held = [];
    const names = [...channels.map(([channel]) => this.pubsubName(channel)), ...[...this.patterns].map((p) => this.pubsubName(p))];
    try {
      if (names.length > 0) await this.subscriber.subscribe(...names);
    } catch (error) {
      // The connection went again; its next 'ready' starts over.
      this.report(new Error(`re-subscribing after a Redis reconnect failed: ${(error as Error).message}`));
      return;
    }
    if (generation !== this.generation || this.closed) return;
    this.subscriberLive = true;
    this.subscriberGate.open();
    if (comeback) for (const [channel, state] of channels) void this.catchUp(channel, state, generation);
    // Presence changes pub/sub carried meanwhile are lost: read every followed channel again.
    if (comeback) this.presence.resync();
  }

  private async catchUp(channel: string, state: ExactChannel, generation: number): Promise<void> {
    const from = state.epoch !== undefined ? { epoch: state.epoch, offset: state.offset } : state.floor;
    let recovered = 0;
    let failed: Error | undefined;
    try {
      const read = await this.read(channel, from?.epoch ?? '', from?.offset ?? 0, true);
      if (generation !== this.generation) return; // a newer comeback does it again
      for (const p of read.publications) {
        if (!advance(state, p)) continue;
        recovered++;
        this.handler(p);
      }
    } catch (error) {
      if (generation !== this.generation) return;
      // Live publications still flow; the first one after the gap shows the gap to clients (PROTOCOL.md §3.3).
      failed = new Error(`could not read what channel ${channel} missed while the Redis subscriber connection was down: ${(error as Error).message}`, { cause: error });
    }
    const held = state.held ?? [];
    state.held = undefined;
    for (const p of held) if (advance(state, p)) this.handler(p);
    if (failed) this.report(failed);
    else if (this.listenerCount('catch-up') > 0) this.emit('catch-up', { channel, recovered });
  }

  // ---- Redis -------------------------------------------------------------------------------

  private async read(channel: string, epoch: string, since: number, wholeStreamIfOtherEpoch: boolean): Promise<ReadResult> {
    const [offset, epochBuffer, now, entries] = await this.commandGate.pass(() =>
      this.scripts.lifelineReadBuffer(
        this.key(channel, 'm'),
        this.key(channel, 's'),
        epoch,
        since,
        this.newEpoch(),
        this.positionTtl,
        wholeStreamIfOtherEpoch ? '1' : '0',
      ),
    );
    const position = { offset, epoch: epochBuffer.toString('latin1') };
    let expired = false;
    const publications: Publication[] = [];
    for (const [id, fields] of entries) {
      // fields: x, expiry, m, body (in the order XADD wrote them)
      const expiry = Number(fields[1]!.toString('latin1'));
      if (expiry !== 0 && expiry < now) expired = true;
      publications.push(decodeBody(fields[3]!, 0, Number(id.toString('latin1', 0, id.indexOf(0x2d))), position.epoch));
    }
    return { position, publications, expired };
  }

  private key(channel: string, kind: 'm' | 's' | 'pm' | 'pn'): string {
    return `${this.prefix}{${channel}}:${kind}`;
  }

  /** Pub/sub channel of a channel or a pattern: the names cannot collide with each other or with keys. */
  private pubsubName(channel: string): string {
    return `${this.prefix}${isChannelPattern(channel) ? 'p' : 'c'}:${channel}`;
  }

  private newEpoch(): string {
    return this.epochPrefix + (this.epochCounter++).toString(36);
  }

  private failure(operation: string, channel: string, error: unknown): Error {
    if (error instanceof Error && (error as { code?: unknown }).code === 'LL_UNAVAILABLE') return error;
    return unavailable(`Redis ${operation} on channel ${channel} failed: ${(error as Error).message ?? String(error)}`, error);
  }

  private report(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

interface ReadResult {
  position: ChannelPosition;
  publications: Publication[];
  /** Some publication read is past its history ttl (trimmed lazily). */
  expired: boolean;
}

/**
 * Ready, and its socket still writable: when Redis closes the connection, ioredis keeps
 * `status: 'ready'` until it handles the close, and meanwhile refuses every command at once
 * (its offline queue being off). Those should wait in the gate instead.
 */
/** Advances the process's position on a channel; false for a publication it already handed over. */
function advance(state: ExactChannel, p: Publication): boolean {
  if (state.epoch === p.epoch && p.offset <= state.offset) return false;
  state.epoch = p.epoch;
  state.offset = p.offset;
  return true;
}

/** The Redis broker; see RedisBrokerOptions for every option and its default. */
export function createRedisBroker(options: RedisBrokerOptions = {}): RedisBroker {
  return new RedisBroker(options);
}
