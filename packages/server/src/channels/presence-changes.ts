import type { PresenceEntry } from './broker.js';

/**
 * Presence joins and leaves since the last `take()`, coalesced: a member who joined and left
 * in between is not mentioned at all; one who was there, left and came back is a join
 * (which replaces what was known of it); one who was there, left, came back and left again
 * is a leave. What the hub puts in a `pr` envelope, and what a node tells the others.
 */
export class PresenceChanges {
  private joins = new Map<string, PresenceEntry>();
  private leaves = new Set<string>();

  join(member: PresenceEntry): void {
    this.joins.set(member.id, member);
  }

  leave(id: string): void {
    // A join since the last take that did not replace a leave: the member was not there then.
    if (this.joins.delete(id) && !this.leaves.has(id)) return;
    this.leaves.add(id);
  }

  get empty(): boolean {
    return this.joins.size === 0 && this.leaves.size === 0;
  }

  /** The changes, and a fresh start. A member in both is only a join. */
  take(): { join: PresenceEntry[]; leave: string[] } {
    const join = [...this.joins.values()];
    const leave = [...this.leaves].filter((id) => !this.joins.has(id));
    this.joins = new Map();
    this.leaves = new Set();
    return { join, leave };
  }
}
