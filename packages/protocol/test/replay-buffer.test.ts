import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayBuffer } from '../src/replay-buffer.js';

describe('ReplayBuffer', () => {
  it('holds pushed items until a cumulative acknowledgement frees them', () => {
    const buffer = new ReplayBuffer<string>();
    expect(buffer.count).toBe(0);
    expect(buffer.oldestAt).toBeUndefined();
    buffer.push(1, 'one', 10, 100);
    buffer.push(2, 'two', 20, 110);
    buffer.push(3, 'three', 30, 120);
    expect([buffer.count, buffer.bytes, buffer.oldestAt, buffer.lastSeq, buffer.acked]).toEqual([3, 60, 100, 3, 0]);
    expect(buffer.ack(2)).toBe(2);
    expect([buffer.count, buffer.bytes, buffer.oldestAt, buffer.acked]).toEqual([1, 30, 120, 2]);
    expect([...buffer.itemsAfter(2)]).toEqual(['three']);
  });

  it('ignores stale acknowledgements and frees everything for one past the end', () => {
    const buffer = new ReplayBuffer<number>();
    for (let s = 1; s <= 5; s++) buffer.push(s, s, 1, s);
    expect(buffer.ack(3)).toBe(3);
    expect(buffer.ack(3)).toBe(0);
    expect(buffer.ack(1)).toBe(0);
    expect(buffer.ack(0)).toBe(0);
    expect(buffer.ack(Number.NaN)).toBe(0);
    expect(buffer.ack(99)).toBe(2);
    expect([buffer.count, buffer.bytes, buffer.acked, buffer.lastSeq]).toEqual([0, 0, 5, 5]);
  });

  it('takes only the next sequence number', () => {
    const buffer = new ReplayBuffer<string>(41);
    expect(() => buffer.push(41, 'x', 1, 0)).toThrow(RangeError);
    expect(() => buffer.push(43, 'x', 1, 0)).toThrow(RangeError);
    buffer.push(42, 'x', 1, 0);
    expect(buffer.lastSeq).toBe(42);
    expect(() => new ReplayBuffer(-1)).toThrow(RangeError);
  });

  it('replays after any point it still holds, and refuses one it does not', () => {
    const buffer = new ReplayBuffer<string>();
    for (let s = 1; s <= 6; s++) buffer.push(s, `#${s}`, 1, 0);
    buffer.ack(2);
    expect([...buffer.entriesAfter(2)]).toEqual([[3, '#3'], [4, '#4'], [5, '#5'], [6, '#6']]);
    expect([...buffer.itemsAfter(4)]).toEqual(['#5', '#6']);
    expect([...buffer.itemsAfter(6)]).toEqual([]);
    expect(buffer.holdsAfter(1)).toBe(false);
    expect(buffer.holdsAfter(7)).toBe(false);
    expect(buffer.holdsAfter(2.5)).toBe(false);
    expect(() => buffer.itemsAfter(1)).toThrow(RangeError);
    expect(() => buffer.entriesAfter(7)).toThrow(RangeError);
  });

  it('says which bound it went over: messages, then bytes, then age', () => {
    const buffer = new ReplayBuffer<string>();
    const bounds = { maxMessages: 2, maxBytes: 100, maxAge: 1000 };
    expect(buffer.exceeded(bounds, 1e9)).toBeUndefined();
    buffer.push(1, 'a', 60, 0);
    buffer.push(2, 'b', 40, 500);
    expect(buffer.exceeded(bounds, 1000)).toBeUndefined();
    expect(buffer.exceeded(bounds, 1001)).toBe('maxAge');
    buffer.push(3, 'c', 1, 1000);
    expect(buffer.exceeded(bounds, 1000)).toBe('maxMessages');
    buffer.ack(1);
    expect(buffer.exceeded(bounds, 1000)).toBeUndefined();
    buffer.push(4, 'd', 100, 1000);
    expect(buffer.exceeded({ ...bounds, maxMessages: 10 }, 1000)).toBe('maxBytes');
    expect(buffer.exceeded({ ...bounds, maxMessages: 10, maxBytes: 1000 }, 1501)).toBe('maxAge');
  });

  it('clears, keeping its place in the sequence', () => {
    const buffer = new ReplayBuffer<string>();
    buffer.push(1, 'a', 5, 0);
    buffer.push(2, 'b', 5, 0);
    expect(buffer.clear()).toBe(2);
    expect([buffer.count, buffer.bytes, buffer.lastSeq, buffer.acked]).toEqual([0, 0, 2, 2]);
    buffer.push(3, 'c', 1, 0);
    expect([...buffer.itemsAfter(2)]).toEqual(['c']);
  });

  it('pushes and acknowledges a million items in linear time', () => {
    const buffer = new ReplayBuffer<number>();
    // CPU time, not wall clock: other work on a shared machine does not count against it (a
    // quadratic buffer would need minutes of it).
    const started = process.cpuUsage();
    for (let s = 1; s <= 1_000_000; s++) {
      buffer.push(s, s, 64, s);
      if (s % 64 === 0) buffer.ack(s - 1000); // keep ~1000 held, so compaction happens
    }
    expect(buffer.count).toBe(1000);
    expect(buffer.bytes).toBe(64_000);
    const cpu = process.cpuUsage(started);
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(2000);
  });

  it('stays consistent with a model under any interleaving of push and ack', () => {
    type Op = { push: number } | { ack: number } | { check: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 700 }).map((n) => ({ push: n })) },
      { weight: 3, arbitrary: fc.integer({ min: -50, max: 800 }).map((n) => ({ ack: n })) },
      { weight: 1, arbitrary: fc.nat().map((n) => ({ check: n })) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.array(op, { maxLength: 40 }), (start, ops) => {
        const buffer = new ReplayBuffer<string>(start);
        const model: { seq: number; item: string; bytes: number; at: number }[] = [];
        let lastSeq = start;
        let clock = 0;
        for (const o of ops) {
          if ('push' in o) {
            for (let k = 0; k < o.push; k++) {
              const seq = ++lastSeq;
              const entry = { seq, item: `item ${seq}`, bytes: (seq * 7) % 300, at: clock++ };
              buffer.push(seq, entry.item, entry.bytes, entry.at);
              model.push(entry);
            }
          } else if ('ack' in o) {
            // relative to what is held: negative is stale, past the end frees everything
            const upTo = lastSeq - model.length + o.ack;
            let expected = 0;
            while (model.length > 0 && model[0]!.seq <= upTo) {
              model.shift();
              expected++;
            }
            expect(buffer.ack(upTo)).toBe(expected);
          } else {
            const acked = lastSeq - model.length;
            const after = acked + (o.check % (model.length + 1));
            expect([...buffer.entriesAfter(after)]).toEqual(model.filter((m) => m.seq > after).map((m) => [m.seq, m.item]));
          }
          expect(buffer.count).toBe(model.length);
          expect(buffer.bytes).toBe(model.reduce((sum, m) => sum + m.bytes, 0));
          expect(buffer.oldestAt).toBe(model[0]?.at);
          expect(buffer.lastSeq).toBe(lastSeq);
          expect(buffer.acked).toBe(lastSeq - model.length);
        }
        expect([...buffer.itemsAfter(buffer.acked)]).toEqual(model.map((m) => m.item));
      }),
      { numRuns: 300 },
    );
  });
});
