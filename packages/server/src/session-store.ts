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
