/**
 * One process's side of channels: which of its connections subscribe to what, and the
 * fan-out. A publication arrives from the broker once per process; its frames are encoded
 * once per wire format (raw, JSON, MessagePack) and the same bytes go to every subscriber,
 * coalesced with the connection's other writes of that event-loop turn (PROTOCOL.md §3).
 *
 * Presence: the hub keeps its own connections' members and, with a broker that shares
 * presence (`@lifeline/redis`), every other node's. Once per channel per presence interval
 * it tells the broker what changed here and sends its presence subscribers one `pr` with
 * what changed anywhere, so nodes exchange one message per channel per interval each and
 * nothing grows with members × subscribers.
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
import type { Broker, PresenceEntry, PresenceEvent, Publication, PublicationPayload } from './broker.js';
import { ChannelOptionsTable, type ResolvedChannelOptions } from './names.js';
import { PresenceChanges } from './presence-changes.js';
import type { LogFields } from '../leaves/logger.js';
import type { SharedFrame } from '../transport/transport.js';

/** The wire form a subscriber needs. */
export type WireFormat = 'raw' | 'json' | 'msgpack';

/** What the hub needs from a connection (a raw Socket or a Lifeline session). */
export interface Subscriber {
  readonly id: string;
  readonly format: WireFormat;
  /** Presence identity: who this connection is (default its id) and what others see. */
  readonly presenceMember: PresenceMember;
  /** Unsent bytes the connection held before this event-loop turn's writes; 0 while a session has no connection. */
  readonly backlog: number;
  /**
   * Writes a frame now (coalesced with the turn's other writes). Does nothing while a
   * session has no connection. `shared`, when given, is the frame's object shared by all
   * subscribers of this publication (see SharedFrame: the transport may frame it once).
   */
  writeFrame(frame: string | Uint8Array, binary: boolean, shared?: SharedFrame): void;
  /** Calls `callback` once the connection has written out what it holds (or at once when it holds nothing). */
  whenDrained(callback: () => void): void;
  /** The slow-subscriber policy `close`: 1013. */
  closeSlow(reason: string): void;
}

/** A publication with its frames, each encoded the first time a subscriber needs it. */
class EncodedPublication {
  private json: SharedFrame | null | undefined;
  private msgpack: SharedFrame | null | undefined;
  private raw: SharedFrame | null | undefined;

  constructor(
    readonly publication: Publication,
    private readonly report: (publication: Publication, format: WireFormat, error: unknown) => void,
  ) {}

  /**
   * The frame for `format`, or null when the publication cannot be encoded in it. Publishing
   * refuses such a value before it gets an offset, so this happens only to one that came in
   * another way (a broker shared with a process that checks less).
   */
  frame(format: WireFormat): SharedFrame | null {
    if (format === 'json') return this.json === undefined ? (this.json = this.encode(format)) : this.json;
    if (format === 'msgpack') return this.msgpack === undefined ? (this.msgpack = this.encode(format)) : this.msgpack;
    return this.raw === undefined ? (this.raw = this.encode(format)) : this.raw;
  }

  private encode(format: WireFormat): SharedFrame | null {
    const p = this.publication;
    try {
      if (format === 'json') return { frame: encodeEnvelope(envelopeOf(p)), binary: false };
      if (format === 'msgpack') return { frame: encodeEnvelopeMsgpack(envelopeOf(p)), binary: true };
      // Raw clients get the payload itself: bytes as binary, a string as its text, anything else as JSON.
      return p.bytes !== undefined ? { frame: p.bytes, binary: true } : { frame: typeof p.data === 'string' ? p.data : JSON.stringify(p.data), binary: false };
    } catch (error) {
      this.report(p, format, error);
      return null;
    }
  }
}

function envelopeOf(p: Publication): Envelope {
  return p.bytes !== undefined ? { t: 'p', ch: p.channel, o: p.offset, ep: p.epoch, b: p.bytes } : { t: 'p', ch: p.channel, o: p.offset, ep: p.epoch, d: p.data };
}

/** Counters for /api/stats and /metrics: every application of a slow-subscriber policy is counted. */
export interface ChannelHubStats {
  publications: number;
  deliveries: number;
  queued: number;
  droppedOldest: number;
  droppedNewest: number;
  coalesced: number;
  closedSlow: number;
}

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

/** One subscriber on one local channel. */
class Subscription {
  /** The last offset written (or skipped by policy) to the subscriber. */
  last = 0;
  /** The epoch of `last`: a publication of another epoch is written whatever its offset (the client re-syncs on it). */
  epoch = '';
  /** Publications held: while catching up, or while the connection is congested. */
  queue: EncodedPublication[] = [];
  live = false;
  /** The policy closed the connection: nothing more is queued for it. */
  private closing = false;
  private waitingForDrain = false;

  constructor(
    readonly subscriber: Subscriber,
    readonly channel: LocalChannel,
    readonly presence: boolean,
    private readonly hub: ChannelHub,
  ) {}

  deliver(p: EncodedPublication): void {
    if (this.closing) return;
    const s = this.subscriber;
    const options = this.channel.options.slowSubscriber;
    if (this.live && this.queue.length === 0 && s.backlog <= options.bufferedBytes) {
      this.write(p);
      return;
    }
    this.enqueue(p);
    if (this.live) this.flushLater();
  }

  /** Writes what is queued while the connection keeps up; waits for a drain when it does not. */
  flush(): void {
    const s = this.subscriber;
    const limit = this.channel.options.slowSubscriber.bufferedBytes;
    while (this.live && this.queue.length > 0 && s.backlog <= limit) this.write(this.queue.shift()!);
    if (this.live && this.queue.length > 0) this.flushLater();
  }

  private write(p: EncodedPublication): void {
    // Exact subscriptions skip what they already had (a catch-up overlapping live traffic).
    const { offset, epoch } = p.publication;
    if (!this.channel.pattern && epoch === this.epoch && offset <= this.last) return;
    this.last = offset;
    this.epoch = epoch;
    const shared = p.frame(this.subscriber.format);
    // One that cannot be encoded (reported by the hub) is a gap the subscriber sees; its
    // recovery with `since` then answers `reset: too-old` (ChannelHub.subscribe).
    if (shared === null) return;
    this.subscriber.writeFrame(shared.frame, shared.binary, shared);
    this.hub.stats.deliveries++;
  }

  private enqueue(p: EncodedPublication): void {
    const { policy, maxQueued } = this.channel.options.slowSubscriber;
    const stats = this.hub.stats;
    stats.queued++;
    if (policy === 'coalesce' && p.publication.key !== undefined) {
      const at = this.queue.findIndex((q) => q.publication.key === p.publication.key);
      if (at >= 0) {
        this.queue.splice(at, 1);
        stats.coalesced++;
      }
    }
    if (this.queue.length < maxQueued) {
      this.queue.push(p);
      return;
    }
    switch (policy) {
      case 'close':
        stats.closedSlow++;
        this.queue = [];
        this.live = false;
        this.closing = true;
        this.subscriber.closeSlow(`slow subscriber: over ${maxQueued} publications queued on ${this.channel.name}`);
        return;
      case 'drop-newest':
        stats.droppedNewest++;
        return;
      default:
        // drop-oldest, and coalesce without a key to coalesce on
        this.queue.shift();
        this.queue.push(p);
        if (policy === 'coalesce') stats.coalesced++;
        else stats.droppedOldest++;
    }
  }

  private flushLater(): void {
    if (this.waitingForDrain) return;
    this.waitingForDrain = true;
    this.subscriber.whenDrained(() => {
      this.waitingForDrain = false;
      this.flush();
    });
  }
}

/** One channel (or pattern) that at least one local connection subscribes to. */
class LocalChannel {
  readonly subscriptions = new Map<Subscriber, Subscription>();
  readonly pattern: boolean;
  /** Presence of this process's subscribers: member id → connections with it here. */
  readonly members = new Map<string, { member: PresenceMember; connections: number }>();
  /** Other processes' members, as the broker reports them: node → member id → member. */
  readonly remote = new Map<string, Map<string, PresenceEntry>>();
  /** Everyone present, on any node: member id → the member and on how many nodes (this one counts once). */
  readonly present = new Map<string, { member: PresenceMember; nodes: number }>();
  /** Changes of `present` not yet sent to the subscribers (`pr`). */
  readonly pending = new PresenceChanges();
  /** Changes of `members` not yet told to the other nodes (the broker). */
  readonly localChanges = new PresenceChanges();
  /** The broker reports other nodes' presence here (a broker that shares it, on a channel with presence). */
  watched = false;
  presenceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly options: ResolvedChannelOptions,
  ) {
    this.pattern = isChannelPattern(name);
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
    broker.onPresence?.((event) => this.remotePresence(event));
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
    const sub = new Subscription(subscriber, local, presence, this);
    local.subscriptions.set(subscriber, sub);
    let channels = this.bySubscriber.get(subscriber);
    if (!channels) this.bySubscriber.set(subscriber, (channels = new Set()));
    channels.add(local);
    if (presence && !old?.presence) this.join(local, subscriber.presenceMember);
    else if (!presence && old?.presence) this.leave(local, subscriber.presenceMember.id);

    if (local.pattern) {
      // Patterns have no history of their own: live from now.
      return { position: { offset: 0, epoch: '-' }, start: () => this.goLive(sub, []) };
    }
    const since = options.since;
    if (since === undefined) {
      const position = await this.broker.position(name);
      sub.last = position.offset;
      sub.epoch = position.epoch;
      return { position, start: () => this.goLive(sub, []) };
    }
    const history = await this.broker.history(name, since.offset, since.epoch);
    if (!history.complete) {
      sub.last = history.position.offset;
      sub.epoch = history.position.epoch;
      return { position: history.position, recovered: false, reset: history.reason, start: () => this.goLive(sub, []) };
    }
    const missed = history.publications.map((p) => new EncodedPublication(p, this.encodeFailed));
    if (missed.some((p) => p.frame(subscriber.format) === null)) {
      // One this subscriber's format cannot carry counts as lost: it learns so, instead of
      // seeing a gap it would try to recover again and again.
      sub.last = history.position.offset;
      sub.epoch = history.position.epoch;
      return { position: history.position, recovered: false, reset: 'too-old', start: () => this.goLive(sub, []) };
    }
    sub.last = since.offset;
    sub.epoch = since.epoch;
    return { position: history.position, recovered: true, start: () => this.goLive(sub, missed) };
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
    return [...(this.channels.get(channel)?.present.values() ?? [])].map((m) => m.member);
  }

  /**
   * The members of a channel's presence on every node: what this process knows when it
   * follows the channel, else the broker's list (Redis: one read). Rejects `LL_UNAVAILABLE`
   * when the broker cannot answer.
   */
  async presenceOf(channel: string): Promise<PresenceMember[]> {
    const local = this.channels.get(channel);
    if (local?.watched || this.broker.presenceSnapshot === undefined) return this.presence(channel);
    return this.broker.presenceSnapshot(channel);
  }

  close(): void {
    for (const local of this.channels.values()) {
      clearTimeout(local.presenceTimer);
      local.presenceTimer = undefined;
      this.tellBroker(local);
    }
  }

  private goLive(sub: Subscription, missed: EncodedPublication[]): void {
    // What arrived while catching up queued behind the missed ones; write() skips overlaps.
    sub.queue = [...missed, ...sub.queue];
    sub.live = true;
    sub.flush();
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
        const created = new LocalChannel(name, this.options.get(name));
        this.channels.set(name, created);
        if (created.options.presence !== false && this.broker.presenceWatch !== undefined) {
          // Other nodes' members arrive (a `sync`) before the first subscriber is answered,
          // so that its `$presence` lists them.
          created.watched = true;
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
    if (sub.presence) this.leave(local, sub.subscriber.presenceMember.id);
    if (local.subscriptions.size === 0) {
      clearTimeout(local.presenceTimer);
      local.presenceTimer = undefined;
      // The last members here left: the other nodes hear it now, not one interval later.
      this.tellBroker(local);
      if (local.watched) this.broker.presenceUnwatch?.(local.name);
      this.channels.delete(local.name);
      void this.broker.unsubscribe(local.name).catch(() => {});
    }
  }

  // ---- presence: this process's members and other nodes' (from the broker), changes ----
  // ---- coalesced into one `pr` per interval per channel, and one broker update per interval ----

  private join(local: LocalChannel, member: PresenceMember): void {
    const entry = local.members.get(member.id);
    if (entry) {
      entry.connections++;
      return;
    }
    local.members.set(member.id, { member, connections: 1 });
    local.localChanges.join(member);
    this.addHolder(local, member);
    this.schedulePresence(local);
  }

  private leave(local: LocalChannel, id: string): void {
    const entry = local.members.get(id);
    if (!entry || --entry.connections > 0) return;
    local.members.delete(id);
    local.localChanges.leave(id);
    this.removeHolder(local, id);
    this.schedulePresence(local);
  }

  /** One more node has the member: a join when it is the first. */
  private addHolder(local: LocalChannel, member: PresenceEntry): void {
    const entry = local.present.get(member.id);
    if (entry) {
      entry.nodes++;
      return;
    }
    local.present.set(member.id, { member, nodes: 1 });
    local.pending.join(member);
    this.schedulePresence(local);
  }

  /** One node less has the member: a leave when it was the last. */
  private removeHolder(local: LocalChannel, id: string): void {
    const entry = local.present.get(id);
    if (!entry || --entry.nodes > 0) return;
    local.present.delete(id);
    local.pending.leave(id);
    this.schedulePresence(local);
  }

  /** Another node's presence, from the broker. */
  private remotePresence(event: PresenceEvent): void {
    const local = this.channels.get(event.channel);
    if (!local?.watched) return;
    if (event.type === 'sync') {
      for (const node of [...local.remote.keys()]) if (!event.nodes.has(node)) this.replaceNode(local, node, []);
      for (const [node, members] of event.nodes) this.replaceNode(local, node, members);
      return;
    }
    if (event.replace) {
      this.replaceNode(local, event.node, event.join);
      return;
    }
    let members = local.remote.get(event.node);
    if (!members) local.remote.set(event.node, (members = new Map()));
    for (const member of event.join) {
      if (!members.has(member.id)) this.addHolder(local, member);
      members.set(member.id, member);
    }
    for (const id of event.leave) if (members.delete(id)) this.removeHolder(local, id);
    if (members.size === 0) local.remote.delete(event.node);
  }

  /** A node's whole membership on the channel is now `members` (none: it left, or died). */
  private replaceNode(local: LocalChannel, node: string, members: readonly PresenceEntry[]): void {
    const before = local.remote.get(node);
    const after = new Map(members.map((m) => [m.id, m]));
    if (before) for (const id of before.keys()) if (!after.has(id)) this.removeHolder(local, id);
    for (const [id, member] of after) if (!before?.has(id)) this.addHolder(local, member);
    if (after.size > 0) local.remote.set(node, after);
    else local.remote.delete(node);
  }

  private schedulePresence(local: LocalChannel): void {
    const presence = local.options.presence;
    if (presence === false || local.presenceTimer !== undefined || this.channels.get(local.name) !== local) return;
    local.presenceTimer = setTimeout(() => this.flushPresence(local), presence.interval);
    local.presenceTimer.unref();
  }

  /** This process's changes since the last call, to the other nodes: one broker update per channel per interval. */
  private tellBroker(local: LocalChannel): void {
    if (local.localChanges.empty) return;
    const { join, leave } = local.localChanges.take();
    this.broker.presenceUpdate?.(local.name, join, leave);
  }

  private flushPresence(local: LocalChannel): void {
    local.presenceTimer = undefined;
    this.tellBroker(local);
    const presence = local.options.presence;
    if (presence === false || local.pending.empty) return;
    const { join, leave } = local.pending.take();
    // Past maxListed members only the count goes out: a join then costs one small frame per
    // subscriber per interval, however many joined, so presence never grows with members².
    const listed = local.present.size <= presence.maxListed;
    const envelope: Envelope = {
      t: 'pr',
      ch: local.name,
      count: local.present.size,
      join: listed ? join : [],
      leave: listed ? leave : [],
    };
    let json: string | undefined;
    let msgpack: Uint8Array | undefined;
    try {
      for (const sub of local.subscriptions.values()) {
        if (!sub.presence || !sub.live) continue;
        const s = sub.subscriber;
        if (s.format === 'json') s.writeFrame((json ??= encodeEnvelope(envelope)), false);
        else if (s.format === 'msgpack') s.writeFrame((msgpack ??= encodeEnvelopeMsgpack(envelope)), true);
      }
    } catch (error) {
      // A member's info another process announced that a format cannot carry: this `pr` is
      // not sent (a timer must not throw); `$presence` still lists the members.
      this.report('presence-encode-failed', { channel: local.name, error: (error as Error).message });
    }
  }
}
