/**
 * One channel's presence on this process: its own connections' members and, with a broker
 * that shares presence (`@lifeline/redis`), every other node's. Changes are coalesced: once
 * per presence interval the broker hears what changed here (one update per channel per node)
 * and the channel's presence subscribers get one `pr` with what changed anywhere, so nothing
 * grows with members × subscribers.
 */
import type { Envelope, PresenceMember } from '@lifeline/protocol';
import type { Broker, PresenceEntry, PresenceEvent } from './broker.js';
import type { ResolvedChannelOptions } from './names.js';
import { PresenceChanges } from './presence-changes.js';

export class ChannelPresence {
  /** This process's members, each counted once per connection with it here. */
  private readonly members = new Held<PresenceMember>();
  /** Other processes' members, as the broker reports them: node → member id → member. */
  private readonly remote = new Map<string, Map<string, PresenceEntry>>();
  /** Everyone present, on any node, each counted once per node with it (this one counts once). */
  private readonly present = new Held<PresenceMember>();
  /** Changes of `present` not yet sent to the subscribers (`pr`). */
  private readonly pending = new PresenceChanges();
  /** Changes of `members` not yet told to the other nodes (the broker). */
  private readonly localChanges = new PresenceChanges();
  /** The broker reports other nodes' presence here (a broker that shares it, on a channel with presence). */
  watched = false;
  private timer: NodeJS.Timeout | undefined;
  /** The channel has no subscriber left here: nothing is scheduled any more. */
  private ended = false;

  constructor(
    private readonly channel: string,
    private readonly options: ResolvedChannelOptions['presence'],
    private readonly broker: Broker,
    /** Sends a `pr` to the channel's live presence subscribers. */
    private readonly send: (envelope: Envelope) => void,
  ) {}

  /** Everyone present, on any node this process hears of. */
  list(): PresenceMember[] {
    return this.present.list();
  }

  /** A connection here with this member subscribed with presence. */
  join(member: PresenceMember): void {
    if (!this.members.add(member.id, member)) return;
    this.localChanges.join(member);
    this.addHolder(member);
    this.schedule();
  }

  /** A connection here with this member left (or dropped presence). */
  leave(id: string): void {
    if (!this.members.remove(id)) return;
    this.localChanges.leave(id);
    this.removeHolder(id);
    this.schedule();
  }

  /** Another node's presence, from the broker. */
  fromBroker(event: PresenceEvent): void {
    if (!this.watched) return;
    if (event.type === 'sync') {
      for (const node of [...this.remote.keys()]) if (!event.nodes.has(node)) this.replaceNode(node, []);
      for (const [node, members] of event.nodes) this.replaceNode(node, members);
      return;
    }
    if (event.replace) {
      this.replaceNode(event.node, event.join);
      return;
    }
    let members = this.remote.get(event.node);
    if (!members) this.remote.set(event.node, (members = new Map()));
    for (const member of event.join) {
      if (!members.has(member.id)) this.addHolder(member);
      members.set(member.id, member);
    }
    for (const id of event.leave) if (members.delete(id)) this.removeHolder(id);
    if (members.size === 0) this.remote.delete(event.node);
  }

  /** Tells the broker now what changed here and stops the timer (the hub closes). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.tellBroker();
  }

  /** The last subscriber here left: the other nodes hear it now, not one interval later, and the broker stops reporting. */
  end(): void {
    this.ended = true;
    this.stop();
    if (this.watched) this.broker.presenceUnwatch?.(this.channel);
  }

  /** One more node has the member: a join when it is the first. */
  private addHolder(member: PresenceEntry): void {
    if (!this.present.add(member.id, member)) return;
    this.pending.join(member);
    this.schedule();
  }

  /** One node less has the member: a leave when it was the last. */
  private removeHolder(id: string): void {
    if (!this.present.remove(id)) return;
    this.pending.leave(id);
    this.schedule();
  }

  /** A node's whole membership on the channel is now `members` (none: it left, or died). */
  private replaceNode(node: string, members: readonly PresenceEntry[]): void {
    const before = this.remote.get(node);
    const after = new Map(members.map((m) => [m.id, m]));
    if (before) for (const id of before.keys()) if (!after.has(id)) this.removeHolder(id);
    for (const [id, member] of after) if (!before?.has(id)) this.addHolder(member);
    if (after.size > 0) this.remote.set(node, after);
    else this.remote.delete(node);
  }

  private schedule(): void {
    if (this.options === false || this.timer !== undefined || this.ended) return;
    this.timer = setTimeout(() => this.flush(), this.options.interval);
    this.timer.unref();
  }

  /** This process's changes since the last call, to the other nodes: one broker update per channel per interval. */
  private tellBroker(): void {
    if (this.localChanges.empty) return;
    const { join, leave } = this.localChanges.take();
    this.broker.presenceUpdate?.(this.channel, join, leave);
  }

  private flush(): void {
    this.timer = undefined;
    this.tellBroker();
    if (this.options === false || this.pending.empty) return;
    const { join, leave } = this.pending.take();
    // Past maxListed members only the count goes out: a join then costs one small frame per
    // subscriber per interval, however many joined, so presence never grows with members².
    const listed = this.present.size <= this.options.maxListed;
    this.send({ t: 'pr', ch: this.channel, count: this.present.size, join: listed ? join : [], leave: listed ? leave : [] });
  }
}

/** Values by id, each with a count of who holds it: the first holder adds it, the last one's leaving removes it. */
class Held<T> {
  private readonly entries = new Map<string, { value: T; holders: number }>();

  get size(): number {
    return this.entries.size;
  }

  /** One more holder of `id`; true when it is the first (`value` is kept until the last one leaves). */
  add(id: string, value: T): boolean {
    const entry = this.entries.get(id);
    if (entry !== undefined) {
      entry.holders++;
      return false;
    }
    this.entries.set(id, { value, holders: 1 });
    return true;
  }

  /** One holder of `id` fewer; true when it was the last (the value is gone). False for an id nobody holds. */
  remove(id: string): boolean {
    const entry = this.entries.get(id);
    if (entry === undefined || --entry.holders > 0) return false;
    this.entries.delete(id);
    return true;
  }

  list(): T[] {
    return Array.from(this.entries.values(), (entry) => entry.value);
  }
}
