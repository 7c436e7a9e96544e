import { encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_DECODE_LIMITS, parseJsonWithin } from '../src/bounds.js';
import { decodeEnvelope, encodeEnvelope } from '../src/envelope-json.js';
import { EnvelopeError } from '../src/envelope-error.js';
import { LifelineError } from '../src/errors.js';
import { decodeEnvelopeMsgpack, encodeEnvelopeMsgpack } from '../src/msgpack.js';
import { HostileCounts, hostileValue, mpMapHeader, mpStr, nested, statsOf, verdict, type Hostile } from '../../../test/support/hostile.js';

/**
 * The structural bounds and content rules (bounds.ts, PROTOCOL.md §2.1) over generated
 * hostile values: nesting 10^3–10^5, wide containers, long and escaped keys, __proto__
 * keys, lone surrogates, huge strings and numbers, and fast-check's JSON, in both codecs.
 * The expected verdict comes from how each value was built (test/support/hostile.ts), not
 * from the decoders; JSON and MessagePack must reach the same one.
 */

const counts = new HostileCounts('protocol codecs');
afterAll(() => counts.print());

const limits = DEFAULT_DECODE_LIMITS;
const encodeMp = (v: unknown) => msgpackEncode(v, { maxDepth: 1000 });
const hostile = hostileValue(encodeMp);

/** `{"t":"m","s":1,"d":VALUE}` around a value's wire forms. */
function messageFrames(h: Hostile): { json: string; msgpack: Uint8Array } {
  const head = new Uint8Array([...mpMapHeader(3), ...mpStr('t'), ...mpStr('m'), ...mpStr('s'), 0x01, ...mpStr('d')]);
  const msgpack = new Uint8Array(head.length + h.msgpack.length);
  msgpack.set(head);
  msgpack.set(h.msgpack, head.length);
  return { json: `{"t":"m","s":1,"d":${h.json}}`, msgpack };
}

function outcome(decode: () => { d?: unknown }): { ok: true; d: unknown } | { ok: false; code: number; reason: string } {
  try {
    return { ok: true, d: decode().d };
  } catch (error) {
    if (!(error instanceof EnvelopeError)) throw error;
    return { ok: false, code: error.closeCode, reason: error.reason };
  }
}

describe('bounds and content rules, both codecs (fast-check)', () => {
  it('an m whose d is a hostile value: accepted exactly when within the bounds, refused with 1007 naming a broken rule otherwise; both codecs agree', () => {
    fc.assert(
      fc.property(hostile, (h) => {
        counts.cases++;
        const want = verdict(h.stats, 64, 3);
        const frames = messageFrames(h);
        for (const [codec, got] of [
          ['json', outcome(() => decodeEnvelope(frames.json, limits) as { d?: unknown })],
          ['msgpack', outcome(() => decodeEnvelopeMsgpack(frames.msgpack, limits) as { d?: unknown })],
        ] as const) {
          counts.inputs++;
          if (want.ok) {
            expect(got, `${codec}: ${h.label}`).toMatchObject({ ok: true });
            if (got.ok && h.value !== undefined) expect(got.d, `${codec}: ${h.label}`).toEqual(h.value);
          } else {
            expect(got, `${codec}: ${h.label}`).toMatchObject({ ok: false, code: 1007 });
            if (!got.ok) expect(want.reasons.some((r) => r.test(got.reason)), `${codec}: ${h.label}: "${got.reason}"`).toBe(true);
          }
        }
        counts.survivals++;
      }),
      { numRuns: 200 },
    );
  });

  it('parseJsonWithin (Message.json, POST /api/publish) reaches the same verdict on the bare value', () => {
    fc.assert(
      fc.property(hostile, (h) => {
        counts.cases++;
        counts.inputs++;
        const want = verdict(h.stats, 64, 0);
        const got = parseJsonWithin(h.json, limits);
        expect(got.ok, h.label).toBe(want.ok);
        if (!got.ok && !want.ok) expect(want.reasons.some((r) => r.test(got.problem!.reason)), `${h.label}: ${got.problem?.reason}`).toBe(true);
        counts.survivals++;
      }),
      { numRuns: 150 },
    );
    // 150 hostile values, some of megabytes: about 10 s of CPU quiet, 35 s seen at load 19 (the default 30 s timed out).
  }, 180_000);

  it('whitespace anywhere between tokens changes no verdict', () => {
    const ws = fc.constantFrom(' ', '\n', '\t', '\r\n  ');
    fc.assert(
      fc.property(fc.integer({ min: 60, max: 70 }), fc.constantFrom('array' as const, 'object' as const), ws, (n, container, pad) => {
        counts.cases++;
        counts.inputs++;
        const h = nested(n, container, true);
        const spaced = h.json.replace(/([[{:,])/g, `$1${pad}`).replace(/([\]}])/g, `${pad}$1`);
        const got = outcome(() => decodeEnvelope(`{ "t" : "m" , "s" : 1 , "d" :${pad}${spaced}${pad}}`, limits) as { d?: unknown });
        expect(got.ok, `${n} ${container}`).toBe(n <= 64);
        counts.survivals++;
      }),
      { numRuns: 60 },
    );
  });

  it('decoders given any text or bytes fail only with an EnvelopeError (nothing else escapes)', () => {
    const jsonish = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'u', 'd', '8', '0', ':', ',', '_', 'p', '1', ' '), maxLength: 400 });
    fc.assert(
      fc.property(fc.oneof(jsonish, fc.string({ unit: 'binary', maxLength: 300 })), fc.uint8Array({ maxLength: 400 }), (text, bytes) => {
        counts.cases++;
        counts.inputs += 2;
        for (const decode of [() => decodeEnvelope(text, limits), () => decodeEnvelopeMsgpack(bytes, limits)]) {
          try {
            decode();
          } catch (error) {
            expect(error).toBeInstanceOf(EnvelopeError);
          }
        }
        counts.survivals++;
      }),
      { numRuns: 1000 },
    );
  });
});

describe('encoders never throw anything but LL_ENCODE_FAILED, and what they write decodes back', () => {
  const deep = (n: number): unknown => {
    let v: unknown = 1;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };
  const cyclic = (): unknown => {
    const a: unknown[] = [];
    a.push(a);
    return a;
  };
  const unencodable: [string, () => unknown][] = [
    ['a 5,000-deep array', () => deep(5000)],
    ['a 100,000-deep array', () => deep(100_000)],
    ['a BigInt', () => 1n],
    ['a cycle', cyclic],
    ['a lone surrogate', () => ({ s: 'a\ud800b' })],
    ['a lone surrogate in a key', () => ({ ['\udc00']: 1 })],
    ['an own __proto__ key', () => JSON.parse('{"__proto__":{"x":1}}') as unknown],
    ['a function', () => () => 1],
  ];
  for (const [label, make] of unencodable) {
    it(`LL_ENCODE_FAILED in both codecs: ${label}`, () => {
      counts.cases++;
      for (const encode of [encodeEnvelope, encodeEnvelopeMsgpack]) {
        counts.inputs++;
        let thrown: unknown;
        try {
          encode({ t: 'm', s: 1, d: make() });
        } catch (error) {
          thrown = error;
        }
        expect(thrown, label).toBeInstanceOf(LifelineError);
        expect((thrown as LifelineError).code).toBe('LL_ENCODE_FAILED');
      }
      counts.survivals++;
    });
  }

  it('a generated value within the bounds round-trips through both codecs; NaN and infinities come back as null', () => {
    const value = fc.jsonValue({ maxDepth: 20, depthSize: 'medium', stringUnit: 'binary' }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    const sprinkled = fc.tuple(value, fc.constantFrom(NaN, Infinity, -Infinity)).map(([v, n]) => [v, n, { n }]);
    fc.assert(
      fc.property(fc.oneof(value, sprinkled), (d) => {
        fc.pre(verdict(statsOf(d), 64, 3).ok);
        counts.cases++;
        const written = JSON.parse(JSON.stringify(d)) as unknown; // non-finite numbers as null
        for (const [encode, decode] of [
          [encodeEnvelope, (f: string | Uint8Array) => decodeEnvelope(f as string, limits)],
          [encodeEnvelopeMsgpack, (f: string | Uint8Array) => decodeEnvelopeMsgpack(f as Uint8Array, limits)],
        ] as const) {
          counts.inputs++;
          expect((decode(encode({ t: 'm', s: 1, d })) as { d: unknown }).d).toEqual(written);
        }
        counts.survivals++;
      }),
      { numRuns: 300 },
    );
  });
});
