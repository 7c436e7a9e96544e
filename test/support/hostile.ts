/**
 * Hostile values for the adversarial suite (issue 14): deep nesting (10^3–10^5, arrays and
 * objects), wide containers, long and escaped keys, `__proto__`/`constructor`/`prototype`
 * keys, lone surrogates, huge strings and numbers — each rendered both as JSON text and as
 * MessagePack bytes, built directly (a 100,000-deep value cannot go through JSON.stringify
 * or an encoder), with what the server must do about it computed here, from how the value
 * was built: the test's own oracle, not the product's decoder.
 *
 * The bounds are docs/server.md "Limits": depth 64, items 10,000, keys of 1,024 characters.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { LifelineTestClient } from './lifeline-test-client.js';
import { waitFor } from './wait.js';

export const LIMITS = { depth: 64, items: 10_000, key: 1024 } as const;

/** What a value is, as far as the bounds and the content rules go. */
export interface Stats {
  /** Levels of arrays/objects (a scalar 0). */
  depth: number;
  /** Values inside containers, in all. */
  items: number;
  /** The longest key, in UTF-16 code units (0 without keys). */
  maxKey: number;
  /** A key `__proto__` somewhere. */
  proto: boolean;
  /** A lone surrogate in a string or key (JSON escape; MessagePack: invalid UTF-8). */
  lone: boolean;
}

/** A hostile (or legitimate) value in both wire forms. */
export interface Hostile {
  /** What it is, for failure messages. */
  label: string;
  json: string;
  msgpack: Uint8Array;
  stats: Stats;
  /**
   * The JavaScript value a peer that accepts it reads (and echoes), where the test can hold
   * it; undefined when it is too big to compare cheaply (then only its acceptance is checked).
   */
  value?: unknown;
  /** The value once written back by an encoder: non-finite numbers become null. */
  written?: unknown;
}

const scalarStats = (lone = false): Stats => ({ depth: 0, items: 0, maxKey: 0, proto: false, lone });

// ---- MessagePack bytes, by hand ------------------------------------------------------------

const bytes = (...parts: (number | Uint8Array | number[])[]): Uint8Array => {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else out.push(...p);
  }
  return Uint8Array.from(out);
};

function concat(parts: Uint8Array[]): Uint8Array {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function uint(n: number, width: 2 | 4): number[] {
  return width === 2 ? [(n >> 8) & 0xff, n & 0xff] : [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

export function mpArrayHeader(n: number): Uint8Array {
  return n < 16 ? bytes(0x90 + n) : n < 0x10000 ? bytes(0xdc, uint(n, 2)) : bytes(0xdd, uint(n, 4));
}

export function mpMapHeader(n: number): Uint8Array {
  return n < 16 ? bytes(0x80 + n) : n < 0x10000 ? bytes(0xde, uint(n, 2)) : bytes(0xdf, uint(n, 4));
}

/** A MessagePack str of these UTF-8 bytes (valid or not). */
export function mpStrBytes(utf8: Uint8Array): Uint8Array {
  const n = utf8.length;
  const head = n < 32 ? bytes(0xa0 + n) : n < 0x100 ? bytes(0xd9, n) : n < 0x10000 ? bytes(0xda, uint(n, 2)) : bytes(0xdb, uint(n, 4));
  return concat([head, utf8]);
}

export const mpStr = (s: string): Uint8Array => mpStrBytes(new TextEncoder().encode(s));

// ---- builders ------------------------------------------------------------------------------

/** `n` arrays (or single-key objects) inside one another, the innermost holding `1` or nothing. */
export function nested(n: number, container: 'array' | 'object', leaf: boolean): Hostile {
  const array = container === 'array';
  // The innermost level holds 1, or is the empty container itself.
  const levels = leaf ? n : n - 1;
  const json = (array ? '[' : '{"a":').repeat(levels) + (leaf ? '1' : array ? '[]' : '{}') + (array ? ']' : '}').repeat(levels);
  const head = array ? bytes(0x91) : bytes(0x81, 0xa1, 0x61);
  const msgpack = concat([...Array.from({ length: levels }, () => head), leaf ? bytes(0x01) : array ? bytes(0x90) : bytes(0x80)]);
  let value: unknown;
  if (n <= 200) {
    value = leaf ? 1 : array ? [] : {};
    for (let i = 0; i < levels; i++) value = array ? [value] : { a: value };
  }
  return {
    label: `${n} nested ${container}s${leaf ? ' around 1' : ''}`,
    json,
    msgpack,
    stats: { depth: n, items: levels, maxKey: array ? 0 : 1, proto: false, lone: false },
    value,
    written: value,
  };
}

/** One array (or object) of `n` zeros. */
export function wide(n: number, container: 'array' | 'object'): Hostile {
  if (container === 'array') {
    const json = `[${new Array(n).fill('0').join(',')}]`;
    return {
      label: `an array of ${n} items`,
      json,
      msgpack: concat([mpArrayHeader(n), new Uint8Array(n)]),
      stats: { depth: 1, items: n, maxKey: 0, proto: false, lone: false },
      value: n <= 20_000 ? new Array(n).fill(0) : undefined,
      written: n <= 20_000 ? new Array(n).fill(0) : undefined,
    };
  }
  const keys = Array.from({ length: n }, (_, i) => `k${i}`);
  const json = `{${keys.map((k) => `"${k}":0`).join(',')}}`;
  const value = n <= 20_000 ? Object.fromEntries(keys.map((k) => [k, 0])) : undefined;
  return {
    label: `an object of ${n} members`,
    json,
    msgpack: concat([mpMapHeader(n), ...keys.map((k) => concat([mpStr(k), bytes(0)]))]),
    stats: { depth: 1, items: n, maxKey: n === 0 ? 0 : `k${n - 1}`.length, proto: false, lone: false },
    value,
    written: value,
  };
}

/** `{ KEY: 1 }` with a key of `length` characters, escaped (`\u006b` for each k) or not. */
export function longKey(length: number, escaped: boolean): Hostile {
  const key = 'k'.repeat(length);
  const text = escaped ? '\\u006b'.repeat(length) : key;
  return {
    label: `a key of ${length} characters${escaped ? ', every one escaped' : ''}`,
    json: `{"${text}":1}`,
    msgpack: concat([mpMapHeader(1), mpStr(key), bytes(1)]),
    stats: { depth: 1, items: 1, maxKey: length, proto: false, lone: false },
    value: { [key]: 1 },
    written: { [key]: 1 },
  };
}

/** Keys that look like prototype pollution; only `__proto__` itself is refused. */
export const PROTO_CASES: { label: string; json: string; msgpack: Uint8Array; proto: boolean; value?: unknown }[] = [
  { label: '{"__proto__":{"polluted":1}}', json: '{"__proto__":{"polluted":1}}', msgpack: concat([mpMapHeader(1), mpStr('__proto__'), mpMapHeader(1), mpStr('polluted'), bytes(1)]), proto: true },
  { label: 'an escaped __proto__ key', json: '{"\\u005f_proto__":1}', msgpack: concat([mpMapHeader(1), mpStr('__proto__'), bytes(1)]), proto: true },
  { label: 'a fully escaped __proto__ key', json: '{"\\u005f\\u005f\\u0070roto\\u005f\\u005f":1}', msgpack: concat([mpMapHeader(1), mpStr('__proto__'), bytes(1)]), proto: true },
  { label: '__proto__ deep inside', json: '[{"a":[{"__proto__":[]}]}]', msgpack: concat([mpArrayHeader(1), mpMapHeader(1), mpStr('a'), mpArrayHeader(1), mpMapHeader(1), mpStr('__proto__'), mpArrayHeader(0)]), proto: true },
  { label: 'constructor and prototype keys', json: '{"constructor":{"prototype":{"x":1}},"prototype":1}', msgpack: concat([mpMapHeader(2), mpStr('constructor'), mpMapHeader(1), mpStr('prototype'), mpMapHeader(1), mpStr('x'), bytes(1), mpStr('prototype'), bytes(1)]), proto: false, value: JSON.parse('{"constructor":{"prototype":{"x":1}},"prototype":1}') },
  { label: 'a "__proto__" string value', json: '{"x":"__proto__"}', msgpack: concat([mpMapHeader(1), mpStr('x'), mpStr('__proto__')]), proto: false, value: { x: '__proto__' } },
  { label: 'a key __proto___ (one more underscore)', json: '{"__proto___":1}', msgpack: concat([mpMapHeader(1), mpStr('__proto___'), bytes(1)]), proto: false, value: { __proto___: 1 } },
];

export function protoCase(i: number): Hostile {
  const c = PROTO_CASES[i % PROTO_CASES.length]!;
  return { label: c.label, json: c.json, msgpack: c.msgpack, stats: { depth: maxBracketDepth(c.json), items: 5, maxKey: 11, proto: c.proto, lone: false }, value: c.value, written: c.value };
}

/** Strings with surrogates: lone ones are refused, pairs and escaped backslashes are text. */
export const SURROGATE_CASES: { label: string; json: string; msgpack: Uint8Array; lone: boolean; value?: string }[] = [
  { label: 'a lone high surrogate escape', json: '"\\ud800"', msgpack: mpStrBytes(bytes(0xed, 0xa0, 0x80)), lone: true },
  { label: 'a lone low surrogate escape', json: '"\\udc00"', msgpack: mpStrBytes(bytes(0xed, 0xb0, 0x80)), lone: true },
  { label: 'a high surrogate then text', json: '"\\uD83Dx"', msgpack: mpStrBytes(bytes(0xed, 0xa0, 0xbd, 0x78)), lone: true },
  { label: 'two high surrogates', json: '"\\ud800\\ud800"', msgpack: mpStrBytes(bytes(0xed, 0xa0, 0x80, 0xed, 0xa0, 0x80)), lone: true },
  { label: 'a low then a high', json: '"\\udc00\\ud800"', msgpack: mpStrBytes(bytes(0xed, 0xb0, 0x80, 0xed, 0xa0, 0x80)), lone: true },
  { label: 'a lone surrogate in a key', json: '{"\\ud800":1}', msgpack: concat([mpMapHeader(1), mpStrBytes(bytes(0xed, 0xa0, 0x80)), bytes(1)]), lone: true },
  { label: 'an overlong NUL (MessagePack) / escaped lone surrogate at the end (JSON)', json: '["ok","\\udfff"]', msgpack: concat([mpArrayHeader(2), mpStr('ok'), mpStrBytes(bytes(0xc0, 0x80))]), lone: true },
  { label: 'a surrogate pair as escapes', json: '"\\ud83d\\ude00"', msgpack: mpStr('😀'), lone: false, value: '😀' },
  { label: 'an escaped backslash before u', json: '"\\\\ud800"', msgpack: mpStr('\\ud800'), lone: false, value: '\\ud800' },
  { label: 'a non-surrogate escape', json: '"\\u00e9\\u0000"', msgpack: mpStr('é\u0000'), lone: false, value: 'é\u0000' },
];

export function surrogateCase(i: number): Hostile {
  const c = SURROGATE_CASES[i % SURROGATE_CASES.length]!;
  const container = c.json.startsWith('[') || c.json.startsWith('{');
  return {
    label: c.label,
    json: c.json,
    msgpack: c.msgpack,
    stats: { depth: container ? 1 : 0, items: 2, maxKey: 1, proto: false, lone: c.lone },
    value: c.value,
    written: c.value,
  };
}

/** A string of `length` characters (UTF-16 units) from `unit`. */
export function hugeString(length: number, unit: string): Hostile {
  const s = unit.repeat(Math.max(1, Math.floor(length / unit.length))); // whole units: a pair is never cut
  return { label: `a string of ${length} characters of ${JSON.stringify(unit)}`, json: JSON.stringify(s), msgpack: mpStr(s), stats: scalarStats(), value: s, written: s };
}

/** Numbers a double cannot hold exactly, or at all. */
export const NUMBER_CASES: { label: string; json: string; msgpack: Uint8Array; value: number }[] = [
  { label: '1e400', json: '1e400', msgpack: bytes(0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0), value: Infinity },
  { label: '-1e400', json: '-1e400', msgpack: bytes(0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0), value: -Infinity },
  { label: 'a 400-digit integer', json: '9'.repeat(400), msgpack: bytes(0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0), value: Infinity },
  { label: '2^64 - 1', json: '18446744073709551615', msgpack: bytes(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), value: 18446744073709551615 },
  { label: '-2^63', json: '-9223372036854775808', msgpack: bytes(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0), value: -9223372036854775808 },
  { label: '1e-400 (0 in MessagePack)', json: '1e-400', msgpack: bytes(0xcb, 0, 0, 0, 0, 0, 0, 0, 0), value: 0 },
  { label: 'a 10,000-digit fraction', json: `0.${'3'.repeat(10_000)}`, msgpack: bytes(0xcb, 0x3f, 0xd5, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55), value: 0.3333333333333333 },
];

export function numberCase(i: number): Hostile {
  const c = NUMBER_CASES[i % NUMBER_CASES.length]!;
  return { label: c.label, json: c.json, msgpack: c.msgpack, stats: scalarStats(), value: c.value, written: Number.isFinite(c.value) ? c.value : null };
}

/** A legitimate value from fast-check's JSON generator: deeper and wider than the old fuzzers. */
export function jsonHostile(value: unknown, encodeMsgpack: (v: unknown) => Uint8Array): Hostile {
  const json = JSON.stringify(value);
  return { label: `a generated JSON value of ${json.length} characters`, json, msgpack: encodeMsgpack(value), stats: statsOf(value), value, written: value };
}

/** Stats of a JavaScript value, by a walk written for this test (not the product's scan). */
export function statsOf(value: unknown): Stats {
  const stats: Stats = { depth: 0, items: 0, maxKey: 0, proto: false, lone: false };
  const walk = (v: unknown, depth: number): void => {
    if (typeof v === 'string') {
      if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v)) stats.lone = true;
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    const d = depth + 1;
    stats.depth = Math.max(stats.depth, d);
    if (Array.isArray(v)) {
      stats.items += v.length;
      v.forEach((x) => walk(x, d));
      return;
    }
    for (const [k, x] of Object.entries(v)) {
      stats.items++;
      stats.maxKey = Math.max(stats.maxKey, k.length);
      if (k === '__proto__') stats.proto = true;
      walk(k, d);
      walk(x, d);
    }
  };
  walk(value, 0);
  return stats;
}

function maxBracketDepth(json: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

// ---- the catalogue -------------------------------------------------------------------------

/** Depths around the bound, and far beyond it (10^3–10^5). */
const depth = fc.oneof(fc.constantFrom(1, 10, 63, 64, 65, 66, 100), fc.integer({ min: 1000, max: 100_000 }));
const width = fc.oneof(fc.constantFrom(0, 1, 9_990, 9_996, 9_997, 10_000, 10_001), fc.integer({ min: 10_002, max: 60_000 }));
const keyLength = fc.oneof(fc.constantFrom(9, 1023, 1024, 1025), fc.integer({ min: 1025, max: 20_000 }));

/** Every kind of hostile value, weighted so that the big ones stay a minority of the CPU. */
export function hostileValue(encodeMsgpack: (v: unknown) => Uint8Array): fc.Arbitrary<Hostile> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(depth, fc.constantFrom('array' as const, 'object' as const), fc.boolean()).map(([n, c, leaf]) => nested(n, c, leaf)) },
    { weight: 2, arbitrary: fc.tuple(width, fc.constantFrom('array' as const, 'object' as const)).map(([n, c]) => wide(n, c)) },
    { weight: 2, arbitrary: fc.tuple(keyLength, fc.boolean()).map(([n, e]) => longKey(n, e)) },
    { weight: 2, arbitrary: fc.nat().map(protoCase) },
    { weight: 2, arbitrary: fc.nat().map(surrogateCase) },
    { weight: 1, arbitrary: fc.nat().map(numberCase) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom('x', 'é', '😀', '"\\', '[{')).map(([n, u]) => hugeString(n, u)) },
    {
      weight: 3,
      arbitrary: fc
        .jsonValue({ maxDepth: 12, depthSize: 'medium', stringUnit: 'binary' })
        .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
        .map((v) => jsonHostile(v, encodeMsgpack)),
    },
  );
}

/**
 * What a receiver with the default bounds must do with a message holding a value with
 * `stats`, where the value may nest `room` levels (64 for `d`; 63 for a field of an object
 * inside `d`) and `extraItems` other values stand around it (an envelope's own fields):
 * accept, or refuse with 1007 and a reason naming a broken rule (content rules and bounds
 * are checked together: any of the broken ones may be named).
 */
export function verdict(stats: Stats, room: number, extraItems: number): { ok: true } | { ok: false; reasons: RegExp[]; codes: string[] } {
  const broken: [RegExp, string][] = [];
  if (stats.depth > room) broken.push([/deeper than 64/, 'LL_TOO_DEEP']);
  if (stats.items + extraItems > LIMITS.items) broken.push([/more than 10000 items/, 'LL_TOO_MANY_ITEMS']);
  if (stats.maxKey > LIMITS.key) broken.push([/key over 1024/, 'LL_KEY_TOO_LONG']);
  if (stats.proto) broken.push([/__proto__/, 'LL_FORBIDDEN_KEY']);
  if (stats.lone) broken.push([/lone surrogate|not UTF-8/, 'LL_LONE_SURROGATE']);
  return broken.length === 0 ? { ok: true } : { ok: false, reasons: broken.map(([r]) => r), codes: broken.map(([, c]) => c) };
}

/** Counts a suite reports at its end (issue 14's closing note): printed as one line the summary reporter adds up. */
export class HostileCounts {
  cases = 0;
  inputs = 0;
  survivals = 0;

  constructor(readonly suite: string) {}

  print(): void {
    console.log(`[hostile] ${this.suite}: ${this.cases} cases, ${this.inputs} inputs, ${this.survivals} survivals`);
  }
}

/**
 * Values a peer may send: the catalogue's accepted ones, and wide generated JSON — each
 * within the bounds with room to be wrapped (`$publish` puts it two levels down).
 */
export function acceptableValue(encodeMsgpack: (v: unknown) => Uint8Array): fc.Arbitrary<Hostile> {
  return fc
    .oneof(
      hostileValue(encodeMsgpack),
      fc
        .jsonValue({ maxDepth: 30, depthSize: 'large', stringUnit: 'grapheme' })
        .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
        .map((v): Hostile => ({ label: 'generated JSON', json: JSON.stringify(v), msgpack: encodeMsgpack(v), stats: statsOf(v), value: v, written: v })),
    )
    .filter((h) => h.written !== undefined && verdict(h.stats, 62, 10).ok);
}

export { withTimeout } from './wait.js';

/**
 * The honest clients beside the hostile ones: after every case each sends the next
 * numbered message and must get its echo, and every echo so far must be there once, in
 * order. `alive` adds the check that the server's process is still the same one.
 */
export class HonestBeside {
  private round = 0;

  constructor(
    private readonly clients: LifelineTestClient[],
    private readonly counts: HostileCounts,
    private readonly alive: (what: string) => void,
  ) {}

  async check(what: string, counted = true): Promise<void> {
    this.alive(what);
    const n = ++this.round;
    for (const client of this.clients) client.send({ honest: n });
    await waitFor(() => this.clients.every((c) => (c.messages.at(-1) as { honest?: number } | undefined)?.honest === n), `the honest echo ${n} after ${what}`, 60_000);
    for (const client of this.clients) {
      expect(client.messages.map((m) => (m as { honest: number }).honest)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(client.problems).toEqual([]);
    }
    if (counted) this.counts.survivals++;
  }
}
