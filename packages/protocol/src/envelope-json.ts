import { decodeBase64, encodeBase64 } from './base64.js';
import { isWellFormed, jsonProblem, LONE_SURROGATE, tooManyProblem, type BoundsProblem, type DecodeLimits } from './bounds.js';
import { EnvelopeError } from './envelope-error.js';
import { readEnvelope, UINT8ARRAY_FIELD, validForEncoding, type BinaryField } from './envelope-validation.js';
import { LifelineError } from './errors.js';
import type { Envelope, MessageEnvelope, PublicationEnvelope, SequencedEnvelope } from './envelope.js';

/**
 * JSON mode (subprotocol `lifeline.v1`): one envelope per text frame, `b` in base64.
 *
 * `m` envelopes are most of the traffic, so both directions have a fast path for the exact
 * shape the encoder writes, `{"t":"m","s":…[,"a":…],"d":…}` (or `"b":"…"`): the decoder
 * reads the numbers itself and parses only the payload, two to three times cheaper
 * than parsing the whole object; anything else (other key order, whitespace, escapes,
 * large numbers, an invalid payload) goes through `JSON.parse` and {@link readEnvelope},
 * so the fast path never accepts or rejects anything the general path would not.
 */

/** `b` in JSON mode: canonical base64. */
export const BASE64_FIELD: BinaryField = {
  read: (value) => (typeof value === 'string' ? decodeBase64(value) : undefined),
  expected: 'base64 (standard alphabet, = padding)',
};

/**
 * The envelope in a text frame. Throws {@link EnvelopeError}: close code 1007 when the
 * text is not JSON, breaks a content rule (a key `__proto__`, a lone surrogate escape) or,
 * with `limits`, a bound (nesting is counted inside the envelope: its fields are level 1);
 * 1002 when it is JSON but not a valid envelope.
 */
export function decodeEnvelope(text: string, limits?: DecodeLimits): Envelope {
  const problem = jsonProblem(text, limits, 1);
  if (problem !== undefined) throw new EnvelopeError(1007, `message ${problem.reason}`, { problem });
  return decodeMessageFast(text) ?? parseEnvelope(text);
}

/**
 * {@link decodeEnvelope} for the server's text frames read as strings (every one on Bun and
 * Deno, which hand them over decoded; on Node those under the byte path's 1 KiB): the
 * commonest `m`, `{"t":"m","s":S[,"a":A],"d":"…"}` with a string `d` that holds no quote,
 * backslash or control character, is read by slicing `d` out. Its shape alone keeps
 * every content rule and bound (its keys are the fixed ones, nothing in it is escaped, it
 * nests one level, it has at most 4 items), so it needs neither the content search nor
 * JSON.parse: on Bun a 64-character one decodes in about 0.8× the time. Every other text,
 * and every text when `limits.maxItems` is under 4, is decoded by decodeEnvelope.
 */
export function decodeEnvelopeText(text: string, limits?: DecodeLimits): Envelope {
  return ((limits === undefined || limits.maxItems >= 4) && decodeStringMessage(text)) || decodeEnvelope(text, limits);
}

/**
 * @internal The general path (the content rules, JSON.parse, the shared validator), which
 * the fast path must agree with: `decodeEnvelope` without limits, minus the fast path.
 */
export function decodeEnvelopeGeneral(text: string): Envelope {
  const problem = jsonProblem(text, undefined);
  if (problem !== undefined) throw new EnvelopeError(1007, `message ${problem.reason}`, { problem });
  return parseEnvelope(text);
}

function parseEnvelope(text: string): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new EnvelopeError(1007, 'not valid JSON', { cause: error });
  }
  return readEnvelope(value, BASE64_FIELD);
}

/**
 * The text frame for an envelope. Throws {@link LifelineError} `LL_ENCODE_FAILED` for an
 * envelope that the peer would refuse (the reason names the field), a `d` that has no
 * JSON form (a function, a BigInt, a cycle, nesting too deep for JSON.stringify) or one
 * that breaks a content rule (a lone surrogate, a key `__proto__`).
 */
export function encodeEnvelope(envelope: Envelope): string {
  // A plain m's head is digits and fixed keys, and base64 has no backslash and no underscore:
  // only a `d` can break a content rule, so only its JSON is checked, before the frame is
  // joined (in JavaScriptCore a joined string is a rope that a search would flatten).
  if (envelope.t === 'm' && isPlainMessage(envelope)) return `${plainMessageHead(envelope)}${payloadJson(envelope, 'm', true)}}`;
  return checked(encodeUnchecked(envelope));
}

/**
 * The text frame {@link encodeEnvelope} writes for a plain `m` with a `d`, made by one
 * JSON.stringify of the whole envelope (the fields in wire order; s and a are safe integers),
 * for a runtime where that is the faster way (the server on Bun: lifeline/codec.ts);
 * `undefined` for any other envelope, and for a `d` with a `toJSON` of its own (stringified
 * whole, it would be called with the key "d", not ""), a function or a symbol. Throws
 * LL_ENCODE_FAILED as encodeEnvelope does.
 */
export function encodeMessageWhole(envelope: Envelope): string | undefined {
  if (envelope.t !== 'm' || envelope.b !== undefined || !isPlainMessage(envelope)) return undefined;
  const d = envelope.d;
  if (typeof d === 'function' || typeof d === 'symbol') return undefined;
  if (typeof d === 'object' && d !== null && typeof (d as { toJSON?: unknown }).toJSON === 'function') return undefined;
  let frame: string;
  try {
    frame = JSON.stringify(envelope.a === undefined ? { t: 'm', s: envelope.s, d } : { t: 'm', s: envelope.s, a: envelope.a, d });
  } catch (error) {
    throw new LifelineError('LL_ENCODE_FAILED', `Cannot encode m.d as JSON: ${(error as Error).message}`, { cause: error });
  }
  // A string `d` holds no key: it breaks a content rule only with a lone surrogate, which
  // the string itself answers faster than a search of the frame.
  if (typeof d === 'string') return isWellFormed(d) ? frame : refuseEncoding(LONE_SURROGATE);
  return checked(frame);
}

function encodeUnchecked(envelope: Envelope): string {
  const e = validForEncoding(envelope, UINT8ARRAY_FIELD);
  switch (e.t) {
    case 'm':
    case 'q':
    case 'p':
      return `${headOf(e)}${payloadJson(e, e.t)}}`;
    case 'r':
      return `${headOf(e)}${e.e === undefined ? payloadJson(e, 'r') : `,"e":${JSON.stringify(e.e)}`}}`;
    default:
      // The rest hold only strings, numbers, booleans, `reset`, `max` and members, in wire order.
      return JSON.stringify(e);
  }
}

/** `{"t":"m","s":S[,"a":A]`: an `m`'s fields before its payload, without the closing brace. */
function plainMessageHead(m: MessageEnvelope): string {
  return `{"t":"m","s":${m.s}${m.a === undefined ? '' : `,"a":${m.a}`}`;
}

/** A validated `m`, `q`, `r` or `p` up to its payload, without the closing brace. */
function headOf(e: SequencedEnvelope | PublicationEnvelope): string {
  const a = e.t === 'p' || e.a === undefined ? '' : `,"a":${e.a}`;
  switch (e.t) {
    case 'm':
      return `{"t":"m","s":${e.s}${a}`;
    case 'q':
      return `{"t":"q","s":${e.s}${a},"id":${e.id},"n":${JSON.stringify(e.n)}`;
    case 'r':
      return `{"t":"r","s":${e.s}${a},"id":${e.id}`;
    case 'p':
      // Channel names and epochs are validated to a quote-free alphabet: no escaping needed.
      return `{"t":"p","ch":"${e.ch}","o":${e.o},"ep":"${e.ep}"`;
  }
}

// ---- the binary form (PROTOCOL.md §2.8) --------------------------------------------------------

/** The envelope types that may travel in the binary form, when they carry `b`. */
const BINARY_FORM_TYPES: ReadonlySet<unknown> = new Set(['m', 'q', 'r', 'p']);

/**
 * The head of an envelope's binary form (PROTOCOL.md §2.8): the envelope without `b`, as JSON
 * text; the frame is its UTF-8, one 0x00 byte, then `b`'s bytes. `undefined` for an envelope
 * that carries no `b` (then only the text frame exists). Throws LL_ENCODE_FAILED as
 * {@link encodeEnvelope} does.
 */
export function encodeBinaryHead(envelope: Envelope): string | undefined {
  if (!BINARY_FORM_TYPES.has(envelope.t) || (envelope as { b?: unknown }).b === undefined) return undefined;
  if (envelope.t === 'm' && isPlainMessage(envelope)) return `${plainMessageHead(envelope)}}`;
  return checked(`${headOf(validForEncoding(envelope, UINT8ARRAY_FIELD) as SequencedEnvelope | PublicationEnvelope)}}`);
}

let utf8Encoder: InstanceType<typeof TextEncoder> | undefined;

/**
 * The binary form of an envelope that carries `b` (PROTOCOL.md §2.8), in one buffer (a
 * WebSocket's send takes one); `undefined` for any other envelope.
 */
export function encodeBinaryEnvelope(envelope: Envelope): Uint8Array | undefined {
  const head = encodeBinaryHead(envelope);
  if (head === undefined) return undefined;
  const b = (envelope as { b: Uint8Array }).b;
  const text = (utf8Encoder ??= new TextEncoder()).encode(head);
  const frame = new Uint8Array(text.length + 1 + b.byteLength);
  frame.set(text, 0);
  frame[text.length] = 0;
  frame.set(b, text.length + 1);
  return frame;
}

let utf8Decoder: InstanceType<typeof TextDecoder> | undefined;

/**
 * The envelope in a binary-form frame (PROTOCOL.md §2.8): the head up to the first 0x00
 * byte, the payload `b` after it (a view of `frame`, not a copy). Throws
 * {@link EnvelopeError}: 1007 when there is no 0x00, the head is not UTF-8 or not JSON, or
 * breaks a content rule or, with `limits`, a bound (`b` counts as one of its items); 1002
 * when the head is JSON but the envelope is not valid in this form.
 */
export function decodeBinaryEnvelope(frame: Uint8Array, limits?: DecodeLimits): Envelope {
  const end = frame.indexOf(0);
  if (end < 0) throw new EnvelopeError(1007, 'binary form: no 0x00 byte after the head');
  let head: string;
  try {
    // ignoreBOM: a byte order mark stays in the text, and JSON.parse refuses it, as it does in a text frame.
    head = (utf8Decoder ??= new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })).decode(frame.subarray(0, end));
  } catch (error) {
    throw new EnvelopeError(1007, 'binary form: the head is not valid UTF-8', { cause: error });
  }
  return binaryFormEnvelope(head, frame.subarray(end + 1), limits);
}

/**
 * The envelope of a binary-form frame whose head (`head`, the text before the 0x00 byte) and
 * payload are known; see {@link decodeBinaryEnvelope}.
 */
export function binaryFormEnvelope(head: string, b: Uint8Array, limits?: DecodeLimits): Envelope {
  const bounds = limits === undefined ? undefined : { ...limits, maxItems: limits.maxItems - 1 };
  const problem = jsonProblem(head, bounds, 1);
  if (problem !== undefined) {
    // The head was held to one item fewer, for `b`: the message names the receiver's own bound.
    const reason = problem.code === 'LL_TOO_MANY_ITEMS' ? `${tooManyProblem(limits!.maxItems).reason}, b counted as one` : problem.reason;
    throw new EnvelopeError(1007, `binary form: the head ${reason}`, { problem });
  }
  let value: unknown;
  try {
    value = JSON.parse(head);
  } catch (error) {
    throw new EnvelopeError(1007, 'binary form: the head is not valid JSON', { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new EnvelopeError(1002, 'binary form: the head must be a JSON object');
  const o = value as Record<string, unknown>;
  if (!BINARY_FORM_TYPES.has(o.t)) throw new EnvelopeError(1002, 'binary form: t must be m, q, r or p');
  if (o.b !== undefined || o.d !== undefined || o.e !== undefined) throw new EnvelopeError(1002, `binary form: ${o.t} must not have b, d or e in its head`);
  o.b = b;
  return readEnvelope(o, UINT8ARRAY_FIELD);
}

/** The frame, once it is known to keep the content rules a peer checks (two indexOf calls when it does). */
function checked(frame: string): string {
  const problem = jsonProblem(frame, undefined);
  return problem === undefined ? frame : refuseEncoding(problem);
}

function refuseEncoding(problem: BoundsProblem): never {
  throw new LifelineError('LL_ENCODE_FAILED', `Cannot encode this envelope: it ${problem.reason}`);
}

/** An `m` the fast encoder may write without the full check. */
function isPlainMessage(m: MessageEnvelope): boolean {
  const { s, a } = m;
  return (
    typeof s === 'number' &&
    Number.isSafeInteger(s) &&
    s >= 1 &&
    (a === undefined || (typeof a === 'number' && Number.isSafeInteger(a) && a >= 0)) &&
    (m.b === undefined ? m.d !== undefined : m.d === undefined && m.b instanceof Uint8Array)
  );
}

/** `,"d":<json>` or `,"b":"<base64>"`; with `check`, a `d` whose JSON breaks a content rule throws as {@link checked} does. */
function payloadJson(p: { readonly d?: unknown; readonly b?: Uint8Array | undefined }, t: string, check = false): string {
  if (p.b !== undefined) return `,"b":"${encodeBase64(p.b)}"`;
  let json: string | undefined;
  try {
    json = JSON.stringify(p.d) as string | undefined;
  } catch (error) {
    throw new LifelineError('LL_ENCODE_FAILED', `Cannot encode ${t}.d as JSON: ${(error as Error).message}`, { cause: error });
  }
  if (json === undefined) throw new LifelineError('LL_ENCODE_FAILED', `Cannot encode ${t}.d as JSON: a ${typeof p.d} has no JSON form`);
  return `,"d":${check ? checked(json) : json}`;
}

const M_PREFIX = '{"t":"m","s":';
let cursor = 0; // where the last readDigits stopped

/**
 * `{"t":"m","s":S[,"a":A],"d":D}` or `…,"b":"B"}` exactly, or `undefined` to take the
 * general path. S, A: plain decimal integers of at most 15 digits (S ≥ 1); D must parse
 * on its own (then the whole text is that object); B must be canonical base64.
 */
function decodeMessageFast(text: string): MessageEnvelope | undefined {
  if (!text.startsWith(M_PREFIX)) return undefined;
  const s = readDigits(text, M_PREFIX.length);
  if (s < 1) return undefined;
  let a: number | undefined;
  if (text.startsWith(',"a":', cursor)) {
    a = readDigits(text, cursor + 5);
    if (a < 0) return undefined;
  }
  const last = text.length - 1;
  if (text.charCodeAt(last) !== 125 /* } */) return undefined;
  if (text.startsWith(',"d":', cursor)) {
    let d: unknown;
    try {
      d = JSON.parse(text.slice(cursor + 5, last));
    } catch {
      return undefined;
    }
    return a === undefined ? { t: 'm', s, d } : { t: 'm', s, a, d };
  }
  if (text.startsWith(',"b":"', cursor) && last - 1 >= cursor + 6 && text.charCodeAt(last - 1) === 34 /* " */) {
    const b = decodeBase64(text.slice(cursor + 6, last - 1));
    if (b === undefined) return undefined;
    return a === undefined ? { t: 'm', s, b } : { t: 'm', s, a, b };
  }
  return undefined;
}

/**
 * What decodeEnvelopeText reads by slicing, or `undefined`: see there. Its head is read as
 * decodeMessageFast reads it; a reader shared by both cost the browser bundle 31 B.
 */
function decodeStringMessage(text: string): MessageEnvelope | undefined {
  // First the end, `"}`: any other payload (an object, a number, `b`) leaves at once, before
  // the head is read, which decodeMessageFast would then read again.
  const end = text.length - 2; // the closing quote
  if (text.charCodeAt(end) !== 34 /* " */ || text.charCodeAt(end + 1) !== 125 /* } */ || !text.startsWith(M_PREFIX)) return undefined;
  const s = readDigits(text, M_PREFIX.length);
  if (s < 1) return undefined;
  let a: number | undefined;
  if (text.startsWith(',"a":', cursor)) {
    a = readDigits(text, cursor + 5);
    if (a < 0) return undefined;
  }
  const start = cursor + 6;
  if (!text.startsWith(',"d":"', cursor) || end < start) return undefined;
  PLAIN_CHARACTERS.lastIndex = start;
  if (!PLAIN_CHARACTERS.test(text) || PLAIN_CHARACTERS.lastIndex !== end) return undefined;
  const d = text.slice(start, end);
  return a === undefined ? { t: 'm', s, d } : { t: 'm', s, a, d };
}

/** A run of characters a JSON string holds as they are; it stops at a quote, a backslash or a control character. */
const PLAIN_CHARACTERS = /[^"\\\u0000-\u001f]*/y;

/** A JSON integer of 1 to 15 digits without sign, fraction or exponent at `i`, or −1. */
function readDigits(text: string, i: number): number {
  const start = i;
  let value = 0;
  for (; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  const length = i - start;
  if (length === 0 || length > 15 || (length > 1 && text.charCodeAt(start) === 48)) return -1;
  cursor = i;
  return value;
}
