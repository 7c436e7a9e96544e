import { decodeBase64, encodeBase64 } from './base64.js';
import { jsonProblem, type DecodeLimits } from './bounds.js';
import { EnvelopeError } from './envelope-error.js';
import { readEnvelope, UINT8ARRAY_FIELD, validForEncoding, type BinaryField } from './envelope-validation.js';
import { LifelineError } from './errors.js';
import type { Envelope, MessageEnvelope } from './envelope.js';

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
  return checked(encodeUnchecked(envelope));
}

function encodeUnchecked(envelope: Envelope): string {
  if (envelope.t === 'm' && isPlainMessage(envelope)) {
    return `{"t":"m","s":${envelope.s}${envelope.a === undefined ? '' : `,"a":${envelope.a}`}${payloadJson(envelope, 'm')}}`;
  }
  const e = validForEncoding(envelope, UINT8ARRAY_FIELD);
  const a = e.t === 'm' || e.t === 'q' || e.t === 'r' ? (e.a === undefined ? '' : `,"a":${e.a}`) : '';
  switch (e.t) {
    case 'm':
      return `{"t":"m","s":${e.s}${a}${payloadJson(e, 'm')}}`;
    case 'q':
      return `{"t":"q","s":${e.s}${a},"id":${e.id},"n":${JSON.stringify(e.n)}${payloadJson(e, 'q')}}`;
    case 'r':
      return `{"t":"r","s":${e.s}${a},"id":${e.id}${e.e === undefined ? payloadJson(e, 'r') : `,"e":${JSON.stringify(e.e)}`}}`;
    case 'p':
      // Channel names and epochs are validated to a quote-free alphabet: no escaping needed.
      return `{"t":"p","ch":"${e.ch}","o":${e.o},"ep":"${e.ep}"${payloadJson(e, 'p')}}`;
    default:
      // The rest hold only strings, numbers, booleans, `reset`, `max` and members, in wire order.
      return JSON.stringify(e);
  }
}

/** The frame, once it is known to keep the content rules a peer checks (two indexOf calls when it does). */
function checked(frame: string): string {
  const problem = jsonProblem(frame, undefined);
  if (problem !== undefined) throw new LifelineError('LL_ENCODE_FAILED', `Cannot encode this envelope: it ${problem.reason}`);
  return frame;
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

/** `,"d":<json>` or `,"b":"<base64>"`. */
function payloadJson(p: { readonly d?: unknown; readonly b?: Uint8Array | undefined }, t: string): string {
  if (p.b !== undefined) return `,"b":"${encodeBase64(p.b)}"`;
  let json: string | undefined;
  try {
    json = JSON.stringify(p.d) as string | undefined;
  } catch (error) {
    throw new LifelineError('LL_ENCODE_FAILED', `Cannot encode ${t}.d as JSON: ${(error as Error).message}`, { cause: error });
  }
  if (json === undefined) throw new LifelineError('LL_ENCODE_FAILED', `Cannot encode ${t}.d as JSON: a ${typeof p.d} has no JSON form`);
  return `,"d":${json}`;
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
