/**
 * One timer for every connection instead of one per connection: each sweep looks at how
 * long every socket has been silent. A socket silent for `interval` gets a protocol ping;
 * one silent for `timeout` is terminated. Any inbound byte counts as life, so a busy
 * connection is never pinged, let alone timed out.
 *
 * Life is read from the TCP socket's byte counter at each sweep, so the data path pays
 * nothing per chunk: a socket whose counter moved since the last sweep was heard "now".
 * That stamp is never earlier than the real last byte, so a peer is never cut off early;
 * it is cut off between `timeout` and `timeout + 2 × period` after its last byte, where
 * the sweep period is `min(interval, timeout − interval) / 2` (45–65 s by default).
 */
export interface SweepTarget {
  /** Bytes received so far on the connection (monotonic). */
  readonly bytesRead: number;
  /** bytesRead when the sweep last looked. */
  lastBytesRead: number;
  /** Date.now() of the sweep that last saw bytesRead move (or of the connect). */
  lastSeen: number;
  /** Date.now() of the last ping sent, 0 if none. */
  lastPing: number;
  /** True while the application has paused reading: the peer cannot be heard, so it is not judged. */
  readonly readingPaused: boolean;
  ping(): void;
  terminateSilent(silentForMs: number): void;
}

export class HeartbeatSweep {
  readonly period: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly targets: Iterable<SweepTarget>,
    readonly interval: number,
    readonly timeout: number,
  ) {
    this.period = Math.max(50, Math.min(interval, timeout - interval) / 2);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(Date.now()), this.period);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  sweep(now: number): void {
    for (const target of this.targets) {
      const read = target.bytesRead;
      if (read !== target.lastBytesRead) {
        target.lastBytesRead = read;
        target.lastSeen = now;
        continue;
      }
      if (target.readingPaused) {
        target.lastSeen = now;
        continue;
      }
      const silent = now - target.lastSeen;
      if (silent >= this.timeout) {
        target.terminateSilent(silent);
      } else if (silent >= this.interval && target.lastPing <= target.lastSeen) {
        target.lastPing = now;
        target.ping();
      }
    }
  }
}
