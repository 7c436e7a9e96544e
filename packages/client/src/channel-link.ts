/**
 * The seam between a Lifeline session (lifeline.ts) and channels (channels.ts, the entry
 * point `@lifeline/client/channels`). The session routes channel traffic through it, so that
 * an application that uses Lifeline mode without channels does not bundle them, as with
 * `@lifeline/client/msgpack`. Internal: applications never see these types.
 */
import type { PresenceEnvelope, PublicationEnvelope, ResponseError } from '@lifeline/protocol';

/** What channels need from the session. */
export interface ChannelLink {
  /** A welcome arrived on an open transport: requests go out now. */
  readonly connected: boolean;
  /** The current connection resumed the session (rather than starting one). */
  readonly resumed: boolean;
  /**
   * A request whose outcome is reported synchronously, as its answer is read (or when it
   * fails): the publications that follow an answer on the wire must find it applied.
   */
  call(name: string, data: unknown, done: (error: Error | undefined, value?: unknown) => void): void;
}

/** What the session hands to channels. */
export interface ChannelSink {
  /** A `p` envelope. */
  publication(p: PublicationEnvelope): void;
  /** A `pr` envelope. */
  presence(pr: PresenceEnvelope): void;
  /**
   * A request from the server with a reserved name (`$subscribed`, …): the error to answer
   * with, or undefined to answer `null`. `stale`: it arrived before the channels were
   * attached, so the publications that followed it were not seen.
   */
  reserved(name: string, data: unknown, stale?: boolean): ResponseError | undefined;
  /** A welcome: before the client is `open`. */
  welcome(): void;
  /** The transport is gone. */
  detached(): void;
}

/** A session that channels can attach to. */
export interface ChannelHost {
  /** Attaches the sink `make` builds, the first time; later calls return the same one. */
  channels<S extends ChannelSink>(make: (link: ChannelLink) => S): S;
}

/** The session of each Lifeline-mode client, keyed by the client the application holds. */
export const channelHosts = new WeakMap<object, ChannelHost>();
