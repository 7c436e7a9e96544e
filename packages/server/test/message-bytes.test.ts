import fc from 'fast-check';
import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, EnvelopeError, isWellFormed, type DecodeLimits, type Envelope } from '@lifeline/protocol';
import { decodeEnvelopeMsgpack, encodeEnvelopeMsgpack } from '@lifeline/protocol/msgpack';
import type { Socket } from '@lifeline/server';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { serverTestRig } from '../../../test/support/rig.js';
import { waitFor } from '../../../test/support/wait.js';
import { base64Alphabet, base64AlphabetJs, plainText, plainTextJs } from '../src/lifeline/byte-scan.js';
import { codecsWithin } from '../src/lifeline/codec.js';
import { joinPieces, type Pieces } from '../src/transport/frame.js';
import { BYTE_PATH_MIN, BytesMessage, encodedMessage, readJsonMessage, readMsgpackMessage, TextMessage, type EncodedMessage } from '../src/lifeline/message-bytes.js';

/**
 * The byte path for large `m` envelopes (message-bytes.ts) against the general path
 * (@lifeline/protocol's codecs), over generated frames: the same envelope or the same
 * refusal (close code and reason) for every frame, and the same bytes for every envelope
 * written. Frames are built near the shapes the byte path takes, then bent: other digits,
 * other MessagePack headers, quotes, backslashes, control characters, escapes, invalid UTF-8
 * (in MessagePack; a text frame is valid UTF-8 by the time it reaches a codec),
 * truncation, extra bytes, and limits as low as they go.
 */

const RUNS = { numRuns: 500 };
/** The property tests take about 5 s each here, and several times that on a loaded 2-core machine. */
const PROPERTY_TIMEOUT = 150_000;

// ---- outcomes ---------------------------------------------------------------------------------

/** An envelope as plain data (a `d` or `b` read through an EncodedEnvelope's getter, `b` as hex), or the refusal. */
function outcome(decode: () => Envelope): unknown {
  let e: Envelope;
  try {
    e = decode();
  } catch (error) {
    if (!(error instanceof EnvelopeError)) throw error;
    return { closeCode: error.closeCode, reason: error.reason };
  }
  const plain: Record<string, unknown> = { t: e.t };
  for (const key of ['s', 'a', 'd', 'b'] as const) {
    if (!(key in e)) continue;
    const value = (e as Record<string, unknown>)[key];
    // "Optional fields are absent, never undefined-valued, in what a decoder returns."
    expect(value, `${key} is present with the value undefined`).not.toBeUndefined();
    plain[key] = value instanceof Uint8Array ? `bytes:${Buffer.from(value).toString('hex')}` : value;
  }
  for (const [key, value] of Object.entries(e)) if (!(key in plain) && key !== 'encoded') plain[key] = value;
  return plain;
}

const limitsArb: fc.Arbitrary<DecodeLimits> = fc.record({
  maxDepth: fc.oneof(fc.constantFrom(1, 2, 64), fc.integer({ min: 1, max: 100 })),
  maxItems: fc.oneof(fc.constantFrom(1, 2, 3, 4, 5, 10_000), fc.integer({ min: 1, max: 20 })),
  maxKeyLength: fc.oneof(fc.constantFrom(1, 8, 9, 1024), fc.integer({ min: 1, max: 2000 })),
});

// ---- payload text -----------------------------------------------------------------------------

/** Mostly ASCII filler, with what may break a string literal or its UTF-8 mixed in. */
const piece = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('"', '\\', '\\"', '\\n', '\\u0041', '\\ud800', '\\ud83d\\ude00', '\n', '\t', '\u0000', '\u001f', '\u007f', '\u2028', 'é', '😀', '__proto__') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
);
/** A payload text of about `min` characters at least: plain filler half of the time. */
const textOf = (min: number) =>
  fc.tuple(fc.oneof(fc.constant([]), fc.array(piece, { maxLength: 12 })), fc.integer({ min, max: min + 400 })).map(([pieces, size]) => {
    const filler = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(size / 36)).slice(0, size);
    let text = filler;
    for (const p of pieces) {
      const at = Math.floor((text.length * (p.length % 7)) / 7);
      text = text.slice(0, at) + p + text.slice(at);
    }
    return text;
  });

const bigText = textOf(BYTE_PATH_MIN);
const bytesArb = fc.integer({ min: BYTE_PATH_MIN - 8, max: BYTE_PATH_MIN + 300 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));

// ---- JSON frames ------------------------------------------------------------------------------

const digits = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.maxSafeNat()).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('0', '00', '01', '1.0', '1e3', '-1', '', ' 1', '9007199254740991', '9007199254740992', '123456789012345', '1234567890123456') },
);

const jsonTail = fc.oneof(
  { weight: 6, arbitrary: bigText.map((t) => `,"d":"${t}"}`) },
  { weight: 3, arbitrary: bigText.map((t) => `,"d":${JSON.stringify(t)}}`) },
  { weight: 4, arbitrary: bytesArb.map((b) => `,"b":"${Buffer.from(b).toString('base64')}"}`) },
  {
    weight: 2,
    arbitrary: fc.tuple(bytesArb, fc.nat(), fc.constantFrom('=', 'A', '-', '_', ' ', '\n', '==', '')).map(([b, at, c]) => {
      const t = Buffer.from(b).toString('base64');
      const i = at % (t.length + 1);
      return `,"b":"${t.slice(0, i)}${c}${t.slice(i + c.length)}"}`;
    }),
  },
  { weight: 2, arbitrary: bigText.map((t) => `,"d":{"k":${JSON.stringify(t)}}}`) },
  { weight: 1, arbitrary: bigText.map((t) => `,"d":["${t}"]}`) },
  { weight: 1, arbitrary: bigText.map((t) => `,"d":"${t}","b":"AAAA"}`) },
  { weight: 1, arbitrary: bigText.map((t) => `,"d":"${t}" }`) },
  { weight: 1, arbitrary: bigText.map((t) => `,"d":"${t}"} `) },
  { weight: 1, arbitrary: bigText.map((t) => `,"d":"${t}","d":"x"}`) },
  { weight: 1, arbitrary: bigText.map((t) => `,"x":1,"d":"${t}"}`) },
  { weight: 1, arbitrary: bigText.map((t) => `,"d":"${t}"`) },
  { weight: 1, arbitrary: bigText.map((t) => `,"d":"${t}`) },
  { weight: 1, arbitrary: bigText.map((t) => `,"__proto__":1,"d":"${t}"}`) },
);

const jsonText = fc
  .tuple(
    digits,
    fc.option(digits, { nil: undefined }),
    jsonTail,
    fc.oneof({ weight: 8, arbitrary: fc.constant('{"t":"m","s":') }, { weight: 1, arbitrary: fc.constantFrom('{"t":"m" ,"s":', '{"s":1,"t":"m","x":', '{"t":"q","s":', '{"t":"m","s":"') }),
  )
  .map(([s, a, tail, head]) => `${head}${s}${a === undefined ? '' : `,"a":${a}`}${tail}`);

/** Sometimes (one time in four): a position and a byte to put there. */
const sometimes = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

/**
 * UTF-8 of the text, sometimes with a quote, a backslash or a NUL put in. A text frame
 * reaches the codec only as valid UTF-8 (every transport refuses other text with 1007,
 * test/hostile-serve.test.ts), so a byte that would break the UTF-8 is left out.
 */
const jsonFrame = fc.tuple(jsonText, sometimes(fc.tuple(fc.nat(), fc.constantFrom(0x22, 0x5c, 0x00)))).map(([text, bad]) => {
  const bytes = Buffer.from(text, 'utf8');
  if (bad === undefined) return bytes;
  const bent = Buffer.from(bytes);
  bent[bad[0] % bent.length] = bad[1];
  return isUtf8(bent) ? bent : bytes;
});

// ---- MessagePack frames -----------------------------------------------------------------------

const u8 = (...bytes: number[]) => Buffer.from(bytes);
const be = (value: number, size: number) => {
  const out = Buffer.alloc(size);
  for (let i = size - 1; i >= 0; i--, value = Math.floor(value / 256)) out[i] = value % 256;
  return out;
};
/** An integer in one of MessagePack's forms, the shortest one most often. */
const mpInt = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.maxSafeNat()).map((v) => Buffer.from(encodeEnvelopeMsgpackInt(v))) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.integer({ min: 0, max: 200 }), fc.constantFrom(0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xcb)).map(([v, head]) => {
      if (head === 0xcb) return Buffer.concat([u8(0xcb), (() => { const b = Buffer.alloc(8); b.writeDoubleBE(v); return b; })()]);
      const size = { 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8 }[head]!;
      return Buffer.concat([u8(head), be(Math.min(v, 127), size)]);
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom(u8(0xcf, 0, 0x20, 0, 0, 0, 0, 0, 0), u8(0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0), u8(0xe0), u8(0xc0), u8(0xcd, 0)) },
);

function encodeEnvelopeMsgpackInt(value: number): Uint8Array {
  // The integer as @msgpack/msgpack writes it: an `a` envelope's value, cut out of the map.
  return encodeEnvelopeMsgpack({ t: 'a', a: value }).subarray(7);
}

const strHeader = (length: number, form: 'shortest' | 8 | 16 | 32) => {
  const f = form === 'shortest' ? (length < 32 ? 0 : length < 256 ? 8 : length < 65536 ? 16 : 32) : form;
  if (f === 0) return u8(0xa0 + length);
  return f === 8 ? u8(0xd9, length & 0xff) : f === 16 ? Buffer.concat([u8(0xda), be(length & 0xffff, 2)]) : Buffer.concat([u8(0xdb), be(length, 4)]);
};
const binHeader = (length: number, form: 'shortest' | 8 | 16 | 32) => {
  const f = form === 'shortest' ? (length < 256 ? 8 : length < 65536 ? 16 : 32) : form;
  return f === 8 ? u8(0xc4, length & 0xff) : f === 16 ? Buffer.concat([u8(0xc5), be(length & 0xffff, 2)]) : Buffer.concat([u8(0xc6), be(length, 4)]);
};
const headerForm = fc.oneof({ weight: 8, arbitrary: fc.constant('shortest' as const) }, { weight: 1, arbitrary: fc.constantFrom(8 as const, 16 as const, 32 as const) });

const mpPayload = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(bigText, headerForm, sometimes(fc.tuple(fc.nat(), fc.constantFrom(0x80, 0xc0, 0xed, 0xf8, 0xff)))).map(([t, form, bad]) => {
      const bytes = Buffer.from(t, 'utf8');
      if (bad !== undefined) bytes[bad[0] % bytes.length] = bad[1];
      return Buffer.concat([u8(0xa1, 0x64), strHeader(bytes.length, form), bytes]);
    }),
  },
  { weight: 4, arbitrary: fc.tuple(bytesArb, headerForm).map(([b, form]) => Buffer.concat([u8(0xa1, 0x62), binHeader(b.length, form), b])) },
  {
    weight: 1,
    arbitrary: fc.tuple(bigText, bytesArb).map(([t, b]) => {
      const text = Buffer.from(t, 'utf8');
      return Buffer.concat([u8(0xa1, 0x64, 0x81, 0xa1, 0x74), strHeader(text.length, 'shortest'), text, u8(0xa1, 0x62), binHeader(b.length, 'shortest'), b]);
    }),
  },
  { weight: 1, arbitrary: bigText.map((t) => Buffer.concat([u8(0xd9, 0x01, 0x64), strHeader(Buffer.byteLength(t), 'shortest'), Buffer.from(t)])) },
);

const mpFrame = fc
  .tuple(
    mpInt,
    fc.option(mpInt, { nil: undefined }),
    mpPayload,
    fc.oneof({ weight: 12, arbitrary: fc.constant('exact') }, { weight: 1, arbitrary: fc.constantFrom('one more', 'one fewer', 'extra byte', 'cut', 'keys swapped', 'type q') }),
  )
  .map(([s, a, payload, bend]) => {
    const fields = a === undefined ? 3 : 4;
    const count = bend === 'one more' ? fields + 1 : bend === 'one fewer' ? fields - 1 : fields;
    const head = bend === 'keys swapped' ? [0xa1, 0x73] : [0xa1, 0x74, 0xa1, bend === 'type q' ? 0x71 : 0x6d, 0xa1, 0x73];
    const parts = [u8(0x80 + count, ...head), s];
    if (bend === 'keys swapped') parts.push(u8(0xa1, 0x74, 0xa1, 0x6d));
    if (a !== undefined) parts.push(u8(0xa1, 0x61), a);
    parts.push(payload);
    const frame = Buffer.concat(parts);
    if (bend === 'extra byte') return Buffer.concat([frame, u8(0xc0)]);
    if (bend === 'cut') return frame.subarray(0, frame.length - 1);
    return frame;
  });

// ---- the properties ---------------------------------------------------------------------------

describe('the byte scans (WebAssembly SIMD, and JavaScript where it is missing) agree with a byte-by-byte reference', () => {
  const plainReference = (d: Uint8Array, start: number, end: number) => d.subarray(start, end).every((c) => c >= 0x20 && c !== 0x22 && c !== 0x5c);
  const base64Reference = (d: Uint8Array, start: number, end: number) => [...d.subarray(start, end)].every((c) => /[A-Za-z0-9+/]/.test(String.fromCharCode(c)));
  // Mostly bytes that pass, with a few of any value dropped in, at any offset and length (around the 16-byte blocks too).
  const region = fc
    .tuple(fc.constantFrom('text', 'base64'), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 300 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }))
    .map(([kind, start, length, bad]) => {
      const alphabet = kind === 'text' ? 'ab é0~ÿ' : 'AZaz09+/';
      const d = Buffer.from(Array.from({ length: start + length + 5 }, (_, i) => alphabet.charCodeAt(i % alphabet.length) & 0xff));
      for (const [at, byte] of bad) if (length > 0) d[start + (at % length)] = byte;
      return { d, start, end: start + length };
    });

  it('plainText', () => {
    fc.assert(
      fc.property(region, ({ d, start, end }) => {
        const expected = plainReference(d, start, end);
        expect(plainText(d, start, end)).toBe(expected);
        expect(plainTextJs(d, start, end)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  }, PROPERTY_TIMEOUT);

  it('base64Alphabet', () => {
    fc.assert(
      fc.property(region, ({ d, start, end }) => {
        const expected = base64Reference(d, start, end);
        expect(base64Alphabet(d, start, end)).toBe(expected);
        expect(base64AlphabetJs(d, start, end)).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  }, PROPERTY_TIMEOUT);

  it('every byte value in every lane of a block', () => {
    // The module reads 128 bytes a loop turn, as eight vectors: every lane of each, and the turn after.
    for (let value = 0; value < 256; value++) {
      for (let at = 0; at < 160; at++) {
        const d = Buffer.alloc(3 + 200, 0x41);
        d[3 + at] = value;
        expect(plainText(d, 3, 200)).toBe(plainReference(d, 3, 200));
        expect(base64Alphabet(d, 3, 200)).toBe(base64Reference(d, 3, 200));
      }
    }
  });
});

/** The frame's bytes, a text frame's as UTF-8, a frame in pieces joined. */
const bytesOf = (frame: string | Uint8Array | Pieces) =>
  Array.isArray(frame) ? joinPieces(frame) : Buffer.from(typeof frame === 'string' ? Buffer.from(frame, 'utf8') : (frame as Uint8Array));

/** A received payload kept encoded, sent on in an envelope of either format: the bytes of the general encoders. */
function sendsOnAsTheGeneralEncodersWrite(received: EncodedMessage | undefined): void {
  if (received === undefined) return;
  const codecs = codecsWithin({ maxDepth: 64, maxItems: 10_000, maxKeyLength: 1024 });
  const payload = received instanceof BytesMessage ? { b: received.b } : { d: received.d };
  for (const [s, a] of [[7, undefined], [300, 70_000]] as const) {
    const plain = (a === undefined ? { t: 'm', s, ...payload } : { t: 'm', s, a, ...payload }) as Envelope;
    expect(bytesOf(codecs.json.encode(encodedMessage(s, a, received.encoded)))).toEqual(bytesOf(encodeEnvelope(plain)));
    expect(bytesOf(codecs.msgpack.encode(encodedMessage(s, a, received.encoded)))).toEqual(bytesOf(encodeEnvelopeMsgpack(plain)));
  }
}

describe('the byte path for large m envelopes decides as the general path does', () => {
  it('JSON mode: the same envelope or the same refusal, within any limits', () => {
    let taken = 0;
    fc.assert(
      fc.property(jsonFrame, limitsArb, (frame, limits) => {
        const codec = codecsWithin(limits).json;
        const general = outcome(() => decodeEnvelope(frame.toString('utf8'), limits));
        const fast = readJsonMessage(frame, limits); // never throws: anything it does not take is the general path's
        if (fast !== undefined) taken++;
        expect(outcome(() => codec.decode(frame))).toEqual(general);
        sendsOnAsTheGeneralEncodersWrite(fast);
      }),
      RUNS,
    );
    // The byte path was taken often enough for the comparison to mean something (about one frame in six).
    expect(taken).toBeGreaterThan(RUNS.numRuns / 15);
  }, PROPERTY_TIMEOUT);

  it('MessagePack mode: the same envelope or the same refusal, within any limits', () => {
    let taken = 0;
    fc.assert(
      fc.property(mpFrame, limitsArb, (frame, limits) => {
        const codec = codecsWithin(limits).msgpack;
        const general = outcome(() => decodeEnvelopeMsgpack(frame, limits));
        const fast = readMsgpackMessage(frame, limits);
        if (fast !== undefined) taken++;
        expect(outcome(() => codec.decode(frame))).toEqual(general);
        sendsOnAsTheGeneralEncodersWrite(fast);
      }),
      RUNS,
    );
    expect(taken).toBeGreaterThan(RUNS.numRuns / 15);
  }, PROPERTY_TIMEOUT);
});

describe('the byte path writes the bytes the general encoders write', () => {
  const codecs = codecsWithin({ maxDepth: 64, maxItems: 10_000, maxKeyLength: 1024 });
  const seq = fc.oneof(fc.integer({ min: 1, max: 70_000 }), fc.integer({ min: 1, max: 0x1_0000_0000 + 5 }), fc.maxSafeNat().map((n) => Math.max(1, n)));
  const ack = fc.option(fc.oneof(fc.nat(300), fc.maxSafeNat()), { nil: undefined });

  it('a b payload, in both formats', () => {
    let read = 0;
    fc.assert(
      fc.property(seq, ack, fc.integer({ min: 0, max: BYTE_PATH_MIN + 2000 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })), (s, a, b) => {
        const m: Envelope = a === undefined ? { t: 'm', s, b } : { t: 'm', s, a, b };
        expect(bytesOf(codecs.json.encode(m))).toEqual(bytesOf(encodeEnvelope(m)));
        expect(bytesOf(codecs.msgpack.encode(m))).toEqual(bytesOf(encodeEnvelopeMsgpack(m)));
        // Read back: the size a b kept as it came reports (from its base64 or bin header, without decoding) is its length.
        for (const r of [codecs.json.decode(bytesOf(encodeEnvelope(m))), codecs.msgpack.decode(bytesOf(encodeEnvelopeMsgpack(m)))]) {
          if (!(r instanceof BytesMessage)) continue; // a small frame: the general path's
          read++;
          expect(r.encoded.size).toBe(b.length);
        }
      }),
      { numRuns: 150 },
    );
    expect(read).toBeGreaterThan(50);
  }, PROPERTY_TIMEOUT);

  it('a string d sent on as it was received, into either format', () => {
    let passed = 0;
    fc.assert(
      fc.property(bigText.filter(isWellFormed), seq, ack, seq, ack, (text, s, a, s2, a2) => {
        const received = [
          codecs.json.decode(bytesOf(encodeEnvelope({ t: 'm', s, d: text }))),
          codecs.msgpack.decode(bytesOf(encodeEnvelopeMsgpack({ t: 'm', s, d: text }))),
        ];
        for (const r of received) {
          if (!(r instanceof TextMessage)) continue; // escapes in the text: the general path's
          passed++;
          const out = new TextMessage(s2, a2, r.encoded);
          const plain: Envelope = a2 === undefined ? { t: 'm', s: s2, d: text } : { t: 'm', s: s2, a: a2, d: text };
          expect(r.d).toBe(text);
          expect(bytesOf(codecs.json.encode(out))).toEqual(bytesOf(encodeEnvelope(plain)));
          expect(bytesOf(codecs.msgpack.encode(out))).toEqual(bytesOf(encodeEnvelopeMsgpack(plain)));
        }
      }),
      { numRuns: 150 },
    );
    expect(passed).toBeGreaterThan(100);
  }, PROPERTY_TIMEOUT);
});

/** The envelope a codec decoded, which must have kept its payload encoded (the byte path's TextMessage or BytesMessage). */
function keptEncoded(envelope: Envelope): EncodedMessage {
  if (envelope instanceof TextMessage || envelope instanceof BytesMessage) return envelope;
  throw new Error(`the codec decoded the frame on the general path (t: ${envelope.t}), not keeping its payload encoded`);
}

describe('a received payload sent on stays where it arrived', () => {
  const codecs = codecsWithin({ maxDepth: 64, maxItems: 10_000, maxKeyLength: 1024 });
  const text = 'x'.repeat(16_384);
  const frames = {
    json: Buffer.from(encodeEnvelope({ t: 'm', s: 9, d: text })),
    msgpack: Buffer.from(encodeEnvelopeMsgpack({ t: 'm', s: 9, b: Buffer.from(text) })),
  };

  for (const format of ['json', 'msgpack'] as const) {
    it(`${format}: written in pieces, the payload a view of the received frame, not a copy`, () => {
      const received = keptEncoded(codecs[format].decode(frames[format]));
      const frame = codecs[format].encode(encodedMessage(1, 9, received.encoded));
      expect(Array.isArray(frame)).toBe(true);
      const pieces = frame as Uint8Array[];
      expect(pieces[1]!.buffer).toBe(frames[format].buffer);
      expect(pieces[1]!.byteOffset).toBeGreaterThan(frames[format].byteOffset);
    });

    it(`${format}: copied into a frame of its own when the memory it came in is much larger`, () => {
      const big = Buffer.alloc(frames[format].length * 5);
      frames[format].copy(big, 7);
      const received = keptEncoded(codecs[format].decode(big.subarray(7, 7 + frames[format].length)));
      const frame = codecs[format].encode(encodedMessage(1, 9, received.encoded));
      expect(Buffer.isBuffer(frame)).toBe(true);
      expect((frame as Buffer).buffer).not.toBe(big.buffer);
    });
  }
});

// ---- through a server -------------------------------------------------------------------------

const { startApp, cleanup } = serverTestRig();

describe('large messages through a Lifeline route', () => {
  const ascii = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(500); // 18,000 characters: the byte path
  const unicode = `é😀€ ${ascii}`.repeat(2); // UTF-8 that is not ASCII: the byte path
  const escaped = `"quoted"\n${ascii}\\`; // escapes: the general path
  const bytes = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7) % 256));
  const long = ascii.repeat(6); // 108,000 characters: a frame over 64 KiB (a head with a 64-bit length)
  const payloads: unknown[] = [ascii, unicode, escaped, bytes, 'small', { nested: [ascii] }, long, Buffer.from(long)];

  for (const format of ['json', 'msgpack'] as const) {
    it(`${format}: an echo (socket.send(message)) gives back every payload as sent, and the handler reads each one right`, async () => {
      const seen: { text?: string; json?: unknown; data: Buffer; binary: boolean }[] = [];
      const running = await startApp((app) =>
        app.ws('/echo', { lifeline: true }, (socket) => {
          socket.on('message', (msg) => {
            seen.push(msg.binary ? { data: Buffer.from(msg.data), binary: true } : { text: msg.text, json: msg.json(), data: Buffer.from(msg.data), binary: false });
            socket.send(msg);
          });
        }),
      );
      const c = new LifelineTestClient(running.wsUrl('/echo'), { format });
      cleanup(() => c.close());
      await c.connect();
      for (const p of payloads) c.send(p);
      await waitFor(() => c.messages.length === payloads.length, 'every echo');
      expect(c.messages).toEqual(payloads);
      expect(c.problems).toEqual([]);
      for (const [i, p] of payloads.entries()) {
        if (p instanceof Uint8Array) expect(seen[i]).toEqual({ data: Buffer.from(p), binary: true });
        else if (typeof p === 'string') expect(seen[i]).toEqual({ text: p, json: p, data: Buffer.from(p), binary: false });
        else expect(seen[i]).toEqual({ text: JSON.stringify(p), json: p, data: Buffer.from(JSON.stringify(p)), binary: false });
      }
    });
  }

  for (const format of ['json', 'msgpack'] as const) {
    it(`${format}: a handler that changes a received b's bytes and sends the message sends them as changed`, async () => {
      const running = await startApp((app) =>
        app.ws('/invert', { lifeline: true }, (socket) => {
          socket.on('message', (msg) => {
            for (let i = 0; i < msg.data.length; i++) msg.data[i] = 255 - msg.data[i]!;
            socket.send(msg);
          });
        }),
      );
      const c = new LifelineTestClient(running.wsUrl('/invert'), { format });
      cleanup(() => c.close());
      await c.connect();
      c.send(bytes);
      await waitFor(() => c.messages.length === 1, 'the answer');
      expect(c.messages[0]).toEqual(Buffer.from(bytes.map((x) => 255 - x)));
    });
  }

  it('a for-await loop (which counts the bytes it holds) gets every payload and echoes it as sent, in both formats', async () => {
    const running = await startApp((app) =>
      app.ws('/loop', { lifeline: true }, async (socket) => {
        for await (const msg of socket) socket.send(msg);
      }),
    );
    for (const format of ['json', 'msgpack'] as const) {
      const c = new LifelineTestClient(running.wsUrl('/loop'), { format });
      cleanup(() => c.close());
      await c.connect();
      for (const p of payloads) c.send(p);
      await waitFor(() => c.messages.length === payloads.length, `every echo (${format})`);
      expect(c.messages).toEqual(payloads);
    }
  });

  it('a message received in one format and sent on to a session of the other arrives as sent', async () => {
    const sockets: Socket[] = [];
    const running = await startApp((app) =>
      app.ws('/room', { lifeline: true }, (socket) => {
        sockets.push(socket);
        socket.on('message', (msg) => {
          for (const other of sockets) other.send(msg);
        });
      }),
    );
    const json = new LifelineTestClient(running.wsUrl('/room'), { format: 'json' });
    const msgpack = new LifelineTestClient(running.wsUrl('/room'), { format: 'msgpack' });
    cleanup(() => json.close());
    cleanup(() => msgpack.close());
    await json.connect();
    await msgpack.connect();
    await waitFor(() => sockets.length === 2, 'both sessions');
    json.send(unicode);
    await waitFor(() => msgpack.messages.length === 1, 'the JSON message at the MessagePack client');
    msgpack.send(ascii);
    msgpack.send(bytes);
    await waitFor(() => json.messages.length === 3 && msgpack.messages.length === 3, 'every message at both');
    expect(json.messages).toEqual([unicode, ascii, bytes]);
    expect(msgpack.messages).toEqual([unicode, ascii, bytes]);
  });
});
