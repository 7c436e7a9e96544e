/**
 * Where a Lifeline route keeps its sessions between connections. The built-in store is in
 * memory: a server restart forgets every session, and a client that tries to resume one
 * gets `reset: unknown-session` (PROTOCOL.md §2.4). The interface is what the route needs,
 * so that a shared store (Redis, …) can implement it later.
 */

/** Why a session the store no longer holds ended, when the store still remembers. */
export type SessionEndReason = 'expired' | 'overflow';

export interface StoredSession {
  readonly sessionId: string;
}

export interface SessionStore<S extends StoredSession = StoredSession> {
  /** The live session with this id, if any. */
  get(sessionId: string): S | undefined;
  add(session: S): void;
  /**
   * Forgets a session. With `why`, remembers for a while that it ended and why, so that a
   * late resume is told `expired` or `overflow` rather than `unknown-session`.
   */
  delete(sessionId: string, why?: SessionEndReason): void;
  /** Why a session that is no longer held ended, if the store remembers; else `undefined`. */
  endedBecause(sessionId: string): SessionEndReason | undefined;
  /** Live sessions. */
  readonly size: number;
  values(): IterableIterator<S>;
}

export interface MemorySessionStoreOptions {
  /** Most ended sessions remembered (oldest forgotten first). Default 10,000. */
  rememberEnded?: number;
  /** How long an ended session is remembered, in ms. Default 600,000 (10 min). */
  rememberEndedFor?: number;
}

/** Sessions in a Map; ended ones remembered in insertion (= time) order, bounded in count and age. */
export class MemorySessionStore<S extends StoredSession = StoredSession> implements SessionStore<S> {
  private readonly live = new Map<string, S>();
  private readonly ended = new Map<string, { why: SessionEndReason; at: number }>();
  private readonly rememberEnded: number;
  private readonly rememberEndedFor: number;

  constructor(options: MemorySessionStoreOptions = {}) {
    this.rememberEnded = options.rememberEnded ?? 10_000;
    this.rememberEndedFor = options.rememberEndedFor ?? 600_000;
  }

  get(sessionId: string): S | undefined {
    return this.live.get(sessionId);
  }

  add(session: S): void {
    this.live.set(session.sessionId, session);
  }

  delete(sessionId: string, why?: SessionEndReason): void {
    if (!this.live.delete(sessionId) || why === undefined) return;
    const now = Date.now();
    this.ended.set(sessionId, { why, at: now });
    for (const [id, entry] of this.ended) {
      if (this.ended.size <= this.rememberEnded && now - entry.at <= this.rememberEndedFor) break;
      this.ended.delete(id);
    }
  }

  endedBecause(sessionId: string): SessionEndReason | undefined {
    const entry = this.ended.get(sessionId);
    if (entry === undefined) return undefined;
    if (Date.now() - entry.at > this.rememberEndedFor) {
      this.ended.delete(sessionId);
      return undefined;
    }
    return entry.why;
  }

  get size(): number {
    return this.live.size;
  }

  values(): IterableIterator<S> {
    return this.live.values();
  }
}

// ---- sessions shared between server processes ---------------------------------------------

/** One encoded server envelope, as the wire carries it: text (JSON mode) or bytes (MessagePack). */
export type JournalFrame = string | Uint8Array;

/**
 * What a shared store holds of a session: enough for any node to resume it. Only the
 * protocol state travels; the route handler's own variables do not (docs/server.md,
 * "Sessions on many nodes").
 */
export interface SessionSnapshot {
  /** The last client envelope the session accepted: `rx` of the welcome on the new node. */
  readonly rx: number;
  /** The last server envelope the client acknowledged. */
  readonly acked: number;
  /** The server envelopes after `acked` (s = acked + 1, acked + 2, …), encoded. */
  readonly frames: readonly JournalFrame[];
}

/** A batch of a session's progress, made durable before any of it is visible. */
export interface JournalBatch {
  /** Client envelopes accepted up to here; delivered to the handler once this batch is stored. */
  readonly rx: number;
  /** Server envelopes the client acknowledged up to here (the store may free them). */
  readonly acked: number;
  /** Sequence number of `frames[0]` (lastSeq + 1 of the previous batch). */
  readonly firstSeq: number;
  /** New server envelopes, written to the connection once this batch is stored. */
  readonly frames: readonly JournalFrame[];
}

/**
 * The shared-store side of one session that this node owns. Each method resolves once the
 * store has it. They reject with `LL_SESSION_MOVED` when another node has claimed the session
 * since (this node must stop), and `LL_UNAVAILABLE` when the store cannot be reached (the
 * session retries; its replay bounds bound the wait).
 */
export interface SessionJournal {
  /**
   * Stores a batch. With `full`, the batch is the session's whole state (firstSeq = acked + 1):
   * the first batch of a session, or the answer to `LL_SESSION_LOST` (the store lost the
   * session, e.g. Redis restarted without its data).
   */
  append(batch: JournalBatch, full: boolean): Promise<void>;
  /** The session ended on this node: forget it, remembering `why` for a late resume. No-op if it moved. */
  end(why: SessionEndReason | undefined): Promise<void>;
  /** Another node asked for the session and everything it accepted is stored: let that node take it now. */
  release(): Promise<void>;
  /**
   * Which attach of the session this node's copy is on (PROTOCOL.md §2.7): raised by every
   * claim and every confirmed resume, so that a request to let go that was meant for an
   * older connection is told apart from one for the current.
   */
  readonly attach: number;
}

/** What a claim is for: the client's hello, and the node's own copy if it holds one. */
export interface ClaimRequest {
  /** The hello's `rx`: the claim refuses one outside what the session acknowledged and stored (nothing changes). */
  readonly rx: number;
  /** The journal of this node's own copy: the claim confirms that copy is still the session's (a resume here). */
  readonly holding?: SessionJournal;
  /** Asked before every step: true once nobody waits for the claim any more (the connection closed); it stops. */
  readonly abandoned?: () => boolean;
}

/** What claiming a session found. */
export type ClaimResult =
  | { readonly outcome: 'claimed'; readonly snapshot: SessionSnapshot; readonly journal: SessionJournal }
  /** The holding node's copy is still the session's: it continues, on a new attach. */
  | { readonly outcome: 'kept' }
  /** The holding node's copy is still the session's, but the store lost it (e.g. Redis restarted empty): store it again in full. */
  | { readonly outcome: 'lost' }
  /** Not claimed, nothing changed: the hello's `rx` is below what the session acknowledged (`below`), or above its last stored server envelope. */
  | { readonly outcome: 'rx'; readonly below: boolean }
  /** Not claimed: no such session, a wrong token or another route (`unknown-session`), or one that ended and why. */
  | { readonly outcome: 'reset'; readonly reason: 'unknown-session' | 'bad-token' | SessionEndReason }
  /** Not claimed: the session speaks another subprotocol (the client must resume with that one). */
  | { readonly outcome: 'protocol'; readonly protocol: string }
  /** Stopped: `abandoned()` said so. Nothing this claim left in the store takes the session from anyone. */
  | { readonly outcome: 'abandoned' };

export interface NewSessionInit {
  readonly sessionId: string;
  /** SHA-256 of the resume token; the token itself is never stored. */
  readonly tokenDigest: Buffer;
  readonly route: string;
  /** The subprotocol, so that a resume elsewhere speaks the same wire format. */
  readonly protocol: string;
  /** How long the store keeps the session without hearing from this node, in ms (the resume window). */
  readonly ttl: number;
}

/**
 * Sessions shared by every server process that uses the same store (`@lifeline/redis`'s
 * `createRedisSessionStore`), so that a client resumes on whichever node it reaches. Each
 * node keeps its live sessions in memory, as with the built-in store; this interface adds
 * the durable copy and the hand-over (PROTOCOL.md §2.7).
 */
export interface SharedSessionStore {
  /** This process's id in the store. */
  readonly nodeId: string;
  /** A session that starts on this node. Nothing is stored until its first `append(…, true)`. */
  create(init: NewSessionInit): SessionJournal;
  /**
   * Gives this node the session a hello asks for, if its token digest and route match: a
   * session another node holds is taken over (from then on only this node's journal may
   * write it); one this node holds (`request.holding`) is confirmed (`kept`). A node that
   * still holds it is asked to release it first (`onClaimed(…, 'release', attach)`), and
   * is told if it was taken without (`'moved'`, after the store's hand-over timeout or when
   * it was not listening). Every outcome but `claimed` and `kept` leaves the session as it was.
   */
  claim(sessionId: string, tokenDigest: Buffer, route: string, protocol: string, ttl: number, request: ClaimRequest): Promise<ClaimResult>;
  /**
   * Called when another node asks for a session of this node (`release`: if this node's
   * copy is on `attach`, store what it holds, then `journal.release()`; `releaseOrphan()`
   * when this node no longer holds it), or has taken it (`moved`).
   */
  onClaimed(listener: (sessionId: string, kind: 'release' | 'moved', attach: number | undefined) => void): void;
  /**
   * Called when the store was unreachable and answers again: it may have lost sessions
   * (Redis restarted without its data), so each node checks its own at once and stores
   * again in full those the store no longer has, before their clients resume elsewhere.
   */
  onReconnect?(listener: () => void): void;
  /** Lets another node take a session this node is still named owner of but no longer holds. */
  releaseOrphan(sessionId: string): Promise<void>;
  /** Keeps these sessions' entries from expiring for another `ttl` ms (called for idle sessions). */
  keepAlive(sessionIds: readonly string[], ttl: number): Promise<void>;
  /**
   * How long the store may stay unreachable before a session that cannot store its progress
   * ends (close 1011), in ms. Default 10,000. Meanwhile the session buffers, within its replay bounds.
   */
  readonly unreachableTimeout?: number;
  /** Whether the store can serve now (readiness). */
  available?(): boolean;
  /**
   * How many other nodes share the store now: at shutdown, whether the sessions handed off
   * can resume elsewhere at once, and how far their clients' comebacks must be spread.
   */
  otherNodes?(): Promise<number>;
  close(): Promise<void>;
}
