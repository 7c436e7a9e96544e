import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64, encodeBase64 } from '../src/base64.js';

describe('base64', () => {
  it('matches RFC 4648 §10 test vectors', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, encoded] of vectors) {
      const bytes = new TextEncoder().encode(plain);
      expect(encodeBase64(bytes)).toBe(encoded);
      expect(decodeBase64(encoded)).toEqual(bytes);
    }
  });

  it('uses the standard alphabet, + and /', () => {
    expect(encodeBase64(new Uint8Array([0xfb, 0xff, 0xbf]))).toBe('+/+/');
    expect(decodeBase64('+/+/')).toEqual(new Uint8Array([0xfb, 0xff, 0xbf]));
    expect(decodeBase64('-_-_')).toBeUndefined();
  });

  it('agrees with Buffer on arbitrary bytes, and decodes back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const text = encodeBase64(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64'));
        expect(decodeBase64(text)).toEqual(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('encodes a subarray view by its own bytes only', () => {
    const whole = new Uint8Array([1, 2, 3, 4, 5, 6]);
    expect(encodeBase64(whole.subarray(2, 4))).toBe(Buffer.from([3, 4]).toString('base64'));
  });

  it('refuses everything that is not canonical', () => {
    for (const text of ['A', 'AA', 'AAA', 'AAAAA', 'AA=', '=AAA', 'A===', '====', 'AA=A', 'AAA=AAAA', 'AB==', 'AAB=', 'AA==AA==', 'AA AA===', ' AAA', 'AAAA\n', 'AAA\u00e9', 'AAA\u0141', 'AA\u{1F600}']) {
      expect(decodeBase64(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it('decodes only what it encodes: any string either fails or re-encodes to itself', () => {
    const alphabetish = fc.string({ unit: fc.constantFrom(...'ABCDabcd0189+/=-_ \n'), maxLength: 16 });
    // Canonical base64 of random bytes, so that the decoding branch runs often, not by luck.
    const canonical = fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString('base64'));
    let decoded = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.oneof(alphabetish, fc.string({ unit: 'binary', maxLength: 16 }), canonical), (text) => {
        const bytes = decodeBase64(text);
        if (bytes === undefined) refused++;
        else {
          decoded++;
          expect(encodeBase64(bytes)).toBe(text);
        }
      }),
      { numRuns: 3000 },
    );
    // Both branches ran, many times (a third of the runs are canonical: about 1,000 decode).
    expect(decoded).toBeGreaterThanOrEqual(500);
    expect(refused).toBeGreaterThanOrEqual(500);
  }, 120_000); // a tenth of a second alone; over 30 s was seen at load 20
});
