import { encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBinaryEnvelope, decodeEnvelope, decodeEnvelopeGeneral, decodeEnvelopeText, encodeBinaryEnvelope, encodeEnvelope, encodeMessageWhole } from '../src/envelope-json.js';
import { EnvelopeError } from '../src/envelope-error.js';
import { ENVELOPE_TYPES, MAX_REQUEST_ID, RESET_REASONS, type Envelope, type MessageEnvelope } from '../src/envelope.js';
import { decodeEnvelopeMsgpack, encodeEnvelopeMsgpack } from '../src/msgpack.js';

/**
 * Properties of the two codecs over generated input: decoders fail only with a well-formed
 * EnvelopeError whatever they are fed, and encoding then decoding any valid envelope gives
 * it back.
 */

const RUNS = { numRuns: 2000 };
const encoder = new TextEncoder();

// ---- valid envelopes -------------------------------------------------------------------

const noNegativeZero = (x: number) => (x === 0 ? 0 : x);
const seq = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.maxSafeNat().map((n) => Math.max(1, n)));
const ack = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const requestId = fc.integer({ min: 1, max: MAX_REQUEST_ID });
const base64url = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');
const sessionField = fc.string({ unit: base64url, minLength: 1, maxLength: 128 });
const text = fc.string({ unit: 'binary', maxLength: 40 });
// jsonValue may contain -0, which JSON itself cannot carry (it is written as 0): normalise it away.
// And it may hold a key __proto__, which no valid envelope has (PROTOCOL.md §2.1; the encoders refuse it): leave those out.
const json = fc
  .jsonValue({ stringUnit: 'binary', maxDepth: 4 })
  .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
  .filter((v) => !/"__proto__":/.test(JSON.stringify(v)));
const binary = fc.uint8Array({ maxLength: 200 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map(noNegativeZero);
const payload = fc.oneof(fc.record({ d: json }), fc.record({ b: binary }));
const optionalAck = fc.option(ack, { nil: undefined });
const withAck = <T extends object>(head: T, a: number | undefined) => (a === undefined ? head : { ...head, a });

const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  fc.constant({ t: 'hello', v: 1 } as const),
  fc.record({ t: fc.constant('hello' as const), v: fc.constant(1 as const), sid: sessionField, tok: sessionField, rx: ack }),
  fc
    .record({
      sid: sessionField,
      tok: sessionField,
      rx: ack,
      hb: fc.integer({ min: 1, max: 0x7fffffff }),
      resumed: fc.boolean(),
      reason: fc.option(fc.constantFrom(...RESET_REASONS), { nil: undefined }),
    })
    .map(({ sid, tok, rx, hb, resumed, reason }): Envelope => {
      if (resumed) return { t: 'welcome', sid, tok, rx, resumed, hb };
      return reason === undefined ? { t: 'welcome', sid, tok, rx, resumed, hb } : { t: 'welcome', sid, tok, rx, resumed, hb, reset: { reason } };
    }),
  fc.tuple(seq, optionalAck, payload).map(([s, a, p]) => ({ ...withAck({ t: 'm' as const, s }, a), ...p }) as Envelope),
  fc
    .tuple(seq, optionalAck, requestId, fc.string({ unit: 'binary', minLength: 1, maxLength: 128 }), payload)
    .map(([s, a, id, n, p]) => ({ ...withAck({ t: 'q' as const, s }, a), id, n, ...p }) as Envelope),
  fc
    .tuple(seq, optionalAck, requestId, fc.oneof(payload, fc.record({ e: fc.record({ code: fc.string({ minLength: 1, maxLength: 20 }), message: text }) })))
    .map(([s, a, id, outcome]) => ({ ...withAck({ t: 'r' as const, s }, a), id, ...outcome }) as Envelope),
  ack.map((a): Envelope => ({ t: 'a', a })),
  fc.tuple(finite, fc.option(fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }).map(noNegativeZero), { nil: undefined })).map(
    ([ts, rtt]): Envelope => (rtt === undefined ? { t: 'ping', ts } : { t: 'ping', ts, rtt }),
  ),
  finite.map((ts): Envelope => ({ t: 'pong', ts })),
  fc
    .record({ code: fc.oneof(fc.constantFrom(1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1012, 1013), fc.integer({ min: 3000, max: 4999 })), message: text })
    .map(({ code, message }): Envelope => ({ t: 'error', code, message })),
);

/** The same structure decoded from MessagePack holds `b` as a view; compare contents. */
function comparable(e: unknown): unknown {
  return JSON.parse(JSON.stringify(e, (_key, value: unknown) => (value instanceof Uint8Array ? { bytes: Array.from(value) } : value)));
}

function hasProtoKey(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  return Object.keys(value).some((key) => key === '__proto__' || hasProtoKey((value as Record<string, unknown>)[key]));
}

describe('encode then decode is the identity on valid envelopes', () => {
  it('JSON mode', () => {
    fc.assert(
      fc.property(envelope, (e) => {
        const text = encodeEnvelope(e);
        const back = decodeEnvelope(text);
        expect(back).toEqual(e);
        expect(encodeEnvelope(back)).toBe(text);
      }),
      RUNS,
    );
  });

  it('MessagePack mode', () => {
    fc.assert(
      fc.property(envelope, (e) => {
        // MessagePack mode refuses a "__proto__" map key (PROTOCOL.md §2): not an envelope it can carry.
        fc.pre(!hasProtoKey(e));
        const frame = encodeEnvelopeMsgpack(e);
        const back = decodeEnvelopeMsgpack(frame);
        expect(comparable(back)).toEqual(comparable(e));
        expect(back.t).toBe(e.t);
        expect(encodeEnvelopeMsgpack(back)).toEqual(frame);
      }),
      RUNS,
    );
  });

  it('JSON mode: a plain m stringified whole (as the server encodes it on Bun) is the text encodeEnvelope writes', () => {
    // Values JSON carries as they are, and ones it writes differently (-0, NaN, a Date, undefined in an array or object).
    const d = fc.oneof(json, fc.constantFrom<unknown>(-0, NaN, Infinity, new Date(0), [undefined, 1], { x: undefined, y: 1 }, 'a\u2028b'));
    fc.assert(
      fc.property(seq, optionalAck, d, (s, a, value) => {
        const m = (a === undefined ? { t: 'm', s, d: value } : { t: 'm', s, a, d: value }) as MessageEnvelope;
        const whole = encodeMessageWhole(m);
        // A Date has a toJSON of its own: that one is left to the joined frame.
        if (value instanceof Date) expect(whole).toBeUndefined();
        else expect(whole).toBe(encodeEnvelope(m));
      }),
      RUNS,
    );
  });

  it('JSON mode: a plain m stringified whole refuses what the joined frame refuses, with LL_ENCODE_FAILED', () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    for (const d of [1n, cyclic, 'a\ud800b', { ['\udc00']: 1 }, JSON.parse('{"__proto__":{"x":1}}') as unknown]) {
      const m = { t: 'm', s: 1, d } as MessageEnvelope;
      expect(() => encodeMessageWhole(m), String(typeof d)).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED' }));
      expect(() => encodeEnvelope(m), String(typeof d)).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED' }));
    }
    for (const d of [() => 1, Symbol('x')]) expect(encodeMessageWhole({ t: 'm', s: 1, d } as MessageEnvelope)).toBeUndefined();
  });

  it('both modes decode to the same envelope', () => {
    fc.assert(
      fc.property(envelope, (e) => {
        expect(comparable(decodeEnvelopeMsgpack(encodeEnvelopeMsgpack(e)))).toEqual(comparable(decodeEnvelope(encodeEnvelope(e))));
      }),
      { numRuns: 500 },
    );
  });
});

// ---- hostile input ---------------------------------------------------------------------

/** Runs a decoder; anything it throws must be a well-formed EnvelopeError. */
function survives(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    if (!(error instanceof EnvelopeError)) throw new Error(`threw something other than EnvelopeError: ${String(error)}`, { cause: error });
    expect([1002, 1007, 1008]).toContain(error.closeCode);
    expect(error.reason.length).toBeGreaterThan(0);
    expect(encoder.encode(error.reason).length).toBeLessThanOrEqual(123);
  }
}

/** Objects shaped like envelopes, with each field drawn from anything JSON can hold. */
const anyField = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 3, arbitrary: fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.double(), fc.constantFrom(0, -0, 1, 1.5, 2 ** 31, 2 ** 53, -1, 1e400, NaN)) },
  { weight: 1, arbitrary: fc.string({ unit: base64url, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);
const envelopeShaped = fc.record(
  {
    t: fc.oneof(fc.constantFrom(...ENVELOPE_TYPES), anyField),
    v: anyField,
    s: anyField,
    a: anyField,
    d: anyField,
    b: anyField,
    e: fc.oneof(anyField, fc.record({ code: anyField, message: anyField }, { requiredKeys: [] })),
    id: anyField,
    n: anyField,
    sid: anyField,
    tok: anyField,
    rx: anyField,
    resumed: anyField,
    hb: anyField,
    reset: fc.oneof(anyField, fc.record({ reason: fc.oneof(fc.constantFrom(...RESET_REASONS), anyField) })),
    ts: anyField,
    rtt: anyField,
    code: anyField,
    message: anyField,
  },
  { requiredKeys: [] },
);

/** A valid JSON envelope with a few characters deleted, inserted or replaced. */
const mutatedText = fc
  .tuple(envelope, fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.string({ unit: 'binary-ascii', maxLength: 3 })), { minLength: 1, maxLength: 4 }))
  .map(([e, edits]) => {
    let text = encodeEnvelope(e);
    for (const [at, kind, insert] of edits) {
      const i = text.length === 0 ? 0 : at % text.length;
      text = kind === 0 ? text.slice(0, i) + text.slice(i + 1) : kind === 1 ? text.slice(0, i) + insert + text.slice(i) : text.slice(0, i) + insert + text.slice(i + insert.length);
    }
    return text;
  });

/** A valid MessagePack envelope with a few bytes deleted, inserted or replaced. */
const mutatedBytes = fc
  .tuple(envelope, fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
  .map(([e, edits]) => {
    const out = Array.from(encodeEnvelopeMsgpack(e));
    for (const [at, kind, byte] of edits) {
      const i = out.length === 0 ? 0 : at % out.length;
      if (kind === 0) out.splice(i, 1);
      else if (kind === 1) out.splice(i, 0, byte);
      else out[i] = byte;
    }
    return new Uint8Array(out);
  });

describe('decoders fail only with a well-formed EnvelopeError', () => {
  it('JSON mode: arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => survives(() => decodeEnvelope(s))), RUNS);
  });

  it('JSON mode: arbitrary JSON texts', () => {
    fc.assert(fc.property(fc.json({ stringUnit: 'binary' }), (s) => survives(() => decodeEnvelope(s))), RUNS);
  });

  it('JSON mode: envelope-shaped objects with arbitrary fields', () => {
    fc.assert(fc.property(envelopeShaped, (o) => survives(() => decodeEnvelope(JSON.stringify(o)))), RUNS);
  });

  it('JSON mode: valid envelopes with a few characters changed', () => {
    fc.assert(fc.property(mutatedText, (s) => survives(() => decodeEnvelope(s))), RUNS);
  });

  it('MessagePack mode: arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => survives(() => decodeEnvelopeMsgpack(b))), RUNS);
  });

  it('MessagePack mode: arbitrary values, envelope-shaped ones included', () => {
    const values = fc.oneof(fc.anything({ withBigInt: false, withDate: true, withTypedArray: true, withMap: false, withSet: false }), envelopeShaped);
    fc.assert(
      fc.property(values, (value) => {
        let frame: Uint8Array;
        try {
          frame = msgpackEncode(value);
        } catch {
          return; // not every JavaScript value has a MessagePack form
        }
        survives(() => decodeEnvelopeMsgpack(frame));
      }),
      RUNS,
    );
  });

  it('MessagePack mode: valid envelopes with a few bytes changed', () => {
    fc.assert(fc.property(mutatedBytes, (b) => survives(() => decodeEnvelopeMsgpack(b))), RUNS);
  });

  // Texts shaped like the encoder's m, and near misses: odd numbers, other tails, string
  // payloads with quotes, backslashes, control characters and lone surrogates in them.
  const digits = fc.oneof(fc.nat().map(String), fc.constantFrom('0', '00', '01', '1.0', '1e3', '-1', '', '9007199254740992', '123456789012345678'));
  const stringChar = fc.oneof(fc.constantFrom('"', '\\', '\u0000', '\u001f', '\n', '\ud800', '\udc00', 'é', '_', 'u'), fc.string({ minLength: 1, maxLength: 1 }));
  const tail = fc.oneof(
    fc.json().map((d) => `,"d":${d}}`),
    fc.array(stringChar, { maxLength: 12 }).map((chars) => `,"d":"${chars.join('')}"}`),
    binary.map((b) => `,"b":"${Buffer.from(b).toString('base64')}"}`),
    fc.string({ unit: 'binary-ascii', maxLength: 12 }),
    fc.constantFrom(',"d":}', ',"b":"}', ',"d":1,"b":""}', ',"d":1 }', ',"b":"AA=="} ', ',"d":1,"s":5}', ',"d":"}', ',"d":""}', ',"d":"a"} ', ',"d":"a","s":1}'),
  );
  const candidate = fc
    .tuple(digits, fc.option(digits, { nil: undefined }), tail)
    .map(([s, a, rest]) => `{"t":"m","s":${s}${a === undefined ? '' : `,"a":${a}`}${rest}`);
  const outcome = (run: () => unknown): unknown => {
    try {
      return run();
    } catch (error) {
      return { closeCode: (error as EnvelopeError).closeCode, reason: (error as EnvelopeError).closeCode === 1007 ? '' : (error as EnvelopeError).reason };
    }
  };

  it('JSON mode: the fast path for m decides as the general path does', () => {
    fc.assert(
      fc.property(candidate, (text) => {
        const general = outcome(() => decodeEnvelopeGeneral(text));
        expect(outcome(() => decodeEnvelope(text))).toEqual(general);
      }),
      RUNS,
    );
  });

  it('JSON mode: decodeEnvelopeText (a string d sliced out) decides as decodeEnvelope does, within any limits', () => {
    const limits = fc.option(
      fc.record({ maxDepth: fc.integer({ min: 1, max: 3 }), maxItems: fc.integer({ min: 1, max: 6 }), maxKeyLength: fc.integer({ min: 1, max: 4 }) }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(candidate, limits, (text, within) => {
        expect(outcome(() => decodeEnvelopeText(text, within))).toEqual(outcome(() => decodeEnvelope(text, within)));
      }),
      RUNS,
    );
    // The slice path is taken, and refuses nothing the general path accepts, at its edges.
    expect(decodeEnvelopeText('{"t":"m","s":7,"a":0,"d":"plain \u2028 é"}')).toEqual({ t: 'm', s: 7, a: 0, d: 'plain \u2028 é' });
    expect(decodeEnvelopeText('{"t":"m","s":7,"d":""}')).toEqual({ t: 'm', s: 7, d: '' });
    expect(decodeEnvelopeText('{"t":"m","s":7,"d":"__proto__"}')).toEqual({ t: 'm', s: 7, d: '__proto__' });
    expect(outcome(() => decodeEnvelopeText('{"t":"m","s":7,"a":1,"d":"x"}', { maxDepth: 64, maxItems: 3, maxKeyLength: 64 }))).toEqual({ closeCode: 1007, reason: '' });
    expect(outcome(() => decodeEnvelopeText('{"t":"m","s":7,"d":"a\u0001"}'))).toEqual({ closeCode: 1007, reason: '' });
    expect(decodeEnvelopeText('{"t":"m","s":7,"d":"a\\"b"}')).toEqual({ t: 'm', s: 7, d: 'a"b' });
  });
});

describe('the binary form of JSON mode (PROTOCOL.md §2.8)', () => {
  const withBytes = envelope.filter((e) => 'b' in e && e.b !== undefined);

  it('encode then decode is the identity on every envelope with b, and the same envelope as its text form', () => {
    fc.assert(
      fc.property(withBytes, (e) => {
        const frame = encodeBinaryEnvelope(e)!;
        expect(comparable(decodeBinaryEnvelope(frame))).toEqual(comparable(e));
        expect(comparable(decodeBinaryEnvelope(frame))).toEqual(comparable(decodeEnvelope(encodeEnvelope(e))));
      }),
      RUNS,
    );
  });

  it('the frame is the head (UTF-8 JSON without a raw 0x00), one 0x00, then b as it is', () => {
    fc.assert(
      fc.property(withBytes, (e) => {
        const frame = encodeBinaryEnvelope(e)!;
        const b = (e as { b: Uint8Array }).b;
        const head = new TextDecoder().decode(frame.subarray(0, frame.length - b.length - 1));
        expect(head.includes('\0')).toBe(false);
        expect(frame[frame.length - b.length - 1]).toBe(0);
        expect(Array.from(frame.subarray(frame.length - b.length))).toEqual(Array.from(b));
        const { b: _b, ...rest } = e as Record<string, unknown>;
        expect(JSON.parse(head)).toEqual(comparable(rest));
      }),
      RUNS,
    );
  });

  it('envelopes without b have no binary form', () => {
    fc.assert(
      fc.property(
        envelope.filter((e) => !('b' in e)),
        (e) => {
          expect(encodeBinaryEnvelope(e)).toBeUndefined();
        },
      ),
      RUNS,
    );
  });

  it('arbitrary bytes fail only with a well-formed EnvelopeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          decodeBinaryEnvelope(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(EnvelopeError);
          expect([1002, 1007]).toContain((error as EnvelopeError).closeCode);
        }
      }),
      RUNS,
    );
  });
});
