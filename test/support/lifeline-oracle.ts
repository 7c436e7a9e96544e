/**
 * What PROTOCOL.md says a Lifeline server does with one frame from a client whose session
 * has just been welcomed (the server has sent nothing numbered yet, and expects `s` = 1), written
 * out from §2.1 (envelopes and fields), §2.3 (sequence and acknowledgement), §2.5 (a
 * revision-2 server answers a client's `ping`), §2.6 (close codes) and §3.1–3.2 (channel
 * names, `p` and `pr`), for the fuzz tests' expected outcome.
 *
 * Deliberately independent of the codecs under test (`@lifeline/protocol`'s decoders and
 * validators): JSON is read with `JSON.parse`, MessagePack with the `@msgpack/msgpack`
 * library directly, base64 with Node's Buffer, and each field's rule is restated here from
 * the document. Where the document changes, this table changes with it.
 */
import { Decoder, type ExtensionCodecType } from '@msgpack/msgpack';

export type Verdict = { close: 1002 | 1007 | 1008 | 1009 } | { open: true };

export interface OracleFrame {
  /** The subprotocol's mode: `lifeline.v1` (JSON text frames) or `lifeline.v1.msgpack`. */
  mode: 'json' | 'msgpack';
  /** A string is sent as a text frame, bytes as a binary frame. */
  frame: string | Uint8Array;
}

/** docs/server.md "Limits": `maxPayload` defaults to 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

const MAX_SEQ = 2 ** 53 - 1;
const MAX_ID = 2 ** 31 - 1;

/** What §2.6 says happens to `c`, sent right after the welcome. */
export function expectedVerdict(c: OracleFrame, maxPayload = DEFAULT_MAX_PAYLOAD): Verdict {
  const isText = typeof c.frame === 'string';
  // On the wire a text frame is UTF-8: a JS string's lone surrogates go out as U+FFFD.
  const bytes = isText ? Buffer.from(c.frame as string, 'utf8') : c.frame;
  if (bytes.length > maxPayload) return { close: 1009 };
  // "a frame of the other mode (binary in JSON mode, text in MessagePack mode)": 1008.
  if (isText !== (c.mode === 'json')) return { close: 1008 };
  const value = c.mode === 'json' ? readJson(Buffer.from(bytes).toString('utf8')) : readMsgpack(bytes as Uint8Array);
  if (value === NOT_A_VALUE) return { close: 1007 };
  // §2.1's value rules, both modes: no key __proto__, strings are Unicode text. (The bounds
  // — 64 levels, 10,000 items, keys of 1,024 — are never reached by this oracle's frames.)
  if (c.mode === 'json' ? breaksValueRules(value) : !msgpackStringsAreUtf8(bytes as Uint8Array) || breaksValueRules(value)) return { close: 1007 };
  if (value === HAS_EXTENSION) return { close: 1002 };
  const t = envelopeType(value, c.mode);
  if (t === undefined) return { close: 1002 };
  return afterWelcome(value as Record<string, unknown>, t);
}

// ---- 1007: "a text frame is not valid JSON, or a binary frame is not exactly one valid MessagePack value"

const NOT_A_VALUE = Symbol('not a value');
const HAS_EXTENSION = Symbol('an extension type');

function readJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_A_VALUE;
  }
}

/**
 * §2.1: nil, booleans, numbers, strings, byte strings, arrays, maps whose keys are strings or
 * numbers; `__proto__` as a key is refused (1007). The frame is read front to back, and an
 * extension type closes with 1002 where it is read, whatever follows it.
 */
function readMsgpack(bytes: Uint8Array): unknown {
  const extensionFound = new Error('extension type');
  const refuseExtensions: ExtensionCodecType<undefined> = {
    tryToEncode: () => null,
    decode: () => {
      throw extensionFound;
    },
  };
  try {
    return new Decoder({ extensionCodec: refuseExtensions }).decode(bytes);
  } catch (error) {
    return error === extensionFound ? HAS_EXTENSION : NOT_A_VALUE;
  }
}

/** A key `__proto__`, or a string or key holding a lone surrogate (only a JSON escape or a MessagePack-encoded surrogate can make one). */
function breaksValueRules(value: unknown): boolean {
  if (typeof value === 'string') return hasLoneSurrogate(value);
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return false;
  if (Array.isArray(value)) return value.some(breaksValueRules);
  return Object.keys(value).some((k) => k === '__proto__' || hasLoneSurrogate(k) || breaksValueRules((value as Record<string, unknown>)[k]));
}

function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    else if (c >= 0xd800 && c < 0xe000) return true;
  }
  return false;
}

/**
 * Whether every MessagePack string (str formats, keys included) in `bytes` is valid UTF-8
 * (RFC 3629). A walk of the formats of the MessagePack spec, independent of the decoders
 * under test; a truncated frame counts as valid here (the decoder refuses it anyway).
 */
function msgpackStringsAreUtf8(bytes: Uint8Array): boolean {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let pending = 1; // values still to read
  const take = (n: number): boolean => (at += n) <= bytes.length;
  while (pending > 0 && at < bytes.length) {
    pending--;
    const b = bytes[at++]!;
    let str = -1;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) continue;
    if (b >= 0x80 && b <= 0x8f) pending += 2 * (b & 0x0f);
    else if (b >= 0x90 && b <= 0x9f) pending += b & 0x0f;
    else if (b >= 0xa0 && b <= 0xbf) str = b & 0x1f;
    else if (b === 0xd9) str = at < bytes.length ? bytes[at++]! : -1;
    else if (b === 0xda) str = at + 2 <= bytes.length ? view.getUint16((at += 2) - 2) : -1;
    else if (b === 0xdb) str = at + 4 <= bytes.length ? view.getUint32((at += 4) - 4) : -1;
    else if (b === 0xdc || b === 0xde) {
      if (at + 2 > bytes.length) return true;
      const n = view.getUint16(at);
      at += 2;
      pending += b === 0xde ? 2 * n : n;
    } else if (b === 0xdd || b === 0xdf) {
      if (at + 4 > bytes.length) return true;
      const n = view.getUint32(at);
      at += 4;
      pending += b === 0xdf ? 2 * n : n;
    } else if (b === 0xc4 || b === 0xc7) at += (at < bytes.length ? bytes[at]! : 0) + (b === 0xc7 ? 2 : 1);
    else if (b === 0xc5 || b === 0xc8) at += (at + 2 <= bytes.length ? view.getUint16(at) : 0) + (b === 0xc8 ? 3 : 2);
    else if (b === 0xc6 || b === 0xc9) at += (at + 4 <= bytes.length ? view.getUint32(at) : 0) + (b === 0xc9 ? 5 : 4);
    else if (b === 0xca || b === 0xce || b === 0xd2) at += 4;
    else if (b === 0xcb || b === 0xcf || b === 0xd3) at += 8;
    else if (b === 0xcc || b === 0xd0) at += 1;
    else if (b === 0xcd || b === 0xd1) at += 2;
    else if (b >= 0xd4 && b <= 0xd8) at += 1 + [1, 2, 4, 8, 16][b - 0xd4]!;
    // 0xc1 (never used): the decoder refuses the frame.
    if (str < 0) continue;
    const start = at;
    if (!take(str)) return true;
    try {
      utf8.decode(bytes.subarray(start, start + str));
    } catch {
      return false;
    }
  }
  return true;
}

// ---- 1002: "a frame decodes but is not a valid envelope" (§2.1, §3.2) -------------------------

type EnvelopeType = 'm' | 'q' | 'r' | 'a' | 'pong' | 'hello' | 'welcome' | 'ping' | 'error' | 'p' | 'pr';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
/** "integer" means a number with an integral value; 1e400 reads as an infinity, never one. */
const integer = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const seq = (v: unknown) => integer(v, 1, MAX_SEQ);
const ack = (v: unknown) => integer(v, 0, MAX_SEQ);
const optionalAck = (v: unknown) => v === undefined || ack(v);
const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
const base64url = (v: unknown, max: number) => typeof v === 'string' && v.length >= 1 && v.length <= max && /^[A-Za-z0-9_-]+$/.test(v);
const present = (v: unknown) => v !== undefined;
const CHANNEL_CHARS = /^[A-Za-z0-9_\-:.@/=+]+$/;
/** §3.1: 1–255 characters of the alphabet. */
const channel = (v: unknown) => typeof v === 'string' && v.length >= 1 && v.length <= 255 && CHANNEL_CHARS.test(v);
/** §3.1: a name followed by `:*`, 255 characters at most in all. */
const pattern = (v: unknown) => typeof v === 'string' && v.length >= 3 && v.length <= 255 && v.endsWith(':*') && CHANNEL_CHARS.test(v.slice(0, -2));

/** `b`: canonical base64 (RFC 4648 §4, `=` padding, zero unused bits) in JSON mode; a byte string in MessagePack mode. */
function binary(v: unknown, mode: 'json' | 'msgpack'): boolean {
  if (mode === 'msgpack') return v instanceof Uint8Array;
  return typeof v === 'string' && v.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(v) && Buffer.from(v, 'base64').toString('base64') === v;
}

/** Exactly one of the payload fields is present, and a `b` is binary. */
function payload(o: Record<string, unknown>, mode: 'json' | 'msgpack', fields: readonly ('d' | 'b' | 'e')[]): boolean {
  const here = fields.filter((f) => present(o[f]));
  if (here.length !== 1) return false;
  if (here[0] === 'b') return binary(o.b, mode);
  if (here[0] === 'e') return isObject(o.e) && typeof o.e.code === 'string' && o.e.code !== '' && typeof o.e.message === 'string';
  return true;
}

/** §2.1: `n` is 1–128 Unicode code points, a surrogate pair counting as one. */
const requestName = (v: unknown) => typeof v === 'string' && [...v].length >= 1 && [...v].length <= 128;
/** §1.3 / RFC 6455 §7.4: a code a close frame can carry. */
const closeCode = (v: unknown) => integer(v, 1000, 1003) || integer(v, 1007, 1014) || integer(v, 3000, 4999);

const RULES: Record<EnvelopeType, (o: Record<string, unknown>, mode: 'json' | 'msgpack') => boolean> = {
  m: (o, mode) => seq(o.s) && optionalAck(o.a) && payload(o, mode, ['d', 'b']),
  q: (o, mode) => seq(o.s) && optionalAck(o.a) && integer(o.id, 1, MAX_ID) && requestName(o.n) && payload(o, mode, ['d', 'b']),
  r: (o, mode) => seq(o.s) && optionalAck(o.a) && integer(o.id, 1, MAX_ID) && payload(o, mode, ['d', 'b', 'e']),
  a: (o) => ack(o.a),
  pong: (o) => finite(o.ts),
  hello: (o) => {
    if (o.v !== 1) return false;
    if (o.auth !== undefined && (typeof o.auth !== 'string' || o.auth === '')) return false;
    const resume = [o.sid, o.tok, o.rx].filter(present).length;
    if (resume === 0) return true;
    return resume === 3 && base64url(o.sid, 128) && base64url(o.tok, 128) && ack(o.rx);
  },
  welcome: (o) => {
    if (!base64url(o.sid, 128) || !base64url(o.tok, 128) || !ack(o.rx) || typeof o.resumed !== 'boolean' || !integer(o.hb, 1, MAX_ID)) return false;
    if (o.probe !== undefined && typeof o.probe !== 'boolean') return false;
    if (o.reset === undefined) return true;
    return o.resumed === false && isObject(o.reset) && ['expired', 'unknown-session', 'bad-token', 'overflow'].includes(o.reset.reason as string);
  },
  ping: (o) => finite(o.ts) && (o.rtt === undefined || (finite(o.rtt) && (o.rtt as number) >= 0)),
  error: (o) => closeCode(o.code) && typeof o.message === 'string',
  p: (o, mode) => channel(o.ch) && !(o.ch as string).endsWith(':*') && seq(o.o) && base64url(o.ep, 64) && payload(o, mode, ['d', 'b']),
  pr: (o) =>
    (channel(o.ch) || pattern(o.ch)) &&
    ack(o.count) &&
    Array.isArray(o.join) &&
    o.join.every((m) => isObject(m) && typeof m.id === 'string') &&
    Array.isArray(o.leave) &&
    o.leave.every((id) => typeof id === 'string'),
};

/** The envelope's type when `value` is a valid envelope; undefined otherwise (1002). */
function envelopeType(value: unknown, mode: 'json' | 'msgpack'): EnvelopeType | undefined {
  if (!isObject(value)) return undefined;
  const t = value.t;
  if (typeof t !== 'string' || !Object.hasOwn(RULES, t)) return undefined;
  return RULES[t as EnvelopeType](value, mode) ? (t as EnvelopeType) : undefined;
}

// ---- 1008 and the session's state (§2.2, §2.3, §2.6) ------------------------------------

/** A valid envelope right after the welcome: the server has sent no `s` yet and expects `s` = 1. */
function afterWelcome(o: Record<string, unknown>, t: EnvelopeType): Verdict {
  switch (t) {
    case 'hello': // "a second hello"
    case 'welcome': // "an envelope only the other side sends"
    case 'error':
    case 'p':
    case 'pr':
      return { close: 1008 };
    case 'ping': // §2.5 R4: a revision-2 server (welcome.probe) answers it with a pong
      return { open: true };
    case 'a':
      // "an a above the last s sent": nothing was sent, so only 0.
      return (o.a as number) > 0 ? { close: 1002 } : { open: true };
    case 'pong':
      return { open: true };
    default:
      // m, q, r: an `a` above 0 acknowledges something never sent; `s` above 1 is a gap.
      if (o.a !== undefined && (o.a as number) > 0) return { close: 1002 };
      return o.s === 1 ? { open: true } : { close: 1002 };
  }
}
