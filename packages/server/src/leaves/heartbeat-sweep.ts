/**
 * One timer for every connection instead of one per connection: each sweep looks at how
 * long every socket has been silent. A socket silent for `interval` gets a protocol ping;
 * one silent for `timeout` is terminated. Any inbound byte counts as life, so a busy
 * connection is never pinged, let alone timed out.
 *
 * Life is read from the TCP socket's byte counter at each sweep, so the data path pays
 * nothing per chunk. A counter that moved since the previous sweep means the last byte
 * came between that sweep and this one, and the sweep keeps both ends of that window:
 * - `lastSeen` (this sweep) is never earlier than the real last byte, and decides
 *   termination, so a peer is never cut off early: it is cut off between `timeout` and
 *   `timeout + 2 × period` after its last byte (45–55 s by default);
 * - `heardAfter` (the previous sweep) is never later than it, and decides pings, so an
 *   idle peer is pinged every `interval` to `interval + period` (25–30 s by default),
 *   often enough for proxies and NATs that drop connections idle for 30 s or more.
 * The period is `min(interval, timeout − interval) / 4` (5 s by default).
 *
 * A target that measures round trips with its pings (a Lifeline link: browsers see no
 * protocol pings, so the server measures and reports the RTT) also gets one when busy, if
 * no round trip was measured for `interval`: otherwise a streaming client would never
 * learn its RTT.
 */
export interface SweepTarget {
  /** Bytes received so far on the connection (monotonic). */
  readonly bytesRead: number;
  /** bytesRead when the sweep last looked. */
  lastBytesRead: number;
  /** Date.now() of the sweep that last saw bytesRead move (or of the connect): the latest the last byte can have come. */
  lastSeen: number;
  /** Date.now() of the sweep before that one (or of the connect): the earliest the last byte can have come. */
  heardAfter: number;
  /** Date.now() of the last ping sent, 0 if none. */
  lastPing: number;
  /** True while the application has paused reading: the peer cannot be heard, so it is not judged. */
  readonly readingPaused: boolean;
  /** Date.now() of the last round trip measured by a ping; only on targets that measure them. */
  readonly rttMeasuredAt?: number;
  ping(): void;
  terminateSilent(silentForMs: number): void;
}

export class HeartbeatSweep {
  readonly period: number;
  private timer: NodeJS.Timeout | undefined;
  private previous = 0;

  constructor(
    private readonly targets: Iterable<SweepTarget>,
    readonly interval: number,
    readonly timeout: number,
  ) {
    this.period = Math.max(25, Math.min(interval, timeout - interval) / 4);
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
      if (read !== target.lastBytesRead || target.readingPaused) {
        target.lastBytesRead = read;
        target.heardAfter = Math.max(target.lastSeen, this.previous);
        target.lastSeen = now;
        const measured = target.rttMeasuredAt;
        if (measured !== undefined && now - measured >= this.interval && now - target.lastPing >= this.interval) {
          target.lastPing = now;
          target.ping();
        }
        continue;
      }
      const silent = now - target.lastSeen;
      if (silent >= this.timeout) {
        target.terminateSilent(silent);
      } else if (now - target.heardAfter >= this.interval && target.lastPing <= target.heardAfter) {
        target.lastPing = now;
        target.ping();
      }
    }
    this.previous = now;
  }
}
