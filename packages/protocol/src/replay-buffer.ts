/** The bounds a replay buffer is held to (PROTOCOL.md §2.3–2.4). */
export interface ReplayBounds {
  /** Most items held. */
  readonly maxMessages: number;
  /** Most bytes held, as counted by the caller at `push`. */
  readonly maxBytes: number;
  /** Longest an item may wait for its acknowledgement, in ms. */
  readonly maxAge: number;
}

/** Which bound a replay buffer went over. */
export type ReplayBound = keyof ReplayBounds;

/** Compact the arrays once this many freed slots sit at their front and they are at least half of them. */
const COMPACT_AFTER = 1024;

/**
 * The sequenced envelopes a side sent and the peer has not acknowledged yet, in sequence
 * order, to be sent again after a reconnect. Items are pushed with consecutive sequence
 * numbers and freed from the front by cumulative acknowledgements.
 *
 * A deque in three parallel arrays (items, sizes, times) with a head index: `push` appends,
 * `ack` advances the head and clears the freed slots so that their payloads can be
 * collected, and the arrays are compacted only when the freed front is large and at least
 * half of them, which keeps both O(1) amortised without `Array.prototype.shift`. Times and
 * sizes stay unboxed numbers.
 *
 * The buffer knows nothing about the wire: `T` is whatever the caller wants to send again
 * (an encoded frame, or the envelope), `bytes` whatever it counts, `now` whatever clock it
 * keeps (ms).
 */
export class ReplayBuffer<T> {
  #items: (T | undefined)[] = [];
  #sizes: number[] = [];
  #times: number[] = [];
  #head = 0;
  #bytes = 0;
  #lastSeq: number;

  /** @param lastSeq the sequence number sent last before this buffer (0 for a new session). */
  constructor(lastSeq = 0) {
    if (!Number.isSafeInteger(lastSeq) || lastSeq < 0) throw new RangeError(`lastSeq must be an integer >= 0, not ${lastSeq}`);
    this.#lastSeq = lastSeq;
  }

  /** Items held. */
  get count(): number {
    return this.#items.length - this.#head;
  }

  /** Bytes held, the sum of what `push` was told. */
  get bytes(): number {
    return this.#bytes;
  }

  /** When the oldest item held was pushed, or `undefined` when none is. */
  get oldestAt(): number | undefined {
    return this.count === 0 ? undefined : this.#times[this.#head];
  }

  /** The sequence number pushed last (the constructor's `lastSeq` before any push). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Everything up to here is acknowledged and freed: `lastSeq − count`. */
  get acked(): number {
    return this.#lastSeq - this.count;
  }

  /**
   * Holds `item`, sent with sequence number `seq`, which must be `lastSeq + 1`; `bytes` is
   * its size as the caller counts it, `now` the time it was sent.
   */
  push(seq: number, item: T, bytes: number, now: number): void {
    if (seq !== this.#lastSeq + 1) throw new RangeError(`replay buffer: pushed seq ${seq}, expected ${this.#lastSeq + 1}`);
    this.#items.push(item);
    this.#sizes.push(bytes);
    this.#times.push(now);
    this.#bytes += bytes;
    this.#lastSeq = seq;
  }

  /**
   * Frees every item with a sequence number up to `upTo` (cumulative) and returns how many
   * were freed. A stale acknowledgement (at or below `acked`) frees nothing. One above
   * `lastSeq` acknowledges something never sent: the caller should treat it as a protocol
   * error (1002) before calling; here it frees everything held.
   */
  ack(upTo: number): number {
    const freed = Math.min(upTo - this.acked, this.count);
    if (!(freed > 0)) return 0;
    const items = this.#items;
    const sizes = this.#sizes;
    const end = this.#head + freed;
    let bytes = 0;
    for (let i = this.#head; i < end; i++) {
      bytes += sizes[i]!;
      items[i] = undefined;
    }
    this.#bytes -= bytes;
    this.#head = end;
    if (end === items.length) this.#clear();
    else if (end >= COMPACT_AFTER && end * 2 >= items.length) this.#compact();
    return freed;
  }

  /** Whether every item after `seq` is still held, so that a peer that received up to `seq` can be caught up. */
  holdsAfter(seq: number): boolean {
    return Number.isInteger(seq) && seq >= this.acked && seq <= this.#lastSeq;
  }

  /**
   * The items with sequence numbers above `seq`, in order: what to send again to a peer that
   * received up to `seq`. Throws a RangeError at once unless {@link holdsAfter}(seq).
   * Do not push or ack while iterating.
   */
  itemsAfter(seq: number): IterableIterator<T> {
    const first = this.#firstIndexAfter(seq);
    return (function* (items: readonly (T | undefined)[]) {
      for (let i = first; i < items.length; i++) yield items[i] as T;
    })(this.#items);
  }

  /** Like {@link itemsAfter}, with each item's sequence number: `[seq, item]`. */
  entriesAfter(seq: number): IterableIterator<[number, T]> {
    const first = this.#firstIndexAfter(seq);
    return (function* (items: readonly (T | undefined)[]) {
      for (let i = first, s = seq + 1; i < items.length; i++, s++) yield [s, items[i] as T];
    })(this.#items);
  }

  /** The first bound the buffer is over, checked in the order messages, bytes, age; or `undefined`. */
  exceeded(bounds: ReplayBounds, now: number): ReplayBound | undefined {
    const count = this.count;
    if (count > bounds.maxMessages) return 'maxMessages';
    if (this.#bytes > bounds.maxBytes) return 'maxBytes';
    if (count > 0 && now - this.#times[this.#head]! > bounds.maxAge) return 'maxAge';
    return undefined;
  }

  /** Drops everything held (a reset session); returns how many items were dropped. `lastSeq` stays. */
  clear(): number {
    const dropped = this.count;
    this.#clear();
    return dropped;
  }

  #firstIndexAfter(seq: number): number {
    if (!this.holdsAfter(seq)) {
      throw new RangeError(`replay buffer holds ${this.acked + 1}..${this.#lastSeq}; cannot replay after ${seq}`);
    }
    return this.#head + (seq - this.acked);
  }

  #clear(): void {
    this.#items.length = 0;
    this.#sizes.length = 0;
    this.#times.length = 0;
    this.#head = 0;
    this.#bytes = 0;
  }

  #compact(): void {
    const head = this.#head;
    this.#items.splice(0, head);
    this.#sizes.splice(0, head);
    this.#times.splice(0, head);
    this.#head = 0;
  }
}
