/**
 * One process's side of channels: which of its connections subscribe to what, and the
 * fan-out. A publication arrives from the broker once per process and goes to every local
 * subscription of its channel and of its channel's pattern, encoded once per wire format
 * (publication.ts); each subscription applies its slow-subscriber policy (subscription.ts)
 * and each channel keeps its presence (presence.ts).
 */
import {
  DEFAULT_DECODE_LIMITS,
  encodeEnvelope,
  isChannelName,
  isChannelPattern,
  LifelineError,
  parseJsonWithin,
  patternOf,
  type ChannelPosition,
  type DecodeLimits,
  type Envelope,
  type PresenceMember,
} from '@lifeline/protocol';
import { encodeEnvelopeMsgpack } from '@lifeline/protocol/msgpack';
import type { Broker, Publication, PublicationPayload } from './broker.js';
import { ChannelOptionsTable, type ResolvedChannelOptions } from './names.js';
import { ChannelPresence } from './presence.js';
import { EncodedPublication, type WireFormat } from './publication.js';
import { Subscription, type ChannelHubStats, type SubscribedChannel, type Subscriber } from './subscription.js';
import type { LogFields } from '../leaves/logger.js';

export type { WireFormat } from './publication.js';
export type { ChannelHubStats, Subscriber } from './subscription.js';

/** What `subscribe()` reports, and the step that starts delivery. */
export interface SubscribeResult {
  readonly position: ChannelPosition;
  /** Set when `since` was given: whether every missed publication follows. */
  readonly recovered?: boolean;
  readonly reset?: 'epoch' | 'too-old';
  /**
   * Writes the missed publications (if recovered), then what arrived meanwhile, and makes
   * the subscription live. Call it right after answering, so that they follow the answer.
   */
  start(): void;
}

/** One channel (or pattern) that at least one local connection subscribes to. */
class LocalChannel implements SubscribedChannel {
  readonly subscriptions = new Map<Subscriber, Subscription>();
  readonly pattern: boolean;
  readonly presence: ChannelPresence;

  constructor(
    readonly name: string,
    readonly options: ResolvedChannelOptions,
    broker: Broker,
    report: (event: string, fields: LogFields) => void,
  ) {
    this.pattern = isChannelPattern(name);
    this.presence = new ChannelPresence(name, options.presence, broker, (envelope) => this.sendPresence(envelope, report));
  }

  /** One `pr` to the live presence subscribers, encoded at most once per format. */
  private sendPresence(envelope: Envelope, report: (event: string, fields: LogFields) => void): void {
    let json: string | undefined;
    let msgpack: Uint8Array | undefined;
    try {
      for (const sub of this.subscriptions.values()) {
        if (!sub.presence || !sub.live) continue;
        const s = sub.subscriber;
        if (s.format === 'json') s.writeFrame((json ??= encodeEnvelope(envelope)), false);
        else if (s.format === 'msgpack') s.writeFrame((msgpack ??= encodeEnvelopeMsgpack(envelope)), true);
      }
    } catch (error) {
      // A member's info another process announced that a format cannot carry: this `pr` is
      // not sent (a timer must not throw); `$presence` still lists the members.
      report('presence-encode-failed', { channel: this.name, error: (error as Error).message });
    }
  }
}

/** What a hub is told besides its broker. */
export interface ChannelHubOptions {
  /** Bounds every JSON publication must keep (the app's `limits`). Default DEFAULT_DECODE_LIMITS. */
  limits?: DecodeLimits;
  /** Where failures that have no caller to reject go (the app's logger): a publication that cannot be encoded, a `pr` that cannot. */
  report?: (event: string, fields: LogFields) => void;
}

export class ChannelHub {
  readonly options = new ChannelOptionsTable();
  readonly stats: ChannelHubStats = { publications: 0, deliveries: 0, queued: 0, droppedOldest: 0, droppedNewest: 0, coalesced: 0, closedSlow: 0 };
  private readonly channels = new Map<string, LocalChannel>();
  /** Broker subscriptions being set up: a second subscriber waits for the first's. */
  private readonly joining = new Map<string, Promise<void>>();
  private readonly bySubscriber = new Map<Subscriber, Set<LocalChannel>>();
  private readonly limits: DecodeLimits;
  private readonly report: (event: string, fields: LogFields) => void;
  private readonly encodeFailed = (publication: Publication, format: WireFormat, error: unknown): void => {
    this.report('publication-encode-failed', { channel: publication.channel, offset: publication.offset, format, error: (error as Error).message });
  };

  constructor(
    readonly broker: Broker,
    options: ChannelHubOptions = {},
  ) {
    this.limits = options.limits ?? DEFAULT_DECODE_LIMITS;
    this.report = options.report ?? (() => {});
    broker.onPublication((publication) => this.fanOut(publication));
    broker.onPresence?.((event) => this.channels.get(event.channel)?.presence.fromBroker(event));
  }

  /** Channels (and patterns) the subscriber is on. */
  channelsOf(subscriber: Subscriber): string[] {
    return [...(this.bySubscriber.get(subscriber) ?? [])].map((c) => c.name);
  }

  /** Local subscriber counts per channel, for stats. */
  subscriberCounts(): { channel: string; subscribers: number }[] {
    return [...this.channels.values()].map((c) => ({ channel: c.name, subscribers: c.subscriptions.size }));
  }

  /**
   * Publishes from server code, the HTTP API or a client's `$publish`. A JSON value is
   * published as what JSON.stringify makes of it (a copy: mutating the original later
   * changes nothing), and only when every subscriber's format can carry it: within the
   * bounds, no `__proto__` key, no lone surrogate. Otherwise it is refused before the
   * broker gives it an offset: `LL_ENCODE_FAILED`, or the bound's code (`LL_TOO_DEEP`, …).
   */
  publish(channel: string, payload: PublicationPayload, key?: string): Promise<ChannelPosition> {
    if (!isChannelName(channel) || isChannelPattern(channel)) {
      return Promise.reject(new LifelineError('LL_INVALID_CHANNEL', `"${channel}" is not a channel name (PROTOCOL.md §3.1).`));
    }
    let checked: PublicationPayload;
    try {
      checked = payload.bytes !== undefined ? payload : { data: this.publishable(payload.data) };
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.broker.publish(channel, checked, { history: this.options.get(channel).history, ...(key === undefined ? {} : { key }) });
  }

  /** The JSON value a publication carries: `data` through JSON, within the bounds; throws when it cannot be. */
  private publishable(data: unknown): unknown {
    let json: string | undefined;
    try {
      json = JSON.stringify(data);
    } catch (error) {
      throw new LifelineError('LL_ENCODE_FAILED', `Cannot publish this value: ${(error as Error).message}`, { cause: error });
    }
    if (json === undefined) throw new LifelineError('LL_ENCODE_FAILED', `Cannot publish this value: a ${typeof data} has no JSON form`);
    const parsed = parseJsonWithin(json, this.limits);
    if (!parsed.ok) {
      const problem = parsed.problem;
      throw new LifelineError(problem?.code ?? 'LL_ENCODE_FAILED', `Cannot publish this value: it ${problem?.reason ?? 'is not JSON'}`);
    }
    return parsed.value;
  }

  /**
   * Subscribes (or re-subscribes) a connection. With `since`, recovers what it missed from
   * history when it can. Delivery starts with the result's `start()`.
   */
  async subscribe(subscriber: Subscriber, name: string, options: { since?: ChannelPosition; presence?: boolean } = {}): Promise<SubscribeResult> {
    const local = await this.localChannel(name);
    const old = local.subscriptions.get(subscriber);
    const presence = !!options.presence && local.options.presence !== false;
    const sub = new Subscription(subscriber, local, presence, this.stats);
    local.subscriptions.set(subscriber, sub);
    let channels = this.bySubscriber.get(subscriber);
    if (!channels) this.bySubscriber.set(subscriber, (channels = new Set()));
    channels.add(local);
    if (presence && !old?.presence) local.presence.join(subscriber.presenceMember);
    else if (!presence && old?.presence) local.presence.leave(subscriber.presenceMember.id);

    if (local.pattern) {
      // Patterns have no history of their own: live from now.
      return { position: { offset: 0, epoch: '-' }, start: () => sub.goLive([]) };
    }
    const since = options.since;
    if (since === undefined) {
      const position = await this.broker.position(name);
      sub.last = position.offset;
      sub.epoch = position.epoch;
      return { position, start: () => sub.goLive([]) };
    }
    const history = await this.broker.history(name, since.offset, since.epoch);
    if (!history.complete) {
      sub.last = history.position.offset;
      sub.epoch = history.position.epoch;
      return { position: history.position, recovered: false, reset: history.reason, start: () => sub.goLive([]) };
    }
    const missed = history.publications.map((p) => new EncodedPublication(p, this.encodeFailed));
    if (missed.some((p) => p.frame(subscriber.format) === null)) {
      // One this subscriber's format cannot carry counts as lost: it learns so, instead of
      // seeing a gap it would try to recover again and again.
      sub.last = history.position.offset;
      sub.epoch = history.position.epoch;
      return { position: history.position, recovered: false, reset: 'too-old', start: () => sub.goLive([]) };
    }
    sub.last = since.offset;
    sub.epoch = since.epoch;
    return { position: history.position, recovered: true, start: () => sub.goLive(missed) };
  }

  /** Ends one subscription; false when there was none. */
  unsubscribe(subscriber: Subscriber, name: string): boolean {
    const local = this.channels.get(name);
    const sub = local?.subscriptions.get(subscriber);
    if (!local || !sub) return false;
    this.drop(local, sub);
    return true;
  }

  /** Ends every subscription of a connection that is gone for good. */
  removeSubscriber(subscriber: Subscriber): void {
    // Every connection ends here; most never subscribed.
    const locals = this.bySubscriber.get(subscriber);
    if (locals === undefined) return;
    for (const local of locals) {
      const sub = local.subscriptions.get(subscriber);
      if (sub) this.drop(local, sub);
    }
    this.bySubscriber.delete(subscriber);
  }

  /**
   * The members of a channel's presence as this process knows them: every node's, for a
   * channel it follows (one of its connections subscribes) with a broker that shares
   * presence; else this process's own.
   */
  presence(channel: string): PresenceMember[] {
    return this.channels.get(channel)?.presence.list() ?? [];
  }

  /**
   * The members of a channel's presence on every node: what this process knows when it
   * follows the channel, else the broker's list (Redis: one read). Rejects `LL_UNAVAILABLE`
   * when the broker cannot answer.
   */
  async presenceOf(channel: string): Promise<PresenceMember[]> {
    const local = this.channels.get(channel);
    if (local?.presence.watched || this.broker.presenceSnapshot === undefined) return this.presence(channel);
    return this.broker.presenceSnapshot(channel);
  }

  close(): void {
    for (const local of this.channels.values()) local.presence.stop();
  }

  private fanOut(publication: Publication): void {
    this.stats.publications++;
    const encoded = new EncodedPublication(publication, this.encodeFailed);
    this.channels.get(publication.channel)?.subscriptions.forEach((sub) => this.deliverTo(sub, encoded));
    const pattern = patternOf(publication.channel);
    if (pattern !== undefined) this.channels.get(pattern)?.subscriptions.forEach((sub) => this.deliverTo(sub, encoded));
  }

  /** One subscriber's delivery; whatever goes wrong there stays there (the broker's callback must not throw). */
  private deliverTo(sub: Subscription, encoded: EncodedPublication): void {
    try {
      sub.deliver(encoded);
    } catch (error) {
      this.report('fan-out-failed', { channel: encoded.publication.channel, offset: encoded.publication.offset, subscriber: sub.subscriber.id, error: (error as Error).message });
    }
  }

  private async localChannel(name: string): Promise<LocalChannel> {
    for (;;) {
      // While a channel is being set up (its presence loading), later subscribers wait too.
      const pending = this.joining.get(name);
      if (pending) {
        await pending;
        continue;
      }
      const local = this.channels.get(name);
      if (local) return local;
      const joined = this.broker.subscribe(name).then(async () => {
        const created = new LocalChannel(name, this.options.get(name), this.broker, this.report);
        this.channels.set(name, created);
        if (created.options.presence !== false && this.broker.presenceWatch !== undefined) {
          // Other nodes' members arrive (a `sync`) before the first subscriber is answered,
          // so that its `$presence` lists them.
          created.presence.watched = true;
          await this.broker.presenceWatch(name).catch(() => {});
        }
      });
      this.joining.set(name, joined);
      try {
        await joined;
      } finally {
        this.joining.delete(name);
      }
    }
  }

  private drop(local: LocalChannel, sub: Subscription): void {
    local.subscriptions.delete(sub.subscriber);
    this.bySubscriber.get(sub.subscriber)?.delete(local);
    if (sub.presence) local.presence.leave(sub.subscriber.presenceMember.id);
    if (local.subscriptions.size === 0) {
      local.presence.end();
      this.channels.delete(local.name);
      void this.broker.unsubscribe(local.name).catch(() => {});
    }
  }
}
