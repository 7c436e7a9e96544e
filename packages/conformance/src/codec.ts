/**
 * The two wire formats of PROTOCOL.md §2 as the kit reads and writes them: `lifeline.v1`
 * (one JSON object per text frame) and `lifeline.v1.msgpack` (one MessagePack map per binary
 * frame). Written from the text alone; `@msgpack/msgpack` does the bytes.
 */
import { isUtf8 } from 'node:buffer';
import { decode as msgpackDecode, encode as msgpackEncode, ExtData } from '@msgpack/msgpack';

export type Codec = 'json' | 'msgpack';

export const SUBPROTOCOL: Record<Codec, string> = { json: 'lifeline.v1', msgpack: 'lifeline.v1.msgpack' };

/** An envelope as decoded: a plain object whose `t` says its type. */
export type Envelope = { [field: string]: unknown };

/** What a frame held, once read with the connection's codec. */
export type Decoded = { ok: true; env: Envelope } | { ok: false; problem: string };

/**
 * Encodes an envelope the kit wrote as plain values. A `b` given as bytes becomes base64
 * in JSON mode (RFC 4648 §4, canonical) and a byte string in MessagePack mode (§2.1).
 */
export function encodeEnvelope(codec: Codec, env: Envelope): string | Uint8Array {
  if (codec === 'msgpack') return msgpackEncode(env);
  return JSON.stringify(env, (key, value: unknown) => (key === 'b' && value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value));
}

/**
 * Reads one frame. §2.6: in JSON mode a text frame that is not JSON, in MessagePack mode a
 * binary frame that is not exactly one MessagePack value, is undecodable (1007); a frame of
 * the other mode, or a decoded value that is not an object (map), is reported as such.
 */
export function decodeFrame(codec: Codec, data: Buffer, binary: boolean, binaryForm = false): Decoded {
  if (codec === 'json') {
    if (binary) return binaryForm ? decodeBinaryForm(data) : { ok: false, problem: 'a binary frame in JSON mode, the binary form not agreed (§2.6, §2.8 R5: 1008)' };
    const value = parseJsonObject(data);
    if (value === 'not JSON') return { ok: false, problem: 'a text frame that is not JSON (§2.6: 1007)' };
    if (value === 'not an object') return { ok: false, problem: 'JSON that is not an object (§2.1 R1)' };
    return { ok: true, env: value };
  }
  if (!binary) return { ok: false, problem: 'a text frame in MessagePack mode (§2.6: 1008)' };
  let value: unknown;
  try {
    value = msgpackDecode(data);
  } catch (error) {
    return { ok: false, problem: `not exactly one MessagePack value (§2.6: 1007): ${(error as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array || value instanceof Date || value instanceof ExtData) {
    return { ok: false, problem: 'a MessagePack value that is not a map (§2.1 R1)' };
  }
  return { ok: true, env: value as Envelope };
}

const BINARY_FORM_TYPES = ['m', 'q', 'r', 'p'];

/**
 * §2.8: a binary frame on a JSON connection that agreed to the binary form: the head is the
 * JSON object before the first 0x00 byte, `b` the bytes after it. `b` comes back as the
 * canonical base64 a text frame would carry, so the rest of the kit reads both forms alike.
 */
function decodeBinaryForm(data: Buffer): Decoded {
  const zero = data.indexOf(0);
  if (zero < 0) return { ok: false, problem: 'a binary-form frame without a 0x00 byte (§2.8 R5: 1007)' };
  const head = data.subarray(0, zero);
  if (!isUtf8(head)) return { ok: false, problem: 'a binary-form head that is not UTF-8 (§2.8 R5: 1007)' };
  const o = parseJsonObject(head);
  if (o === 'not JSON') return { ok: false, problem: 'a binary-form head that is not JSON (§2.8 R5: 1007)' };
  if (o === 'not an object') return { ok: false, problem: 'a binary-form head that is not an object (§2.8 R5: 1002)' };
  if (!BINARY_FORM_TYPES.includes(o['t'] as string)) return { ok: false, problem: 'a binary-form head whose t is not m, q, r or p (§2.8 R4, R5: 1002)' };
  if ('b' in o || 'd' in o || 'e' in o) return { ok: false, problem: 'a binary-form head with b, d or e (§2.8 R5: 1002)' };
  return { ok: true, env: { ...o, b: Buffer.from(data.subarray(zero + 1)).toString('base64') } };
}

/** UTF-8 JSON text as an object (§2.1 R1), or what it is instead. */
function parseJsonObject(text: Buffer): Envelope | 'not JSON' | 'not an object' {
  let value: unknown;
  try {
    value = JSON.parse(text.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  return value === null || typeof value !== 'object' || Array.isArray(value) ? 'not an object' : (value as Envelope);
}

/** §2.8: the binary form of an envelope with bytes in `b`, by hand: its JSON without `b`, 0x00, the bytes. */
export function binaryForm(env: Envelope, b: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(JSON.stringify(env), 'utf8'), Buffer.from([0]), Buffer.from(b)]);
}

/** The bytes of a `b` field as the codec carries them, or undefined when they are not valid (§2.1). */
export function bytesOf(codec: Codec, b: unknown): Uint8Array | undefined {
  if (codec === 'msgpack') return b instanceof Uint8Array ? b : undefined;
  if (typeof b !== 'string' || !isCanonicalBase64(b)) return undefined;
  return new Uint8Array(Buffer.from(b, 'base64'));
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** §2.1 `b` in JSON mode: standard alphabet, `=` padding, no whitespace, unused bits zero. */
export function isCanonicalBase64(text: string): boolean {
  return BASE64.test(text) && Buffer.from(text, 'base64').toString('base64') === text;
}

// ---------------------------------------------------------------------------------------
// Hand-made MessagePack, for the frames an encoder would never write (the kit's hostile
// and edge-case inputs). MessagePack spec: fixmap 0x80|n, fixstr 0xa0|n, str8 0xd9,
// str16 0xda, bin8 0xc4, float64 0xcb, uint64 0xcf, fixext1 0xd4, ext8 0xc7, nil 0xc0.
// ---------------------------------------------------------------------------------------

/** One MessagePack map from already-encoded key/value pairs (at most 15: a fixmap). */
export function mpMap(pairs: readonly (readonly [Uint8Array, Uint8Array])[]): Uint8Array {
  if (pairs.length > 15) throw new Error('mpMap: at most 15 pairs');
  return concat([Uint8Array.of(0x80 | pairs.length), ...pairs.flatMap(([k, v]) => [k, v])]);
}

/** One MessagePack array from already-encoded values (fixarray, or array 16). */
export function mpArray(values: readonly Uint8Array[]): Uint8Array {
  const header = values.length < 16 ? Uint8Array.of(0x90 | values.length) : Uint8Array.of(0xdc, values.length >> 8, values.length & 0xff);
  return concat([header, ...values]);
}

/** A value encoded the ordinary way. */
export const mp = (value: unknown): Uint8Array => msgpackEncode(value, { useBigInt64: true });

/** A MessagePack string from raw bytes (which need not be UTF-8). */
export function mpStrBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 32) return concat([Uint8Array.of(0xa0 | bytes.length), bytes]);
  if (bytes.length < 256) return concat([Uint8Array.of(0xd9, bytes.length), bytes]);
  return concat([Uint8Array.of(0xda, bytes.length >> 8, bytes.length & 0xff), bytes]);
}

/** A float64 holding `value` (an encoder writes an integral number as an integer). */
export function mpFloat64(value: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = 0xcb;
  new DataView(out.buffer).setFloat64(1, value);
  return out;
}

/** A uint64 holding `value`. */
export function mpUint64(value: bigint): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = 0xcf;
  new DataView(out.buffer).setBigUint64(1, value);
  return out;
}

/** An extension value of `type` (−1 is the timestamp extension) with `data`. */
export function mpExt(type: number, data: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(0xc7, data.length, type & 0xff), data]);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
}
