/**
 * A session on a shared store (PROTOCOL.md §2.7), on the wire side: nothing is seen before
 * it is stored. Server envelopes reach the connection once the journal holds them, client
 * envelopes reach the handler once the journal holds `rx` past them, and publications that
 * arrive meanwhile wait behind the numbered envelopes before them. Also the hand-over: to
 * another node that asked for the session, or at shutdown. The journal writer itself is
 * session-durability.ts. A session without a shared store has none of this.
 */
import { EnvelopeError, type InboundSequence, type ReplayBuffer, type SequencedEnvelope } from '@lifeline/protocol';
import type { LogFields } from '../leaves/logger.js';
import { joinPieces } from '../transport/frame.js';
import { BinaryFrame } from './binary-form.js';
import type { SharedFrame } from '../transport/transport.js';
import { sizeOfFrame, type Frame } from './codec.js';
import type { Link } from './link.js';
import { SessionDurability, type DurableHost } from './session-durability.js';
import type { JournalFrame, SessionEndReason, SessionJournal } from './session-store.js';

/** What the shared side needs of its session. */
export interface SharedParty {
  readonly replay: ReplayBuffer<Frame>;
  readonly inbound: InboundSequence;
  /** The connection the session is on, if any. */
  readonly link: Link | null;
  readonly isOpen: boolean;
  /** Hands a numbered client envelope to the handler (or drops a duplicate), and schedules the acknowledgement. */
  deliverEnvelope(envelope: SequencedEnvelope, link: Link | null, now: number): void;
  /** Ends the session here, leaving it in the store (its connection closes with `code`). */
  endHere(code: number, reason: string): void;
  /** A send that was never stored: reported as `drop` with reason `moved`. */
  droppedUnstored(): void;
  sharedLog(level: 'info' | 'error', event: string, fields?: LogFields): void;
}

export class SharedSession implements DurableHost {
  readonly durability: SessionDurability;
  /** The server envelopes written to the current link, up to here. */
  private writtenSeq: number;
  /** Client envelopes accepted but not yet stored, in order; delivered once stored. */
  private readonly unstored: SequencedEnvelope[] = [];
  /** Publications that arrived while numbered envelopes waited to be stored, each behind the last of them. */
  private publicationsWaiting: { afterSeq: number; frame: string | Uint8Array; shared: SharedFrame | undefined }[] | undefined;
  /** Another node asked for the session and this node is letting go. */
  private handingOver = false;
  /** Resumes of this session here that the store is confirming (route.ts). */
  confirming = 0;

  constructor(
    private readonly session: SharedParty,
    journal: SessionJournal,
    /** The store does not hold the session yet: the first append carries all of it. */
    isNew: boolean,
    unreachableFor: number,
  ) {
    const from = { seq: session.replay.lastSeq, rx: session.inbound.delivered };
    this.writtenSeq = from.seq;
    this.durability = new SessionDurability(journal, this, from, isNew, unreachableFor);
  }

  get journal(): SessionJournal {
    return this.durability.journal;
  }

  /** The last server envelope the store holds: what a client may have seen. */
  get storedSeq(): number {
    return this.durability.storedSeq;
  }

  // ---- DurableHost: what the journal writer sees of the session --------------------------

  get lastSeq(): number {
    return this.session.replay.lastSeq;
  }

  get acked(): number {
    return this.session.replay.acked;
  }

  /**
   * The frames after `seq`, for the store: a frame in pieces joined into one, and one in the
   * binary form (PROTOCOL.md §2.8) as its text form, which any link may be sent after a claim.
   */
  *framesAfter(seq: number): Iterable<JournalFrame> {
    for (const frame of this.session.replay.itemsAfter(seq)) {
      yield frame instanceof BinaryFrame ? frame.text() : Array.isArray(frame) ? joinPieces(frame) : (frame as string | Uint8Array);
    }
  }

  /** The store holds the server's envelopes up to `seq` and the client's up to `rx`. */
  stored(seq: number, rx: number): void {
    const session = this.session;
    const { link, replay } = session;
    const waiting = this.publicationsWaiting;
    let next = 0; // the first waiting publication not yet written
    if (link !== null && seq > this.writtenSeq) {
      for (const [s, frame] of replay.entriesAfter(Math.max(this.writtenSeq, replay.acked))) {
        if (s > seq) break;
        while (waiting !== undefined && next < waiting.length && waiting[next]!.afterSeq < s) link.writePublication(waiting[next]!.frame, waiting[next++]!.shared);
        link.write(frame, sizeOfFrame(frame));
      }
    }
    if (seq > this.writtenSeq) this.writtenSeq = seq;
    if (waiting !== undefined) {
      while (link !== null && next < waiting.length && waiting[next]!.afterSeq <= seq) link.writePublication(waiting[next]!.frame, waiting[next++]!.shared);
      if (next === waiting.length) this.publicationsWaiting = undefined;
      else waiting.splice(0, next);
    }
    const unstored = this.unstored;
    let delivered = 0;
    const now = Date.now();
    while (delivered < unstored.length && unstored[delivered]!.s <= rx && session.isOpen) session.deliverEnvelope(unstored[delivered++]!, null, now);
    unstored.splice(0, delivered);
  }

  moved(): void {
    this.endMoved();
  }

  /** The shared store stayed unreachable: what was not stored cannot be promised, so the session ends. */
  unreachable(forMs: number): void {
    this.session.sharedLog('error', 'session-store-unreachable', { forMs });
    this.session.endHere(1011, `session store unreachable for ${forMs} ms`);
  }

  journalError(error: Error, attempt: number): void {
    if (attempt === 1 || attempt % 20 === 0) this.session.sharedLog('error', 'session-store-write-failed', { attempt, error: error.message });
  }

  // ---- the session's side ----------------------------------------------------------------

  /** A numbered envelope was added to the replay buffer: it reaches the wire once stored. */
  sent(): void {
    this.durability.schedule();
  }

  /** The client acknowledged something: the store holds acknowledgements too, so that every node refuses a resume below them. */
  acknowledged(): void {
    this.durability.schedule();
  }

  /** The session is on a new link: what the store holds may be seen, the rest follows once stored. Returns the last of it. */
  attached(): number {
    const upTo = this.durability.storedSeq;
    this.writtenSeq = upTo;
    // Publications meant for the old connection: the client re-subscribes from its position after this welcome.
    this.publicationsWaiting = undefined;
    return upTo;
  }

  /** A publication must not pass numbered envelopes still waiting to be stored (a `$subscribe` answer precedes what it recovers): true if it waits. */
  holdsPublication(frame: string | Uint8Array, shared: SharedFrame | undefined): boolean {
    const lastSeq = this.session.replay.lastSeq;
    if (this.writtenSeq >= lastSeq) return false;
    (this.publicationsWaiting ??= []).push({ afterSeq: lastSeq, frame, shared });
    return true;
  }

  /** A client envelope waits until the store holds `rx` past it, then is delivered. */
  hold(envelope: SequencedEnvelope, link: Link): void {
    const durability = this.durability;
    const s = envelope.s;
    if (s > durability.acceptedRx + 1) {
      link.fail(new EnvelopeError(1002, `${envelope.t}.s: sequence gap, expected ${durability.acceptedRx + 1}`));
      return;
    }
    if (s <= this.session.inbound.delivered) this.session.deliverEnvelope(envelope, link, Date.now()); // a duplicate: acknowledged again
    if (s <= durability.acceptedRx) return; // delivered, or held already (a resend after a resume)
    durability.acceptedRx = s;
    this.unstored.push(envelope);
    durability.schedule();
  }

  /** The session ended: stop writing; unless it stays in the store (moved, handed off), the store forgets it. */
  ended(why: SessionEndReason | undefined, keepStored: boolean): void {
    const durability = this.durability;
    durability.stop();
    this.unstored.length = 0;
    if (!keepStored) {
      durability.journal.end(why).catch((error: unknown) => {
        this.session.sharedLog('error', 'session-store-end-failed', { error: (error as Error).message });
      });
    }
  }

  /**
   * Another node claimed the session (it resumed there): this copy ends without touching
   * the store, once an append in flight has settled. The handler hears close 4000; a
   * connection still here closes with it.
   */
  movedAway(): void {
    this.durability.release(); // calls back moved() once an append in flight has settled
  }

  /** The session ends here for good: what was sent but never stored is reported as dropped, not lost silently. */
  endMoved(): void {
    if (!this.session.isOpen) return;
    const unstored = this.endStored(4000, 'session moved to another node');
    this.session.sharedLog('info', 'session-moved', { unstored: unstored || undefined });
  }

  /**
   * Shutdown: once the store holds everything accepted (or after `timeout` ms), the
   * connection closes with `code` and the session ends here but stays in the store, so
   * that its client resumes it on another node.
   */
  async handOff(code: number, reason: string, timeout: number): Promise<void> {
    // Released, so that the node its client reaches next takes it at once, without asking this one.
    if (await this.storeAndRelease(timeout)) this.endStored(code, reason);
  }

  /**
   * Another node asks for the session: its client resumed there. A connection still here is
   * stale and closes (4000); what the session accepted is stored (within `timeout` ms),
   * then the session is released to that node and ends here. Sends after that are
   * reported as `drop` with reason `moved`.
   */
  async handOver(timeout: number): Promise<void> {
    if (this.handingOver) return;
    this.handingOver = true;
    this.session.link?.closeWith(4000, 'session moved to another node');
    if (await this.storeAndRelease(timeout)) this.endMoved();
  }

  /** Ends the copy here, leaving the session in the store; what was never stored is reported as `drop` (`moved`). Returns how many. */
  private endStored(code: number, reason: string): number {
    const session = this.session;
    const unstored = session.replay.lastSeq - this.durability.storedSeq;
    session.endHere(code, reason);
    for (let i = 0; i < unstored; i++) session.droppedUnstored();
    return unstored;
  }

  /** Waits until the store holds everything accepted (at most `timeout` ms), then stops writing and releases the session. False if it ended meanwhile. */
  private async storeAndRelease(timeout: number): Promise<boolean> {
    const durability = this.durability;
    await durability.whenIdle(timeout);
    if (!this.session.isOpen) return false;
    durability.stop();
    try {
      await durability.journal.release();
    } catch (error) {
      // A claim then asks this node (which no longer holds it), or takes it after its hand-over timeout.
      this.session.sharedLog('error', 'session-release-failed', { error: (error as Error).message });
    }
    return true;
  }
}
