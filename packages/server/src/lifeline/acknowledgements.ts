/**
 * A session's inbound side of the numbered stream (PROTOCOL.md §2.3): each numbered client
 * envelope is judged against the inbound sequence (deliver, duplicate or gap), and the
 * acknowledgement it earns goes out as an `a` envelope on the session's link — after this
 * turn's replies, which may carry it as their `a`, once ackEvery envelopes are pending, or
 * when the oldest pending one is ackDelay old. The session keeps the InboundSequence too:
 * its sends read the pending acknowledgement to let it ride along (outbound.ts).
 */
import type { InboundSequence, InboundVerdict } from '@lifeline/protocol';
import type { Link } from './link.js';

/** What the acknowledgements need of their session: the link it is on, if any. */
export interface AckParty {
  readonly link: Link | null;
}

export class Acknowledgements {
  private timer: NodeJS.Timeout | undefined;
  private flushQueued = false;

  constructor(
    private readonly session: AckParty,
    /** The client's numbered envelopes: delivered, duplicate or gap; the acknowledgement due. */
    readonly inbound: InboundSequence,
  ) {}

  /** Judges the numbered client envelope `s`, received at `now`; unless it is a gap, its acknowledgement is scheduled. */
  receive(s: number, now: number): InboundVerdict {
    const inbound = this.inbound;
    const verdict = inbound.receive(s, now);
    if (verdict === 'gap') return verdict;
    if (inbound.needsAck(now)) {
      if (!this.flushQueued) {
        this.flushQueued = true;
        process.nextTick(flushAcks, this); // after this turn's replies, which may carry it
      }
    } else if (this.timer === undefined) {
      this.timer = setTimeout(ackTimerFired, inbound.ackDelay, this);
      this.timer.unref();
    }
    return verdict;
  }

  /** Sends the pending acknowledgement now, if the session is on a link. */
  flush(): void {
    this.clear();
    this.flushQueued = false;
    const link = this.session.link;
    if (link === null) return;
    const a = this.inbound.takeAck();
    if (a !== undefined) link.sendEnvelope({ t: 'a', a });
  }

  /** Disarms the timer (the link closed, or the session ended). */
  clear(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * The timer stays armed when a reply carries the acknowledgement (re-arming per message
   * costs more than the ack). When it fires, what is pending may be younger than the delay:
   * wait for the rest of it rather than acknowledge early.
   */
  timerDue(): void {
    this.timer = undefined;
    const due = this.inbound.ackDueAt();
    if (due === undefined) return;
    const wait = due - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(ackTimerFired, wait, this);
      this.timer.unref();
    } else this.flush();
  }
}

function flushAcks(acks: Acknowledgements): void {
  acks.flush();
}

function ackTimerFired(acks: Acknowledgements): void {
  acks.timerDue();
}
