import type { LifelineError } from '@lifeline/protocol';
import type { JournalFrame, SessionJournal } from './session-store.js';

/** What a durable session exposes to its journal writer. */
export interface DurableHost {
  /** The last server envelope numbered. */
  readonly lastSeq: number;
  /** The last server envelope the client acknowledged. */
  readonly acked: number;
  /** The encoded server envelopes after `seq` (which must be ≥ `acked`), in order. */
  framesAfter(seq: number): Iterable<JournalFrame>;
  /** The store holds every server envelope up to `seq` and the client's up to `rx`: they may now be seen. */
  stored(seq: number, rx: number): void;
  /** Another node claimed the session: this node must let go of it. */
  moved(): void;
  /** The store has been unreachable for longer than the bound: the session must end. */
  unreachable(forMs: number): void;
  /** For the log. */
  journalError(error: Error, attempt: number): void;
}

/** Retries while the store is unreachable: 50 ms doubling to 1 s. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1_000;
/** How often a hand-off checks whether everything is stored. */
const IDLE_POLL_MS = 2;

/**
 * Keeps one session's shared copy a step ahead of the world (PROTOCOL.md §2.7): every server
 * envelope is stored before it is written to the connection, and every client envelope is
 * stored (as the session's `rx`) before the handler sees it. So whatever a client has seen
 * or has had acknowledged, any node that claims the session next also has; nothing is
 * replayed twice to a handler, and nothing acknowledged is lost when a node dies.
 *
 * Writes are batched: one append per session in flight, carrying everything that
 * accumulated meanwhile, so a busy session costs one store round trip per batch, not per
 * message.
 */
export class SessionDurability {
  /** Server envelopes up to here are in the store. */
  storedSeq: number;
  /** Client envelopes up to here are in the store (as `rx`). */
  storedRx: number;
  /** Client envelopes accepted up to here: stored or waiting for the append in flight. */
  acceptedRx: number;
  /** The client's acknowledgement the store holds (a resume below it is refused on every node). */
  private storedAcked: number;
  private full: boolean;
  private writing = false;
  private flushQueued = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private failingSince = 0;
  private attempts = 0;
  private stopped = false;
  /** Another node claimed the session: no new appends; the one in flight still settles. */
  private releasing = false;
  /** The next append goes out even with nothing new: it finds out whether the store still has the session. */
  private checking = false;

  constructor(
    readonly journal: SessionJournal,
    private readonly host: DurableHost,
    from: { seq: number; rx: number },
    /** The store does not hold the session yet: the first append carries all of it. */
    isNew: boolean,
    /** How long the store may stay unreachable before the session ends, in ms. */
    private readonly unreachableFor: number,
  ) {
    this.storedSeq = from.seq;
    this.storedRx = from.rx;
    this.acceptedRx = from.rx;
    this.storedAcked = host.acked;
    this.full = isNew;
    if (isNew) this.schedule();
  }

  /** Something new to store: an append goes out after this turn (or after the one in flight). */
  schedule(): void {
    if (this.flushQueued || this.writing || this.retryTimer !== undefined || this.stopped || this.releasing) return;
    this.flushQueued = true;
    process.nextTick(flushDurability, this);
  }

  /**
   * Another node claimed the session. An append in flight may still have landed before the
   * claim: its client envelopes are then in the new owner's `rx`, and only this node can
   * deliver them. So the session lets go (`host.moved()`) once that append has settled.
   */
  release(): void {
    if (this.stopped || this.releasing) return;
    this.releasing = true;
    if (!this.writing) this.host.moved();
  }

  /** Stops writing (the session ended or moved); an append in flight finishes unobserved. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** The store may have lost the session (it was unreachable): an append goes out to find out, and restates it if so. */
  check(): void {
    this.checking = true;
    // A retry waiting out its backoff goes now: the store is back.
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.schedule();
  }

  /** The store lost the session (Redis restarted without its data): the next append restates all of it. */
  restate(): void {
    this.full = true;
    this.schedule();
  }

  /** Nothing waits to be stored. */
  get idle(): boolean {
    return !this.writing && this.storedSeq === this.host.lastSeq && this.storedRx === this.acceptedRx && this.storedAcked === this.host.acked;
  }

  /** Resolves true once nothing waits to be stored, or false after `timeout` ms (or if writing stopped). */
  async whenIdle(timeout: number): Promise<boolean> {
    const deadline = Date.now() + timeout;
    while (!this.idle) {
      if (this.stopped || Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, IDLE_POLL_MS));
    }
    return true;
  }

  /** @internal */
  flush(): void {
    this.flushQueued = false;
    if (this.stopped || this.writing || this.releasing) return;
    const host = this.host;
    const lastSeq = host.lastSeq;
    const rx = this.acceptedRx;
    const acked = host.acked;
    if (!this.full && !this.checking && lastSeq === this.storedSeq && rx === this.storedRx && acked === this.storedAcked) return;
    this.checking = false;
    const full = this.full;
    // A full append restates every unacknowledged envelope; a normal one adds the new ones.
    const from = full ? acked : this.storedSeq;
    const frames = [...host.framesAfter(from)];
    this.writing = true;
    this.journal.append({ rx, acked, firstSeq: from + 1, frames }, full).then(
      () => this.appended(lastSeq, rx, acked, full),
      (error: unknown) => this.failed(error as LifelineError),
    );
  }

  private appended(seq: number, rx: number, acked: number, full: boolean): void {
    this.writing = false;
    if (this.stopped) return;
    if (full) this.full = false;
    this.failingSince = 0;
    this.attempts = 0;
    this.storedSeq = seq;
    this.storedRx = rx;
    this.storedAcked = acked;
    this.host.stored(seq, rx);
    if (this.releasing) {
      this.host.moved();
      return;
    }
    if (this.host.lastSeq !== this.storedSeq || this.acceptedRx !== this.storedRx || this.host.acked !== this.storedAcked) this.schedule();
  }

  private failed(error: LifelineError): void {
    this.writing = false;
    if (this.stopped) return;
    if (error.code === 'LL_SESSION_MOVED' || this.releasing) {
      this.stop();
      this.host.moved();
      return;
    }
    if (error.code === 'LL_SESSION_LOST') {
      // The store forgot the session (Redis restarted without its data): store all of it again.
      this.full = true;
      this.schedule();
      return;
    }
    const now = Date.now();
    if (this.failingSince === 0) this.failingSince = now;
    this.attempts++;
    this.host.journalError(error, this.attempts);
    if (now - this.failingSince >= this.unreachableFor) {
      this.stop();
      this.host.unreachable(now - this.failingSince);
      return;
    }
    // The append may have landed before the error (a timeout); the store skips what it has.
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.attempts - 1));
    this.retryTimer = setTimeout(retryDurability, delay, this);
    this.retryTimer.unref();
  }

  /** @internal */
  retry(): void {
    this.retryTimer = undefined;
    this.flush();
  }
}

function flushDurability(durability: SessionDurability): void {
  durability.flush();
}

function retryDurability(durability: SessionDurability): void {
  durability.retry();
}
