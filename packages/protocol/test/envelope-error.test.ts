import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EnvelopeError, truncateUtf8 } from '../src/envelope-error.js';

const utf8 = (text: string) => new TextEncoder().encode(text).length;

describe('EnvelopeError', () => {
  it('carries a close code and a reason that fits a close frame', () => {
    const error = new EnvelopeError(1008, `hello: ${'é'.repeat(200)}`);
    expect(error.closeCode).toBe(1008);
    expect(utf8(error.reason)).toBeLessThanOrEqual(123);
    expect(error.message).toBe(error.reason);
    expect(error.code).toBe('LL_INVALID_ENVELOPE');
  });
});

describe('truncateUtf8', () => {
  it('keeps short text, and cuts long text at a character boundary', () => {
    expect(truncateUtf8('short', 123)).toBe('short');
    expect(truncateUtf8('aé', 2)).toBe('a');
    expect(truncateUtf8('a😀', 4)).toBe('a');
    expect(truncateUtf8('a😀', 5)).toBe('a😀');
  });

  it('returns the longest prefix of whole characters that fits', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.nat(200), (text, max) => {
        const cut = truncateUtf8(text, max);
        expect(text.startsWith(cut)).toBe(true);
        expect(utf8(cut)).toBeLessThanOrEqual(max);
        if (cut.length < text.length) {
          const next = String.fromCodePoint(text.codePointAt(cut.length)!);
          expect(utf8(cut + next)).toBeGreaterThan(max);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
