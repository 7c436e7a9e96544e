import { encode as msgpackEncode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { BASE64_FIELD, decodeEnvelope, encodeEnvelope } from '../src/envelope-json.js';
import { jsonProblem } from '../src/bounds.js';
import { EnvelopeError } from '../src/envelope-error.js';
import { readEnvelope } from '../src/envelope-validation.js';
import { ENVELOPE_TYPES, type Envelope } from '../src/envelope.js';
import { LifelineError } from '../src/errors.js';
import { decodeEnvelopeMsgpack, encodeEnvelopeMsgpack } from '../src/msgpack.js';

const bytes = (...values: number[]) => new Uint8Array(values);
const utf8Length = (text: string) => new TextEncoder().encode(text).length;

/** One of each envelope type and shape, as an application would build it. */
const examples: Record<string, Envelope> = {
  'hello, new session': { t: 'hello', v: 1 },
  'hello, resume': { t: 'hello', v: 1, sid: 'k3J-_9', tok: 'Qx9aaaaaaaaaaaaaaaaaaaaaaaaaaaaa', rx: 41 },
  'welcome, new': { t: 'welcome', sid: 'k3J', tok: 'Qx9', rx: 0, resumed: false, hb: 25000 },
  'welcome, resumed': { t: 'welcome', sid: 'k3J', tok: 'Qx9', rx: 17, resumed: true, hb: 25000 },
  'welcome, reset': { t: 'welcome', sid: 'n3w', tok: 'T0k', rx: 0, resumed: false, hb: 1, reset: { reason: 'bad-token' } },
  'm, d': { t: 'm', s: 1, d: { text: 'hi' } },
  'm, d null': { t: 'm', s: 1, d: null },
  'm, a and d': { t: 'm', s: 9007199254740991, a: 0, d: 'hello, you' },
  'm, b': { t: 'm', s: 2, b: bytes(0, 1, 2, 250, 255) },
  'm, empty b': { t: 'm', s: 3, a: 5, b: bytes() },
  'q, d': { t: 'q', s: 4, id: 1, n: 'sum', d: [1, 2, 3] },
  'q, a and b': { t: 'q', s: 5, a: 3, id: 2147483647, n: 'upload ✓ 😀', b: bytes(7) },
  'r, d': { t: 'r', s: 6, id: 1, d: 6 },
  'r, b': { t: 'r', s: 7, a: 9, id: 2, b: bytes(1, 2) },
  'r, e': { t: 'r', s: 8, id: 3, e: { code: 'E_NOPE', message: 'no such thing' } },
  a: { t: 'a', a: 64 },
  'a zero': { t: 'a', a: 0 },
  ping: { t: 'ping', ts: 1732560000000 },
  'ping, rtt': { t: 'ping', ts: 12.5, rtt: 3.25 },
  pong: { t: 'pong', ts: -1.5 },
  error: { t: 'error', code: 1002, message: 'm.s: must be an integer from 1 to 2^53-1' },
  'p, d': { t: 'p', ch: 'prices:btc', o: 1, ep: 'k3J', d: { bid: 1.5 } },
  'p, b': { t: 'p', ch: 'a.b/c@d=e+f_g-h', o: 9007199254740991, ep: 'E-p_0', b: bytes(1, 2, 3) },
  'pr, join and leave': { t: 'pr', ch: 'room:1', count: 2, join: [{ id: 'u1', info: { name: 'Ada' } }, { id: 'u2' }], leave: ['u3'] },
  'pr, count only': { t: 'pr', ch: 'room:1', count: 5000, join: [], leave: [] },
};

describe('envelope round trips', () => {
  it('covers every envelope type', () => {
    expect(new Set(Object.values(examples).map((e) => e.t))).toEqual(new Set(ENVELOPE_TYPES));
  });

  for (const [name, envelope] of Object.entries(examples)) {
    it(`JSON: ${name}`, () => {
      const text = encodeEnvelope(envelope);
      expect(decodeEnvelope(text)).toEqual(envelope);
      expect(JSON.parse(text).t).toBe(envelope.t);
      expect(encodeEnvelope(decodeEnvelope(text))).toBe(text);
    });
    it(`MessagePack: ${name}`, () => {
      const frame = encodeEnvelopeMsgpack(envelope);
      expect(frame).toBeInstanceOf(Uint8Array);
      expect(decodeEnvelopeMsgpack(frame)).toEqual(envelope);
      expect(decodeEnvelopeMsgpack(frame.slice().buffer)).toEqual(envelope);
    });
  }

  it('writes the wire form of PROTOCOL.md §2.2', () => {
    expect(encodeEnvelope({ t: 'hello', v: 1 })).toBe('{"t":"hello","v":1}');
    expect(encodeEnvelope({ t: 'welcome', sid: 'k3J', tok: 'Qx9', rx: 0, resumed: false, hb: 25000 })).toBe(
      '{"t":"welcome","sid":"k3J","tok":"Qx9","rx":0,"resumed":false,"hb":25000}',
    );
    expect(encodeEnvelope({ t: 'm', s: 1, a: 1, d: 'hello, you' })).toBe('{"t":"m","s":1,"a":1,"d":"hello, you"}');
    expect(encodeEnvelope({ t: 'a', a: 1 })).toBe('{"t":"a","a":1}');
    expect(encodeEnvelope({ t: 'm', s: 2, b: bytes(1, 2, 3, 4) })).toBe('{"t":"m","s":2,"b":"AQIDBA=="}');
    expect(encodeEnvelope({ t: 'r', s: 3, id: 1, e: { code: 'E', message: 'm' } })).toBe('{"t":"r","s":3,"id":1,"e":{"code":"E","message":"m"}}');
  });

  it('reads what other JSON writers write: any key order, whitespace, escapes, 1.0 for 1', () => {
    expect(decodeEnvelope(' { "d" : {"x": [1, 2]}, "s" : 1.0, "t" : "m" } ')).toEqual({ t: 'm', s: 1, d: { x: [1, 2] } });
    expect(decodeEnvelope('{"t":"\\u006d","s":2,"b":"\\u0041A=="}')).toEqual({ t: 'm', s: 2, b: bytes(0) });
    expect(decodeEnvelope('{"s":3,"t":"m","a":2,"d":"x"}')).toEqual({ t: 'm', s: 3, a: 2, d: 'x' });
  });

  it('ignores unknown fields, and drops them', () => {
    expect(decodeEnvelope('{"t":"m","s":1,"d":2,"future":{"x":1},"id":"not mine"}')).toEqual({ t: 'm', s: 1, d: 2 });
    expect(decodeEnvelope('{"t":"a","a":1,"s":"whatever"}')).toEqual({ t: 'a', a: 1 });
    expect(decodeEnvelope('{"t":"hello","v":1,"x":[]}')).toEqual({ t: 'hello', v: 1 });
    const withExtra = { t: 'm', s: 1, d: 2, extra: true } as Envelope;
    expect(encodeEnvelope(withExtra)).toBe('{"t":"m","s":1,"d":2}');
    expect(decodeEnvelopeMsgpack(encodeEnvelopeMsgpack(withExtra))).toEqual({ t: 'm', s: 1, d: 2 });
  });

  it('reads a key written twice with its last value, in both modes (PROTOCOL.md §2.1)', () => {
    expect(decodeEnvelope('{"t":"m","s":1,"s":2,"d":"x"}')).toEqual({ t: 'm', s: 2, d: 'x' });
    expect(decodeEnvelope('{"t":"hello","t":"m","s":3,"d":null}')).toEqual({ t: 'm', s: 3, d: null });
    // A fixmap of four entries: t "m", s 1, s 2, d "x".
    const twice = bytes(0x84, 0xa1, 0x74, 0xa1, 0x6d, 0xa1, 0x73, 0x01, 0xa1, 0x73, 0x02, 0xa1, 0x64, 0xa1, 0x78);
    expect(decodeEnvelopeMsgpack(twice)).toEqual({ t: 'm', s: 2, d: 'x' });
  });

  it('refuses a __proto__ key in JSON mode as MessagePack mode does (1007), escaped or not; a __proto__ string is data', () => {
    for (const text of ['{"t":"m","s":1,"d":{"__proto__":{"polluted":1}}}', '{"t":"m","s":1,"d":{"\\u005f_proto__":1}}', '{"__proto__":1,"t":"a","a":0}']) {
      expect(() => decodeEnvelope(text)).toThrow(expect.objectContaining({ closeCode: 1007, reason: 'message has a key __proto__' }));
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(decodeEnvelope('{"t":"m","s":1,"d":{"x":"__proto__"}}')).toEqual({ t: 'm', s: 1, d: { x: '__proto__' } });
  });

  it('counts request names in code points: 128 astral characters pass, 129 do not', () => {
    const ok = '😀'.repeat(128);
    expect(ok.length).toBe(256);
    expect(decodeEnvelope(JSON.stringify({ t: 'q', s: 1, id: 1, n: ok, d: 0 }))).toMatchObject({ n: ok });
    expect(() => decodeEnvelope(JSON.stringify({ t: 'q', s: 1, id: 1, n: `${ok}x`, d: 0 }))).toThrow(/q\.n/);
    expect(() => decodeEnvelope(JSON.stringify({ t: 'q', s: 1, id: 1, n: 'x'.repeat(129), d: 0 }))).toThrow(/q\.n/);
  });
});

/** [input, close code, text the reason must contain]. */
const invalidJson: [string, number, string][] = [
  ['', 1007, 'JSON'],
  ['not json', 1007, 'JSON'],
  ['{"t":"m","s":1,"d":1', 1007, 'JSON'],
  ['{"t":"m","s":1,"d":1}}', 1007, 'JSON'],
  ["{'t':'m'}", 1007, 'JSON'],
  ['{"t":"m","s":1,"d":NaN}', 1007, 'JSON'],
  ['{"t":"m","s":01,"d":1}', 1007, 'JSON'],
  ['{"t":"m","s":1,"b":"}', 1007, 'JSON'],
  ['null', 1002, 'object'],
  ['42', 1002, 'object'],
  ['"m"', 1002, 'object'],
  ['[{"t":"m","s":1,"d":1}]', 1002, 'object'],
  ['{}', 1002, 't: missing'],
  ['{"t":null}', 1002, 't: must be a string'],
  ['{"t":["m"]}', 1002, 't: must be a string'],
  ['{"t":"zz"}', 1002, 'unknown envelope type "zz"'],
  ['{"t":"M","s":1,"d":1}', 1002, 'unknown envelope type "M"'],
  [`{"t":"${'x'.repeat(500)}"}`, 1002, 'unknown envelope type'],
  // m
  ['{"t":"m","d":1}', 1002, 'm.s: missing'],
  ['{"t":"m","s":0,"d":1}', 1002, 'm.s'],
  ['{"t":"m","s":-1,"d":1}', 1002, 'm.s'],
  ['{"t":"m","s":1.5,"d":1}', 1002, 'm.s'],
  ['{"t":"m","s":"1","d":1}', 1002, 'm.s'],
  ['{"t":"m","s":true,"d":1}', 1002, 'm.s'],
  ['{"t":"m","s":9007199254740992,"d":1}', 1002, 'm.s'],
  ['{"t":"m","s":1e400,"d":1}', 1002, 'm.s'],
  ['{"t":"m","s":1,"a":-1,"d":1}', 1002, 'm.a'],
  ['{"t":"m","s":1,"a":null,"d":1}', 1002, 'm.a'],
  ['{"t":"m","s":1,"a":0.5,"d":1}', 1002, 'm.a'],
  ['{"t":"m","s":1}', 1002, 'm: needs d or b'],
  ['{"t":"m","s":1,"d":1,"b":"AA=="}', 1002, 'm: has both d and b'],
  ['{"t":"m","s":1,"d":null,"b":null}', 1002, 'm: has both d and b'],
  ['{"t":"m","s":1,"b":null}', 1002, 'm.b: must be base64'],
  ['{"t":"m","s":1,"b":5}', 1002, 'm.b: must be base64'],
  ['{"t":"m","s":1,"b":"A"}', 1002, 'm.b: must be base64'],
  ['{"t":"m","s":1,"b":"AA"}', 1002, 'm.b: must be base64'],
  ['{"t":"m","s":1,"b":"AB=="}', 1002, 'm.b: must be base64'],
  ['{"t":"m","s":1,"b":"AAB="}', 1002, 'm.b: must be base64'],
  ['{"t":"m","s":1,"b":"AA=A"}', 1002, 'm.b: must be base64'],
  ['{"t":"m","s":1,"b":"AA AA==="}', 1002, 'm.b: must be base64'],
  ['{"t":"m","s":1,"b":"-_-_"}', 1002, 'm.b: must be base64'],
  ['{"t":"m","s":1,"b":"AAAA\\n"}', 1002, 'm.b: must be base64'],
  // q
  ['{"t":"q","s":1,"n":"x","d":1}', 1002, 'q.id: missing'],
  ['{"t":"q","s":1,"id":0,"n":"x","d":1}', 1002, 'q.id'],
  ['{"t":"q","s":1,"id":2147483648,"n":"x","d":1}', 1002, 'q.id'],
  ['{"t":"q","s":1,"id":1.5,"n":"x","d":1}', 1002, 'q.id'],
  ['{"t":"q","id":1,"n":"x","d":1}', 1002, 'q.s: missing'],
  ['{"t":"q","s":1,"id":1,"d":1}', 1002, 'q.n'],
  ['{"t":"q","s":1,"id":1,"n":"","d":1}', 1002, 'q.n'],
  ['{"t":"q","s":1,"id":1,"n":7,"d":1}', 1002, 'q.n'],
  [`{"t":"q","s":1,"id":1,"n":"${'n'.repeat(129)}","d":1}`, 1002, 'q.n'],
  ['{"t":"q","s":1,"id":1,"n":"x"}', 1002, 'q: needs d or b'],
  ['{"t":"q","s":1,"id":1,"n":"x","d":1,"b":""}', 1002, 'q: has both'],
  ['{"t":"q","s":1,"a":-2,"id":1,"n":"x","d":1}', 1002, 'q.a'],
  // r
  ['{"t":"r","s":1,"id":1}', 1002, 'r: needs d, b or e'],
  ['{"t":"r","s":1,"id":1,"d":1,"e":{"code":"E","message":""}}', 1002, 'r: has more than one'],
  ['{"t":"r","s":1,"id":1,"d":1,"b":""}', 1002, 'r: has more than one'],
  ['{"t":"r","s":1,"d":1}', 1002, 'r.id: missing'],
  ['{"t":"r","s":1,"id":1,"e":"boom"}', 1002, 'r.e'],
  ['{"t":"r","s":1,"id":1,"e":["E","m"]}', 1002, 'r.e'],
  ['{"t":"r","s":1,"id":1,"e":{"message":"m"}}', 1002, 'r.e.code'],
  ['{"t":"r","s":1,"id":1,"e":{"code":"","message":"m"}}', 1002, 'r.e.code'],
  ['{"t":"r","s":1,"id":1,"e":{"code":"E"}}', 1002, 'r.e.message'],
  ['{"t":"r","s":1,"id":1,"b":"*"}', 1002, 'r.b'],
  // a
  ['{"t":"a"}', 1002, 'a.a: missing'],
  ['{"t":"a","a":-1}', 1002, 'a.a'],
  ['{"t":"a","a":"5"}', 1002, 'a.a'],
  ['{"t":"a","a":1e16}', 1002, 'a.a'],
  // hello
  ['{"t":"hello"}', 1002, 'hello.v'],
  ['{"t":"hello","v":2}', 1002, 'hello.v'],
  ['{"t":"hello","v":"1"}', 1002, 'hello.v'],
  ['{"t":"hello","v":1,"sid":"abc"}', 1002, 'hello: sid, tok and rx'],
  ['{"t":"hello","v":1,"sid":"abc","tok":"def"}', 1002, 'hello: sid, tok and rx'],
  ['{"t":"hello","v":1,"rx":0}', 1002, 'hello: sid, tok and rx'],
  ['{"t":"hello","v":1,"sid":"a b","tok":"def","rx":0}', 1002, 'hello.sid'],
  ['{"t":"hello","v":1,"sid":"","tok":"def","rx":0}', 1002, 'hello.sid'],
  [`{"t":"hello","v":1,"sid":"${'s'.repeat(129)}","tok":"def","rx":0}`, 1002, 'hello.sid'],
  ['{"t":"hello","v":1,"sid":"abc","tok":"d+f=","rx":0}', 1002, 'hello.tok'],
  ['{"t":"hello","v":1,"sid":"abc","tok":7,"rx":0}', 1002, 'hello.tok'],
  ['{"t":"hello","v":1,"sid":"abc","tok":"def","rx":-1}', 1002, 'hello.rx'],
  // welcome
  ['{"t":"welcome","tok":"t","rx":0,"resumed":false,"hb":1}', 1002, 'welcome.sid: missing'],
  ['{"t":"welcome","sid":"s","rx":0,"resumed":false,"hb":1}', 1002, 'welcome.tok: missing'],
  ['{"t":"welcome","sid":"s","tok":"t","resumed":false,"hb":1}', 1002, 'welcome.rx: missing'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"hb":1}', 1002, 'welcome.resumed'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"resumed":"no","hb":1}', 1002, 'welcome.resumed'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"resumed":false}', 1002, 'welcome.hb'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"resumed":false,"hb":0}', 1002, 'welcome.hb'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"resumed":false,"hb":2147483648}', 1002, 'welcome.hb'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"resumed":false,"hb":2.5}', 1002, 'welcome.hb'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"resumed":true,"hb":1,"reset":{"reason":"expired"}}', 1002, 'welcome.reset'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"resumed":false,"hb":1,"reset":"expired"}', 1002, 'welcome.reset'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"resumed":false,"hb":1,"reset":{}}', 1002, 'welcome.reset.reason'],
  ['{"t":"welcome","sid":"s","tok":"t","rx":0,"resumed":false,"hb":1,"reset":{"reason":"bored"}}', 1002, 'welcome.reset.reason'],
  // ping, pong
  ['{"t":"ping"}', 1002, 'ping.ts: missing'],
  ['{"t":"ping","ts":"1"}', 1002, 'ping.ts'],
  ['{"t":"ping","ts":1e400}', 1002, 'ping.ts'],
  ['{"t":"ping","ts":-1e400}', 1002, 'ping.ts'],
  ['{"t":"ping","ts":1,"rtt":-1}', 1002, 'ping.rtt'],
  ['{"t":"ping","ts":1,"rtt":"5"}', 1002, 'ping.rtt'],
  ['{"t":"ping","ts":1,"rtt":1e999}', 1002, 'ping.rtt'],
  ['{"t":"pong"}', 1002, 'pong.ts: missing'],
  ['{"t":"pong","ts":null}', 1002, 'pong.ts'],
  // error
  ['{"t":"error","code":999,"message":"x"}', 1002, 'error.code'],
  ['{"t":"error","code":1005,"message":"x"}', 1002, 'error.code'],
  ['{"t":"error","code":5000,"message":"x"}', 1002, 'error.code'],
  ['{"t":"error","code":"1002","message":"x"}', 1002, 'error.code'],
  ['{"t":"error","code":1002}', 1002, 'error.message'],
];

function expectEnvelopeError(run: () => unknown, closeCode: number, reasonPart: string): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'should throw').toBeInstanceOf(EnvelopeError);
  const error = thrown as EnvelopeError;
  expect(error.closeCode).toBe(closeCode);
  expect(error.reason).toContain(reasonPart);
  expect(error.message).toBe(error.reason);
  expect(error.code).toBe('LL_INVALID_ENVELOPE');
  expect(error).toBeInstanceOf(LifelineError);
  expect(error.name).toBe('EnvelopeError');
  expect(utf8Length(error.reason)).toBeLessThanOrEqual(123);
}

describe('invalid JSON-mode input', () => {
  for (const [input, closeCode, reason] of invalidJson) {
    const label = input.length > 90 ? `${input.slice(0, 87)}...` : input;
    it(`${closeCode} for ${label || '(empty)'}`, () => {
      expectEnvelopeError(() => decodeEnvelope(input), closeCode, reason);
    });
  }

  it('says the same in MessagePack mode for the same structure', () => {
    for (const [input, closeCode, reason] of invalidJson) {
      if (closeCode !== 1002 || input.includes('"b"') || input.includes('1e400') || input.includes('1e999')) continue;
      expectEnvelopeError(() => decodeEnvelopeMsgpack(msgpackEncode(JSON.parse(input))), 1002, reason);
    }
  });
});

describe('invalid MessagePack-mode input', () => {
  const cases: [string, Uint8Array, number, string][] = [
    ['no bytes', bytes(), 1007, 'MessagePack'],
    ['a byte that is never used (0xc1)', bytes(0xc1), 1007, 'MessagePack'],
    ['a truncated map', msgpackEncode({ t: 'm', s: 1, d: 'hello' }).slice(0, 8), 1007, 'MessagePack'],
    ['two values', bytes(...msgpackEncode({ t: 'a', a: 1 }), 0xc0), 1007, 'MessagePack'],
    ['a map with an array key', bytes(0x81, 0x91, 0x01, 0x01), 1007, 'MessagePack'],
    ['a __proto__ key', msgpackEncode(JSON.parse('{"t":"m","s":1,"d":{"__proto__":1}}')), 1007, 'key __proto__'],
    ['nil', bytes(0xc0), 1002, 'object'],
    ['an array', msgpackEncode([1, 2]), 1002, 'object'],
    ['bytes', msgpackEncode(bytes(1, 2)), 1002, 'object'],
    ['b as a string', msgpackEncode({ t: 'm', s: 1, b: 'AAAA' }), 1002, 'm.b: must be a MessagePack byte string'],
    ['b as an array', msgpackEncode({ t: 'r', s: 1, id: 1, b: [1, 2] }), 1002, 'r.b'],
    ['s as a float', msgpackEncode({ t: 'm', s: 1.5, d: 1 }), 1002, 'm.s'],
    ['s as NaN', msgpackEncode({ t: 'm', s: NaN, d: 1 }), 1002, 'm.s'],
    ['s beyond 2^53', bytes(0x83, 0xa1, 0x74, 0xa1, 0x6d, 0xa1, 0x73, 0xcf, 0, 0x40, 0, 0, 0, 0, 0, 0, 0xa1, 0x64, 0x01), 1002, 'm.s'],
    ['ts as Infinity', msgpackEncode({ t: 'pong', ts: Infinity }), 1002, 'pong.ts'],
    ['rtt as NaN', msgpackEncode({ t: 'ping', ts: 1, rtt: NaN }), 1002, 'ping.rtt'],
    ['a timestamp extension in d', msgpackEncode({ t: 'm', s: 1, d: new Date(0) }), 1002, 'extension type -1'],
    ['an application extension', bytes(0xd4, 0x05, 0x00), 1002, 'extension type 5'],
  ];
  for (const [name, input, closeCode, reason] of cases) {
    it(`${closeCode} for ${name}`, () => {
      expectEnvelopeError(() => decodeEnvelopeMsgpack(input), closeCode, reason);
    });
  }

  it('accepts integer keys as strings and floats that are integers', () => {
    // {t: 'm', s: 1, d: {1: 'one'}} with an integer key
    const intKey = bytes(0x83, 0xa1, 0x74, 0xa1, 0x6d, 0xa1, 0x73, 0x01, 0xa1, 0x64, 0x81, 0x01, 0xa3, 0x6f, 0x6e, 0x65);
    expect(decodeEnvelopeMsgpack(intKey)).toEqual({ t: 'm', s: 1, d: { 1: 'one' } });
    expect(decodeEnvelopeMsgpack(bytes(0x83, 0xa1, 0x74, 0xa1, 0x61, 0xa1, 0x61, 0xcb, 0x40, 0x14, 0, 0, 0, 0, 0, 0, 0xa1, 0x78, 0xc0))).toEqual({ t: 'a', a: 5 });
  });
});

describe('encoders refuse what a peer would refuse', () => {
  const bad: [string, unknown][] = [
    ['s 0', { t: 'm', s: 0, d: 1 }],
    ['a -1', { t: 'm', s: 1, a: -1, d: 1 }],
    ['neither d nor b', { t: 'm', s: 1 }],
    ['d undefined', { t: 'm', s: 1, d: undefined }],
    ['both d and b', { t: 'm', s: 1, d: 1, b: bytes(1) }],
    ['b as a number array', { t: 'm', s: 1, b: [1, 2] }],
    ['q without n', { t: 'q', s: 1, id: 1, d: 1 }],
    ['r with two outcomes', { t: 'r', s: 1, id: 1, d: 1, e: { code: 'E', message: '' } }],
    ['hello v 2', { t: 'hello', v: 2 }],
    ['welcome with reset and resumed', { t: 'welcome', sid: 's', tok: 't', rx: 0, resumed: true, hb: 1, reset: { reason: 'expired' } }],
    ['unknown t', { t: 'x' }],
    ['not an object', 'm'],
  ];
  for (const [name, envelope] of bad) {
    it(`LL_ENCODE_FAILED: ${name}`, () => {
      for (const encode of [encodeEnvelope, encodeEnvelopeMsgpack]) {
        expect(() => encode(envelope as Envelope)).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED', message: expect.stringContaining('Cannot encode') }));
        try {
          encode(envelope as Envelope);
        } catch (error) {
          expect(error).not.toBeInstanceOf(EnvelopeError);
        }
      }
    });
  }

  it('LL_ENCODE_FAILED for a d with no JSON form', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const d of [() => 1, Symbol('x'), 10n, cyclic]) {
      expect(() => encodeEnvelope({ t: 'm', s: 1, d })).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED' }));
      expect(() => encodeEnvelope({ t: 'q', s: 1, id: 1, n: 'x', d })).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED' }));
    }
  });

  it('LL_ENCODE_FAILED for a d MessagePack cannot carry without extensions', () => {
    for (const d of [new Date(0), 10n, { when: new Date(0) }]) {
      expect(() => encodeEnvelopeMsgpack({ t: 'm', s: 1, d })).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED' }));
    }
  });
});

describe('the JSON fast path for m', () => {
  /** What the general path makes of `text`: the envelope, or the error's close code and reason. */
  function general(text: string): unknown {
    // The content rules (bounds.ts) come before either path.
    if (jsonProblem(text, undefined) !== undefined) return { closeCode: 1007 };
    try {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return { closeCode: 1007 };
      }
      return readEnvelope(value, BASE64_FIELD);
    } catch (error) {
      return { closeCode: (error as EnvelopeError).closeCode, reason: (error as EnvelopeError).reason };
    }
  }
  function viaDecoder(text: string): unknown {
    try {
      return decodeEnvelope(text);
    } catch (error) {
      const e = error as EnvelopeError;
      return e.closeCode === 1007 ? { closeCode: 1007 } : { closeCode: e.closeCode, reason: e.reason };
    }
  }

  const cases = [
    '{"t":"m","s":1,"d":1}',
    '{"t":"m","s":1,"a":0,"d":[1,{"x":"}"}]}',
    '{"t":"m","s":1,"d":1 }',
    '{"t":"m","s":1,"d":}',
    '{"t":"m","s":1,"d":1}}',
    '{"t":"m","s":1,"d":1,"b":"AA=="}',
    '{"t":"m","s":1,"d":1,"s":2}',
    '{"t":"m","s":1,"d":1,"t":"q"}',
    '{"t":"m","s":1,"b":""}',
    '{"t":"m","s":1,"b":"}',
    '{"t":"m","s":1,"b":"AA=="}',
    '{"t":"m","s":1,"b":"AA==","d":"x"}',
    '{"t":"m","s":1,"b":"AA=="} ',
    '{"t":"m","s":0,"d":1}',
    '{"t":"m","s":00,"d":1}',
    '{"t":"m","s":01,"d":1}',
    '{"t":"m","s":1.0,"d":1}',
    '{"t":"m","s":1e0,"d":1}',
    '{"t":"m","s":-1,"d":1}',
    '{"t":"m","s":123456789012345,"d":1}',
    '{"t":"m","s":1234567890123456,"d":1}',
    '{"t":"m","s":9007199254740992,"d":1}',
    '{"t":"m","s":1,"a":00,"d":1}',
    '{"t":"m","s":1,"a":0,"a":1,"d":1}',
    '{"t":"m","s":1,"a":,"d":1}',
    '{"t":"m","s":,"d":1}',
    '{"t":"m","s":1}',
    '{"t":"m","s":1,"d":"\\ud800"}',
  ];
  for (const text of cases) {
    it(`agrees with the general path on ${text}`, () => {
      expect(viaDecoder(text)).toEqual(general(text));
    });
  }
});
