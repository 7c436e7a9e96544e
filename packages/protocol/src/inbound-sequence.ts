/** Acknowledge after this many received sequenced envelopes at the latest (PROTOCOL.md §2.3). */
export const ACK_EVERY = 64;
/** Acknowledge this many ms after the first unacknowledged one at the latest (PROTOCOL.md §2.3). */
export const ACK_DELAY_MS = 50;

/** What to do with a received sequenced envelope. */
export type InboundVerdict =
  /** the next one: deliver it to the application */
  | 'deliver'
  /** seen before (a replay overlap): drop it, but acknowledge */
  | 'duplicate'
  /** one or more are missing before it: a protocol error (1002) */
  | 'gap';

export interface InboundSequenceOptions {
  /** The last sequence number already delivered (0 for a new session). */
  delivered?: number;
  /** Acknowledge after this many received envelopes (default {@link ACK_EVERY}). */
  ackEvery?: number;
  /** Acknowledge this long (ms) after the first unacknowledged one (default {@link ACK_DELAY_MS}). */
  ackDelay?: number;
}

/**
 * The receiving half of one direction of a session: decides, for each sequenced envelope
 * that arrives, whether to deliver it, drop it as a duplicate, or close for a gap, and
 * when a cumulative acknowledgement is due. It keeps no timers: the caller asks
 * {@link needsAck} when it has a chance to send, and arms one timer for {@link ackDueAt}.
 *
 * Every received envelope, duplicates included, counts towards the next acknowledgement;
 * an acknowledgement carries {@link delivered}. Taking it ({@link takeAck}) starts a new
 * batch; do so whenever an `a` goes out, on a sequenced envelope or alone, and when `rx` is
 * sent in a `hello` or `welcome` (which acknowledges as much).
 */
export class InboundSequence {
  readonly ackEvery: number;
  readonly ackDelay: number;
  #delivered: number;
  #acked: number;
  #pending = 0;
  #firstPendingAt = 0;

  constructor(options: InboundSequenceOptions = {}) {
    const { delivered = 0, ackEvery = ACK_EVERY, ackDelay = ACK_DELAY_MS } = options;
    if (!Number.isSafeInteger(delivered) || delivered < 0) throw new RangeError(`delivered must be an integer >= 0, not ${delivered}`);
    if (!Number.isInteger(ackEvery) || ackEvery < 1) throw new RangeError(`ackEvery must be an integer >= 1, not ${ackEvery}`);
    if (!(ackDelay >= 0)) throw new RangeError(`ackDelay must be >= 0, not ${ackDelay}`);
    this.#delivered = delivered;
    this.#acked = delivered;
    this.ackEvery = ackEvery;
    this.ackDelay = ackDelay;
  }

  /** The last sequence number delivered: `rx` in a `hello` or `welcome`, `a` in an acknowledgement. */
  get delivered(): number {
    return this.#delivered;
  }

  /** The value of the last acknowledgement taken. */
  get acked(): number {
    return this.#acked;
  }

  /** Envelopes received (delivered or duplicate) since the last acknowledgement was taken. */
  get pending(): number {
    return this.#pending;
  }

  /** Judges the envelope with sequence number `seq` (an integer ≥ 1), received at `now` (ms). A gap changes nothing. */
  receive(seq: number, now: number): InboundVerdict {
    if (seq > this.#delivered + 1) return 'gap';
    if (this.#pending++ === 0) this.#firstPendingAt = now;
    if (seq <= this.#delivered) return 'duplicate';
    this.#delivered = seq;
    return 'deliver';
  }

  /** Whether an acknowledgement is due: {@link ackEvery} envelopes pending, or the oldest pending for {@link ackDelay} ms. */
  needsAck(now: number): boolean {
    return this.#pending > 0 && (this.#pending >= this.ackEvery || now - this.#firstPendingAt >= this.ackDelay);
  }

  /** When the pending envelopes' acknowledgement falls due by time (ms), or `undefined` when none is pending. */
  ackDueAt(): number | undefined {
    return this.#pending === 0 ? undefined : this.#firstPendingAt + this.ackDelay;
  }

  /**
   * The acknowledgement to send now, if anything is pending: {@link delivered}, to put in
   * `a` (or `rx`); `undefined` when nothing was received since the last one. Ends the batch.
   */
  takeAck(): number | undefined {
    if (this.#pending === 0) return undefined;
    this.#pending = 0;
    this.#acked = this.#delivered;
    return this.#delivered;
  }

  /** Ends the batch because `rx` = {@link delivered} went out in a `hello` or `welcome`. */
  acknowledgedByRx(): void {
    this.#pending = 0;
    this.#acked = this.#delivered;
  }
}
