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

/** Presence across the processes that share a broker. */
export interface PresenceEntry {
  readonly id: string;
  readonly info?: unknown;
}

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
}
