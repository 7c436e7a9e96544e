/**
 * One subscriber on one channel: what it was last written, what is held for it (while it
 * catches up from history, or while its connection is congested), and the slow-subscriber
 * policy that applies when the held queue is full (PROTOCOL.md §3.4).
 */
import type { PresenceMember } from '@lifeline/protocol';
import type { ResolvedChannelOptions } from './names.js';
import type { EncodedPublication, WireFormat } from './publication.js';
import type { SharedFrame } from '../transport/transport.js';

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

/** What a subscription knows of its channel. */
export interface SubscribedChannel {
  readonly name: string;
  /** A pattern (`prices:*`): publications of many channels, with offsets of their own. */
  readonly pattern: boolean;
  readonly options: ResolvedChannelOptions;
}

export class Subscription {
  /** The last offset written (or skipped by policy) to the subscriber. */
  last = 0;
  /** The epoch of `last`: a publication of another epoch is written whatever its offset (the client re-syncs on it). */
  epoch = '';
  /** Publications held: while catching up, or while the connection is congested. */
  private queue: EncodedPublication[] = [];
  live = false;
  /** The policy closed the connection: nothing more is queued for it. */
  private closing = false;
  private waitingForDrain = false;

  constructor(
    readonly subscriber: Subscriber,
    readonly channel: SubscribedChannel,
    readonly presence: boolean,
    private readonly stats: ChannelHubStats,
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

  /** Makes the subscription live: the missed publications first, then what arrived while catching up (write() skips overlaps). */
  goLive(missed: readonly EncodedPublication[]): void {
    this.queue = [...missed, ...this.queue];
    this.live = true;
    this.flush();
  }

  /** Writes what is queued while the connection keeps up; waits for a drain when it does not. */
  private flush(): void {
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
    this.stats.deliveries++;
  }

  private enqueue(p: EncodedPublication): void {
    const { policy, maxQueued } = this.channel.options.slowSubscriber;
    const stats = this.stats;
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
