import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ACK_DELAY_MS, ACK_EVERY, InboundSequence } from '../src/inbound-sequence.js';

describe('InboundSequence', () => {
  it('delivers the next, drops duplicates, reports gaps without moving', () => {
    const inbound = new InboundSequence();
    expect(inbound.receive(1, 0)).toBe('deliver');
    expect(inbound.receive(2, 0)).toBe('deliver');
    expect(inbound.receive(2, 0)).toBe('duplicate');
    expect(inbound.receive(1, 0)).toBe('duplicate');
    expect(inbound.receive(4, 0)).toBe('gap');
    expect(inbound.delivered).toBe(2);
    expect(inbound.receive(3, 0)).toBe('deliver');
    expect(inbound.delivered).toBe(3);
  });

  it('resumes from a given point', () => {
    const inbound = new InboundSequence({ delivered: 41 });
    expect(inbound.receive(41, 0)).toBe('duplicate');
    expect(inbound.receive(42, 0)).toBe('deliver');
    expect(inbound.acked).toBe(41);
  });

  it(`acknowledges after ${ACK_EVERY} envelopes`, () => {
    const inbound = new InboundSequence();
    for (let s = 1; s < ACK_EVERY; s++) {
      inbound.receive(s, 0);
      expect(inbound.needsAck(0)).toBe(false);
    }
    inbound.receive(ACK_EVERY, 0);
    expect(inbound.needsAck(0)).toBe(true);
    expect(inbound.takeAck()).toBe(ACK_EVERY);
    expect(inbound.needsAck(0)).toBe(false);
    expect(inbound.takeAck()).toBeUndefined();
    expect(inbound.acked).toBe(ACK_EVERY);
  });

  it(`acknowledges ${ACK_DELAY_MS} ms after the first unacknowledged envelope`, () => {
    const inbound = new InboundSequence();
    expect(inbound.ackDueAt()).toBeUndefined();
    expect(inbound.needsAck(1e9)).toBe(false);
    inbound.receive(1, 1000);
    inbound.receive(2, 1040);
    expect(inbound.ackDueAt()).toBe(1000 + ACK_DELAY_MS);
    expect(inbound.needsAck(1000 + ACK_DELAY_MS - 1)).toBe(false);
    expect(inbound.needsAck(1000 + ACK_DELAY_MS)).toBe(true);
    expect(inbound.takeAck()).toBe(2);
    expect(inbound.ackDueAt()).toBeUndefined();
  });

  it('acknowledges duplicates too, with the last delivered sequence number', () => {
    const inbound = new InboundSequence({ delivered: 10 });
    expect(inbound.receive(9, 0)).toBe('duplicate');
    expect(inbound.pending).toBe(1);
    expect(inbound.needsAck(ACK_DELAY_MS)).toBe(true);
    expect(inbound.takeAck()).toBe(10);
  });

  it('a gap neither counts nor starts the clock', () => {
    const inbound = new InboundSequence();
    expect(inbound.receive(5, 0)).toBe('gap');
    expect(inbound.pending).toBe(0);
    expect(inbound.ackDueAt()).toBeUndefined();
  });

  it('ends the batch when rx goes out in a hello or welcome', () => {
    const inbound = new InboundSequence();
    inbound.receive(1, 0);
    inbound.acknowledgedByRx();
    expect(inbound.needsAck(1e9)).toBe(false);
    expect(inbound.acked).toBe(1);
  });

  it('takes other batching settings, and refuses nonsense', () => {
    const inbound = new InboundSequence({ ackEvery: 2, ackDelay: 0 });
    inbound.receive(1, 5);
    expect(inbound.needsAck(5)).toBe(true);
    expect(() => new InboundSequence({ ackEvery: 0 })).toThrow(RangeError);
    expect(() => new InboundSequence({ ackDelay: -1 })).toThrow(RangeError);
    expect(() => new InboundSequence({ delivered: 1.5 })).toThrow(RangeError);
  });

  it('agrees with a model on any stream of sequence numbers and acknowledgements', () => {
    type Step = { seq: number; dt: number; take: boolean };
    const step = fc.record({ seq: fc.integer({ min: -3, max: 2 }), dt: fc.nat(30), take: fc.boolean() });
    fc.assert(
      fc.property(fc.nat(1000), fc.array(step, { maxLength: 300 }), (start, steps: Step[]) => {
        const inbound = new InboundSequence({ delivered: start });
        let delivered = start;
        let pending = 0;
        let firstAt = 0;
        let now = 0;
        const received: number[] = [];
        for (const { seq: offset, dt, take } of steps) {
          now += dt;
          const seq = Math.max(1, delivered + offset); // around the next one: duplicates, the next, gaps
          const verdict = inbound.receive(seq, now);
          const expected = seq === delivered + 1 ? 'deliver' : seq <= delivered ? 'duplicate' : 'gap';
          expect(verdict).toBe(expected);
          if (verdict !== 'gap') {
            if (pending++ === 0) firstAt = now;
            if (verdict === 'deliver') received.push((delivered = seq));
          }
          expect(inbound.needsAck(now)).toBe(pending > 0 && (pending >= ACK_EVERY || now - firstAt >= ACK_DELAY_MS));
          if (take) {
            expect(inbound.takeAck()).toBe(pending > 0 ? delivered : undefined);
            pending = 0;
          }
          expect(inbound.delivered).toBe(delivered);
          expect(inbound.pending).toBe(pending);
        }
        // delivered exactly once each, in order, without gaps
        expect(received).toEqual(Array.from({ length: received.length }, (_, i) => start + i + 1));
      }),
      { numRuns: 500 },
    );
  });
});
