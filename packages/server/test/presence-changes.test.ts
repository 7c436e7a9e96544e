/**
 * PresenceChanges: what one `pr` (or one broker update) says after any sequence of joins and
 * leaves since the last one, checked against the membership before and after.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PresenceChanges } from '../src/channels/presence-changes.js';

describe('PresenceChanges', () => {
  it('cancels a join followed by a leave, and keeps a leave after leave, join, leave', () => {
    const c = new PresenceChanges();
    c.join({ id: 'new' });
    c.leave('new');
    c.leave('old');
    c.join({ id: 'old' });
    c.leave('old');
    expect(c.take()).toEqual({ join: [], leave: ['old'] });
    expect(c.empty).toBe(true);
  });

  it('turns any sequence into changes that take the members before to the members after', () => {
    const ids = ['a', 'b', 'c'];
    fc.assert(
      fc.property(fc.subarray(ids), fc.array(fc.constantFrom(...ids), { maxLength: 12 }), (before, toggles) => {
        const present = new Set(before);
        const c = new PresenceChanges();
        for (const id of toggles) {
          if (present.has(id)) {
            present.delete(id);
            c.leave(id);
          } else {
            present.add(id);
            c.join({ id });
          }
        }
        const { join, leave } = c.take();
        const applied = new Set(before);
        for (const id of leave) {
          expect(applied.has(id)).toBe(true); // never a leave of someone absent
          applied.delete(id);
        }
        for (const m of join) applied.add(m.id);
        expect([...applied].sort()).toEqual([...present].sort());
      }),
    );
  });
});
