/**
 * The connection side of a Lifeline session's Socket: a session outlives its connections, so
 * what the Socket asks of "its connection" is answered by whichever Link carries the session
 * now, and by nothing while its client is away. That is the channel Subscriber the session
 * is to the hub (publications, backlog, drain, the slow-subscriber close; PROTOCOL.md §3),
 * and reading paused while the handler is behind. session.ts moves the session between links.
 */
import type { ChannelPosition } from '@lifeline/protocol';
import type { WireFormat } from '../channels/hub.js';
import { Socket } from '../connection/socket.js';
import { PauseReason, type SharedFrame } from '../transport/transport.js';
import type { Codec } from './codec.js';
import type { Link } from './link.js';
import type { SharedSession } from './shared-session.js';

export abstract class LinkedSocket extends Socket {
  /** @internal The link the session is on; null while its client is away. */
  link: Link | null = null;
  /** @internal */ abstract readonly codec: Codec;
  /** @internal With a shared store: nothing is seen before it is stored (shared-session.ts). */
  abstract readonly shared: SharedSession | undefined;

  /** True while a connection carries the session. */
  get connected(): boolean {
    return this.link !== null;
  }

  get bufferedAmount(): number {
    return this.link?.transport.bufferedAmount ?? 0;
  }

  // ---- channels: publications travel outside the numbered stream (PROTOCOL.md §3) -------

  /** @internal Subscriber */
  get format(): WireFormat {
    return this.codec.format;
  }

  /** @internal Subscriber: written to the current connection; while there is none, the client recovers it with `since`. */
  writeFrame(frame: string | Uint8Array, _binary: boolean, sharedFrame?: SharedFrame): void {
    const link = this.link;
    if (link === null) return;
    // With a shared store, numbered envelopes wait to be stored; a publication must not pass them.
    if (this.shared !== undefined && this.shared.holdsPublication(frame, sharedFrame)) return;
    link.writePublication(frame, sharedFrame);
  }

  /** @internal Subscriber */
  get backlog(): number {
    return this.link?.backlog ?? 0;
  }

  /** @internal Subscriber */
  whenDrained(callback: () => void): void {
    if (this.link === null) queueMicrotask(callback);
    else this.link.transport.whenDrained(callback);
  }

  /** @internal Subscriber: the connection closes; the session stays, and its client resumes and re-subscribes with `since`. */
  closeSlow(reason: string): void {
    this.link?.closeWith(1013, reason);
  }

  /** @internal The client learns about subscriptions the server made, exactly once (a request). */
  protected subscribedByServer(channel: string, position: ChannelPosition, presence: boolean): void {
    const d = { ch: channel, o: position.offset, ep: position.epoch, ...(presence ? { presence: true } : {}) };
    this.request('$subscribed', d).catch(() => {});
  }

  /** @internal */
  protected unsubscribedByServer(channel: string): void {
    this.request('$unsubscribed', { ch: channel }).catch(() => {});
  }

  // ---- reading pauses with the handler's queue, on whichever link the session is --------

  /** @internal */
  protected get readingCanPause(): boolean {
    return this.link?.transport.capabilities.pauseReading ?? true;
  }

  /** @internal */
  protected setReadPaused(paused: boolean): void {
    const transport = this.link?.transport;
    if (transport === undefined) return;
    if (paused) transport.pauseReading(PauseReason.inbox);
    else transport.resumeReading(PauseReason.inbox);
  }
}
