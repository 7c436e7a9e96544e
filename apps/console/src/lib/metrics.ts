/**
 * What the charts draw: round-trip times, and messages per second each way. Fixed-size
 * rings again, so a console left open for a day holds the same few kilobytes.
 */
import { RingBuffer } from './ring-buffer';

export interface RttSample {
  at: number;
  ms: number;
  /** `heartbeat`: a probe answered (or the server's ping in Lifeline mode); `echo`: a message came back. */
  source: 'heartbeat' | 'echo';
}

/** Seconds of message-rate history. */
export const RATE_SECONDS = 120;

export class Metrics {
  readonly rtt = new RingBuffer<RttSample>(600);
  /** Messages in and out per whole second, indexed by `second % RATE_SECONDS`. */
  readonly #inPerSecond = new Float64Array(RATE_SECONDS);
  readonly #outPerSecond = new Float64Array(RATE_SECONDS);
  readonly #secondOf = new Float64Array(RATE_SECONDS).fill(-1);
  /** Messages sent and not yet seen again, for echo servers: key and time, oldest first. */
  #awaitingEcho: { key: string; at: number }[] = [];

  count(direction: 'in' | 'out', at: number): void {
    const second = Math.floor(at / 1000);
    const slot = second % RATE_SECONDS;
    if (this.#secondOf[slot] !== second) {
      this.#secondOf[slot] = second;
      this.#inPerSecond[slot] = 0;
      this.#outPerSecond[slot] = 0;
    }
    (direction === 'in' ? this.#inPerSecond : this.#outPerSecond)[slot]!++;
  }

  /** Per-second counts for the `seconds` whole seconds before `now`, oldest first. */
  rates(now: number, seconds = 60): { in: number[]; out: number[] } {
    const last = Math.floor(now / 1000) - 1;
    const inRates: number[] = [];
    const outRates: number[] = [];
    for (let second = last - seconds + 1; second <= last; second++) {
      const slot = ((second % RATE_SECONDS) + RATE_SECONDS) % RATE_SECONDS;
      const fresh = this.#secondOf[slot] === second;
      inRates.push(fresh ? this.#inPerSecond[slot]! : 0);
      outRates.push(fresh ? this.#outPerSecond[slot]! : 0);
    }
    return { in: inRates, out: outRates };
  }

  addRtt(ms: number, source: RttSample['source'], at = Date.now()): void {
    this.rtt.push({ at, ms, source });
  }

  /** A message left: if it comes back (an echo server), the time it took is a round trip. */
  sent(key: string, at: number): void {
    const queue = this.#awaitingEcho;
    queue.push({ key, at });
    // Servers that do not echo must not grow this: keep the last 256, for 30 s.
    if (queue.length > 256) queue.splice(0, queue.length - 256);
  }

  /** A message arrived: the round trip if it matches one sent in the last 30 s (echoes come back in order; look a little ahead for interleaving). */
  received(key: string, at: number): number | undefined {
    const queue = this.#awaitingEcho;
    while (queue.length && at - queue[0]!.at > 30_000) queue.shift();
    const limit = Math.min(queue.length, 16);
    for (let i = 0; i < limit; i++) {
      if (queue[i]!.key === key) {
        const { at: sentAt } = queue[i]!;
        queue.splice(0, i + 1);
        return at - sentAt;
      }
    }
    return undefined;
  }

  clear(): void {
    this.rtt.clear();
    this.#secondOf.fill(-1);
    this.#awaitingEcho = [];
  }
}
