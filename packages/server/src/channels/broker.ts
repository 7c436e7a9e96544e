/**
 * The engine behind channels (PROTOCOL.md §3): where offsets are assigned, history is kept
 * and publications travel between server processes. `MemoryBroker` (one process, nothing to
 * install) is the default; `@lifeline/redis` implements the same interface across nodes.
 *
 * A broker knows nothing about sockets. Each server process has one ChannelHub that asks
 * the broker for the channels its connections subscribe to and fans each publication out
 * to them.
 */
import type { ChannelPosition } from '@lifeline/protocol';

/** A publication's content: a JSON value, or bytes. Exactly one is set. */
export type PublicationPayload = { readonly data: unknown; readonly bytes?: undefined } | { readonly bytes: Uint8Array; readonly data?: undefined };

/** A publication as the broker delivers it. */
export type Publication = PublicationPayload & {
  readonly channel: string;
  readonly offset: number;
  readonly epoch: string;
  /** The coalescing key it was published with, if any (PROTOCOL.md §3.4). */
  readonly key?: string;
};

/** How much of a channel's past the broker keeps for recovery. */
export interface HistoryOptions {
  /** Most publications kept. 0 keeps none (offsets still count). */
  readonly size: number;
  /** Oldest publication kept, in ms. */
  readonly ttl: number;
}

export interface PublishOptions {
  readonly history: HistoryOptions;
  readonly key?: string;
}

/** What `history()` finds. */
export type HistoryResult =
  /** Every publication after `since` (possibly none), in offset order, and the position after them. */
  | { readonly complete: true; readonly position: ChannelPosition; readonly publications: readonly Publication[] }
  /** The history no longer reaches back to `since` (`too-old`), or `since` belongs to another epoch (`epoch`). */
  | { readonly complete: false; readonly position: ChannelPosition; readonly reason: 'too-old' | 'epoch' };

/** A presence member: who (`id`) and what others see of it (`info`). Same shape as the protocol's. */
export interface PresenceEntry {
  readonly id: string;
  readonly info?: unknown;
}

/**
 * What a broker that shares presence across processes reports to the hub (`onPresence`).
 * `node` is another process's `nodeId`; a broker never reports its own node's changes (the
 * hub knows those first).
 */
export type PresenceEvent =
  /**
   * The members of every other node present on `channel`, read once the hub started
   * following it (`presenceWatch`) and again whenever the broker may have missed updates (its
   * subscriber connection came back). Replaces everything the hub knew of other nodes there.
   */
  | { readonly type: 'sync'; readonly channel: string; readonly nodes: ReadonlyMap<string, readonly PresenceEntry[]> }
  /**
   * One node's changes on `channel`, coalesced (at most one per presence interval per node).
   * With `replace`, `join` is that node's whole membership there (a node announcing itself
   * again, or a node that died: `join` empty) and `leave` is empty.
   */
  | { readonly type: 'update'; readonly channel: string; readonly node: string; readonly replace: boolean; readonly join: readonly PresenceEntry[]; readonly leave: readonly string[] };

export interface Broker {
  /** Where publications for this process go; set once by the hub. */
  onPublication(handler: (publication: Publication) => void): void;
  /**
   * Assigns the next offset, keeps the publication in the channel's history (within
   * `options.history`), and delivers it to every process subscribed to the channel or to
   * its pattern, this one included. Resolves with the publication's position once the
   * broker holds it. Rejects `LL_UNAVAILABLE` when it cannot (Redis unreachable).
   * A process gets each publication once, whether it subscribed to the channel, its
   * pattern, or both; the hub finds the local subscribers of each.
   */
  publish(channel: string, payload: PublicationPayload, options: PublishOptions): Promise<ChannelPosition>;
  /** This process wants the publications of `channel`, or of a pattern (`prices:*`). Called once per channel per process. */
  subscribe(channel: string): Promise<void>;
  /** This process no longer wants them. */
  unsubscribe(channel: string): Promise<void>;
  /** The channel's last offset and epoch (offset 0 before its first publication). */
  position(channel: string): Promise<ChannelPosition>;
  /** The publications after `since` in epoch `epoch`, if the history still holds all of them. */
  history(channel: string, since: number, epoch: string): Promise<HistoryResult>;
  /** Releases connections and timers. */
  close(): Promise<void>;
  /**
   * Whether the broker can serve right now (readiness, `GET /readyz`). Absent: always. A
   * networked broker answers false while its connections are down.
   */
  available?(): boolean;

  // ---- presence across processes (optional: a broker without these keeps presence per process) ----

  /** Where other nodes' presence goes; set once by the hub. */
  onPresence?(handler: (event: PresenceEvent) => void): void;
  /**
   * The hub follows the presence of `channel` (which it has subscribed to): the broker
   * reports a `sync` with every other node's members, then their updates. Resolves once the
   * first `sync` was reported, or once it failed (the broker retries, and reports the `sync`
   * when it can); never rejects.
   */
  presenceWatch?(channel: string): Promise<void>;
  /** The hub no longer follows `channel`'s presence. */
  presenceUnwatch?(channel: string): void;
  /**
   * This process's members of `channel` changed: who joined (their first connection here)
   * and who left (their last), coalesced by the hub (one call per channel per presence
   * interval). Never throws: a broker that cannot tell the others now does it when it can.
   */
  presenceUpdate?(channel: string, join: readonly PresenceEntry[], leave: readonly string[]): void;
  /** Every node's members of `channel`, one entry per member id, whether or not this process follows it. */
  presenceSnapshot?(channel: string): Promise<PresenceEntry[]>;
}
