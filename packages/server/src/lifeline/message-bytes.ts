/**
 * `m` envelopes with a large payload, read and written as bytes, in both formats (issue 16).
 *
 * The general path turns a frame into a string, parses it, and serialises the payload again
 * to send it: for a 16 KiB message several copies of it, a JSON.stringify that reads it
 * character by character, and a frame kept as a string in the replay buffer, where the
 * garbage collector copies it until the client acknowledges it. Here the exact shapes the
 * encoders write — JSON `{"t":"m","s":S[,"a":A],"d":"…"}` or `…,"b":"…"}`, MessagePack the
 * same map with its keys in that order — are read from the frame's bytes. The payload stays
 * as it came (EncodedText, EncodedBytes): a string is made from it only if something reads
 * it, and a message sent on as it came (`socket.send(message)`, an echo) is written as a head
 * of its own followed by the received bytes, where they are (FramePieces).
 *
 * Every reader returns `undefined` for what it does not take, and the general path decides:
 * it accepts only what the general path accepts, with the same envelope, and never rejects
 * anything itself, so every refusal keeps its close code and reason. The writers produce
 * the bytes the general encoders produce. `test/message-bytes.test.ts` checks both over
 * generated frames. ARCHITECTURE.md, "Large messages", has the whole picture.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import type { DecodeLimits, MessageEnvelope } from '@lifeline/protocol';
import type { Pieces } from '../transport/frame.js';
import { base64Alphabet, plainText } from './byte-scan.js';
import type { LifelineFormat } from './options.js';

/**
 * Frames and payloads from this many bytes on take the byte path. Below it the string path
 * costs no more, and keeps small frames as strings: a small Buffer would come from Node's
 * shared pool, and one held in a replay buffer would pin a whole pool slab.
 */
export const BYTE_PATH_MIN = 1024;

/**
 * A received payload kept as it came: the field's value encoded exactly as the format's
 * encoder writes it (`bytes`), so that sending it on writes these bytes again.
 */
export abstract class EncodedPayload {
  constructor(
    /** `bytes`: the payload of a binary-form envelope (PROTOCOL.md §2.8), its bytes themselves, which no writer passes as an encoded field. */
    readonly format: LifelineFormat | 'bytes',
    /** A JSON string literal (quotes included), or a MessagePack str or bin with its header. */
    readonly bytes: Buffer,
  ) {}
}

/** A string `d`: a JSON literal without escapes, or a MessagePack str. The string is made from its bytes when first read. */
export class EncodedText extends EncodedPayload {
  private decoded: string | undefined;

  constructor(
    format: LifelineFormat,
    bytes: Buffer,
    /** Where the string's UTF-8 bytes begin and end within `bytes`. */
    private readonly start: number,
    private readonly end: number,
    /** They are known to be ASCII (then latin1 decodes them, which costs a copy and nothing else). */
    private readonly ascii: boolean,
  ) {
    super(format, bytes);
  }

  /** The string. */
  get text(): string {
    return (this.decoded ??= this.bytes.toString(this.ascii ? 'latin1' : 'utf8', this.start, this.end));
  }

  /** Bytes of the string's UTF-8. */
  get size(): number {
    return this.end - this.start;
  }

  /** The string's UTF-8 bytes, copied. */
  utf8(): Buffer {
    return Buffer.from(this.bytes.subarray(this.start, this.end));
  }
}

/**
 * A `b`: canonical base64 in a JSON literal (decoded when first read), a MessagePack bin
 * (`value` is a view of it), or the payload of a binary-form envelope (`bytes` and `value`
 * are the same view).
 */
export class EncodedBytes extends EncodedPayload {
  private decoded: Buffer | undefined;

  constructor(format: LifelineFormat | 'bytes', bytes: Buffer, value?: Buffer) {
    super(format, bytes);
    this.decoded = value;
  }

  /** How many bytes it stands for (without decoding base64). */
  get size(): number {
    if (this.decoded !== undefined) return this.decoded.length;
    const n = this.bytes.length - 2; // the base64 text, without its quotes
    const pad = n === 0 ? 0 : this.bytes[n] !== 0x3d ? 0 : this.bytes[n - 1] === 0x3d ? 2 : 1;
    return (n / 4) * 3 - pad;
  }

  /** The bytes it stands for. */
  get value(): Buffer {
    return (this.decoded ??= Buffer.from(this.bytes.toString('latin1', 1, this.bytes.length - 1), 'base64'));
  }
}

/**
 * An `m` envelope whose payload is kept encoded: read so from a frame, or made to send a
 * received one on (`socket.send(message)`). Its `d` or `b` reads like any envelope's, so the
 * general encoders take it too; a writer of the same format writes its bytes instead.
 */
export abstract class EncodedEnvelope {
  readonly t = 'm';
  readonly s: number;
  /** Present only when set, as in every decoded envelope. */
  declare readonly a?: number;

  constructor(s: number, a: number | undefined) {
    this.s = s;
    if (a !== undefined) (this as { a?: number }).a = a;
  }

  abstract readonly encoded: EncodedPayload;
}

export class TextMessage extends EncodedEnvelope {
  declare readonly b?: undefined;

  constructor(
    s: number,
    a: number | undefined,
    readonly encoded: EncodedText,
  ) {
    super(s, a);
  }

  get d(): string {
    return this.encoded.text;
  }
}

export class BytesMessage extends EncodedEnvelope {
  declare readonly d?: undefined;

  constructor(
    s: number,
    a: number | undefined,
    readonly encoded: EncodedBytes,
  ) {
    super(s, a);
  }

  get b(): Buffer {
    return this.encoded.value;
  }
}

/** An `m` whose payload is kept encoded: a string `d` or a `b`. */
export type EncodedMessage = TextMessage | BytesMessage;

/** A received payload sent on, in a new envelope of the session's own numbering. */
export function encodedMessage(s: number, a: number | undefined, encoded: EncodedPayload): EncodedMessage {
  return encoded instanceof EncodedText ? new TextMessage(s, a, encoded) : new BytesMessage(s, a, encoded as EncodedBytes);
}

/**
 * A frame written in pieces, one after another, as one message: a received payload stays
 * where it arrived (no copy), between a head and a tail of its own. A string piece is bytes
 * as latin1 (one byte a character): a head costs no allocation outside the JavaScript heap.
 */
export type FramePieces = Pieces;

/**
 * A received payload's bytes are written where they are (a view of the frame they came in)
 * when they make at least this share of the memory the view keeps alive; otherwise they are
 * copied, so that the replay buffer, which counts the frames' bytes, never holds much more.
 */
const VIEW_SHARE = 4;

// ---- JSON (lifeline.v1) ---------------------------------------------------------------------

const JSON_HEAD = Buffer.from('{"t":"m","s":', 'latin1');
const JSON_A = Buffer.from(',"a":', 'latin1');
const JSON_D = Buffer.from(',"d":"', 'latin1'); // a string d: its opening quote included
const JSON_B = Buffer.from(',"b":"', 'latin1');
const QUOTE = 0x22;
const CLOSE_BRACE = 0x7d;

/** Where the last readDigits / readUint stopped. */
let cursor = 0;

/** The `a` the last readMessageHead read (undefined: none). */
let headA: number | undefined;

/** `{"t":"m","s":S[,"a":A]` at the start of `data`: returns S (≥ 1; A in headA, cursor after them), or −1. */
function readMessageHead(data: Buffer): number {
  if (!bytesAt(data, 0, JSON_HEAD)) return -1;
  const s = readDigits(data, JSON_HEAD.length);
  if (s < 1) return -1;
  headA = undefined;
  if (bytesAt(data, cursor, JSON_A)) {
    const a = readDigits(data, cursor + JSON_A.length);
    if (a < 0) return -1;
    headA = a;
  }
  return s;
}

/**
 * The envelope in a JSON text frame of at least BYTE_PATH_MIN bytes, when it has the
 * encoder's shape and a string `d` without escapes, or a `b`; otherwise `undefined`.
 */
export function readJsonMessage(data: Buffer, limits: DecodeLimits): EncodedMessage | undefined {
  const n = data.length;
  if (n < BYTE_PATH_MIN || data[n - 1] !== CLOSE_BRACE) return undefined;
  const s = readMessageHead(data);
  if (s < 1) return undefined;
  const a = headA;
  // The general path counts the envelope's fields as items (bounds.ts); its other bounds
  // (depth 1, keys of one character) every limit allows.
  if ((a === undefined ? 3 : 4) > limits.maxItems) return undefined;
  const start = cursor + JSON_D.length; // the first character inside the quotes, for d and b alike
  const end = n - 2; // the closing quote
  if (end < start || data[end] !== QUOTE) return undefined;
  if (bytesAt(data, cursor, JSON_D)) {
    // Without a quote inside, a backslash or a control character, the literal is a JSON
    // string without escapes: it reads as its own UTF-8 text, which JSON.stringify writes
    // back as these very bytes. A text frame is valid UTF-8 (the transport refuses any other
    // with 1007, TransportSink.transportMessage), and valid UTF-8 holds no lone surrogate.
    if (!plainText(data, start, end)) return undefined;
    const literal = data.subarray(start - 1, end + 1);
    return new TextMessage(s, a, new EncodedText('json', literal, 1, literal.length - 1, false));
  }
  if (bytesAt(data, cursor, JSON_B)) {
    if (!canonicalBase64(data, start, end)) return undefined;
    return new BytesMessage(s, a, new EncodedBytes('json', data.subarray(start - 1, end + 1)));
  }
  return undefined;
}

/**
 * The text frame of an `m` envelope whose payload was received as JSON (EncodedMessage),
 * in pieces; or of one with a `b` of at least BYTE_PATH_MIN bytes, as bytes. Otherwise
 * `undefined`.
 */
export function writeJsonMessage(m: MessageEnvelope | EncodedMessage): Buffer | FramePieces | undefined {
  const passing = m instanceof EncodedEnvelope && m.encoded.format === 'json';
  if ((!passing && !largeBytes(m)) || !numbered(m)) return undefined; // (a small m returns here at once)
  const head = m.a === undefined ? `{"t":"m","s":${m.s}` : `{"t":"m","s":${m.s},"a":${m.a}`;
  if (passing) return withPayload(m instanceof TextMessage ? `${head},"d":` : `${head},"b":`, (m as EncodedMessage).encoded.bytes, '}');
  const b = m.b!;
  const base64 = asBuffer(b).toString('base64');
  const frame = Buffer.allocUnsafeSlow(head.length + JSON_B.length + base64.length + 2);
  let at = frame.write(head, 0, 'latin1');
  at += JSON_B.copy(frame, at);
  at += frame.write(base64, at, 'latin1');
  frame[at] = QUOTE;
  frame[at + 1] = CLOSE_BRACE;
  return frame;
}

// ---- JSON's binary form (PROTOCOL.md §2.8) ---------------------------------------------------

const JSON_BINARY_END = 0x00;

/**
 * The `m` in a binary-form frame whose head is exactly `{"t":"m","s":S[,"a":A]}` (`head`: where
 * its 0x00 byte is), its payload a view of `data` (EncodedBytes of format `bytes`); otherwise
 * `undefined`, and the general path decides.
 */
export function readBinaryFormMessage(data: Buffer, head: number, limits: DecodeLimits): BytesMessage | undefined {
  if (data[head - 1] !== CLOSE_BRACE) return undefined;
  const s = readMessageHead(data);
  if (s < 1) return undefined;
  const a = headA;
  // `b` counts as an item, as it does in the text form (bounds.ts); depth 1 and keys of one character every limit allows.
  if (cursor !== head - 1 || (a === undefined ? 3 : 4) > limits.maxItems) return undefined;
  const payload = data.subarray(head + 1);
  return new BytesMessage(s, a, new EncodedBytes('bytes', payload, payload));
}

/** Where a binary-form frame's head ends (its 0x00 byte), or −1. */
export function binaryFormHeadEnd(data: Buffer): number {
  return data.indexOf(JSON_BINARY_END);
}

/**
 * The bytes of a `b` to write in a binary-form frame, and whether they are the server's own:
 * a received payload sent on while its handler has not read it (then written where it is,
 * as `withPayload` decides). An application's bytes are copied into the frame: the replay
 * buffer must not hold what the application may change after send().
 */
export function ownPayload(envelope: object): Buffer | undefined {
  if (!(envelope instanceof BytesMessage)) return undefined;
  const encoded = envelope.encoded;
  return encoded.format === 'bytes' || encoded.format === 'msgpack' ? encoded.value : undefined;
}

// ---- MessagePack (lifeline.v1.msgpack) ------------------------------------------------------

/** fixstr "t", fixstr "m", fixstr "s": the three fields' start after the map's head (latin1). */
const MSGPACK_HEAD = '\xa1t\xa1m\xa1s';
const MSGPACK_HEAD_BYTES = Buffer.from(MSGPACK_HEAD, 'latin1');
const FIXSTR_1 = 0xa1;
const KEY_A = 0x61;
const KEY_B = 0x62;
const KEY_D = 0x64;

/**
 * The envelope in a MessagePack frame of at least BYTE_PATH_MIN bytes, when it is the map
 * `{t: "m", s, [a,] d}` with a string d (valid UTF-8) or `{t: "m", s, [a,] b}`, the payload's
 * header the shortest, integers as unsigned MessagePack integers; otherwise `undefined`.
 * A `b` is a view into `data`, as the general decoder gives it.
 */
export function readMsgpackMessage(data: Buffer, limits: DecodeLimits): EncodedMessage | undefined {
  const n = data.length;
  const fields = data[0]! - 0x80; // a fixmap of 3 or 4 entries
  if (n < BYTE_PATH_MIN || (fields !== 3 && fields !== 4) || !bytesAt(data, 1, MSGPACK_HEAD_BYTES)) return undefined;
  // The general decoder counts the map's entries as items; it allows one level of nesting at least.
  if (fields > limits.maxItems) return undefined;
  const s = readUint(data, 1 + MSGPACK_HEAD.length);
  if (s < 1) return undefined;
  let a: number | undefined;
  if (fields === 4) {
    if (data[cursor] !== FIXSTR_1 || data[cursor + 1] !== KEY_A) return undefined;
    a = readUint(data, cursor + 2);
    if (a < 0) return undefined;
  }
  if (data[cursor] !== FIXSTR_1) return undefined;
  const key = data[cursor + 1];
  const at = cursor + 2;
  if (key === KEY_D) {
    const start = stringStart(data, at);
    if (start < 0) return undefined;
    const text = data.subarray(start);
    const ascii = isAscii(text);
    if (!ascii && !isUtf8(text)) return undefined; // the general decoder refuses it (1007)
    return new TextMessage(s, a, new EncodedText('msgpack', data.subarray(at), start - at, n - at, ascii));
  }
  if (key === KEY_B) {
    const start = binaryStart(data, at);
    if (start < 0) return undefined;
    return new BytesMessage(s, a, new EncodedBytes('msgpack', data.subarray(at), data.subarray(start)));
  }
  return undefined;
}

/**
 * The binary frame of an `m` envelope whose payload was received as MessagePack
 * (EncodedMessage), in pieces; or of one with a `b` of at least BYTE_PATH_MIN bytes, as
 * bytes. Otherwise `undefined`.
 */
export function writeMsgpackMessage(m: MessageEnvelope | EncodedMessage): Buffer | FramePieces | undefined {
  const passing = m instanceof EncodedEnvelope && m.encoded.format === 'msgpack';
  if ((!passing && !largeBytes(m)) || !numbered(m)) return undefined; // (a small m returns here at once)
  if (passing) return withPayload(msgpackHead(m.s, m.a, m instanceof TextMessage ? 'd' : 'b'), (m as EncodedMessage).encoded.bytes);
  const b = m.b!;
  const size = b.byteLength;
  const binHead = size < 0x10000 ? 3 : 5; // bin 16 or bin 32 (a bin 8 holds less than BYTE_PATH_MIN)
  const head = msgpackHead(m.s, m.a, 'b');
  const frame = Buffer.allocUnsafeSlow(head.length + binHead + size);
  let at = frame.write(head, 0, 'latin1');
  if (size < 0x10000) {
    frame[at] = 0xc5;
    frame.writeUInt16BE(size, at + 1);
  } else {
    frame[at] = 0xc6;
    frame.writeUInt32BE(size, at + 1);
  }
  at += binHead;
  frame.set(b, at);
  return frame;
}

/** A map's head up to the payload's key (fixmap, t, s, [a,] and the key `d` or `b`), as latin1 text. */
function msgpackHead(s: number, a: number | undefined, key: 'd' | 'b'): string {
  let head = (a === undefined ? '\x83' : '\x84') + MSGPACK_HEAD + uintText(s);
  if (a !== undefined) head += `\xa1a${uintText(a)}`;
  return `${head}\xa1${key}`;
}

/** `value` as the shortest unsigned MessagePack integer @msgpack/msgpack writes (fixint, uint 8/16/32/64), as latin1 text. */
function uintText(value: number): string {
  if (value < 0x80) return String.fromCharCode(value);
  if (value < 0x100) return `\xcc${String.fromCharCode(value)}`;
  if (value < 0x10000) return `\xcd${String.fromCharCode(value >>> 8, value & 0xff)}`;
  const low = String.fromCharCode(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
  if (value < 0x1_0000_0000) return `\xce${low}`;
  const high = Math.floor(value / 0x1_0000_0000);
  return `\xcf${String.fromCharCode(high >>> 24, (high >>> 16) & 0xff, (high >>> 8) & 0xff, high & 0xff)}${low}`;
}

/**
 * `head`, the received `payload` and `tail` as one frame: in pieces, the payload where it
 * is, when it makes at least 1/VIEW_SHARE of the memory it keeps alive; else copied into one.
 */
export function withPayload(head: string, payload: Buffer, tail?: string): Buffer | FramePieces {
  if (payload.buffer.byteLength <= VIEW_SHARE * payload.byteLength) {
    if (tail === undefined) return [head, payload];
    // A JSON payload sent on came right before the `}` that closed its envelope: one view
    // reaching over that byte saves the frame a piece, and the socket a write.
    const after = payload.byteOffset + payload.byteLength;
    if (tail.length === 1 && after < payload.buffer.byteLength) {
      const withTail = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength + 1);
      if (withTail[payload.byteLength] === tail.charCodeAt(0)) return [head, withTail];
    }
    return [head, payload, tail];
  }
  const frame = Buffer.allocUnsafeSlow(head.length + payload.length + (tail?.length ?? 0));
  let at = frame.write(head, 0, 'latin1');
  at += payload.copy(frame, at);
  if (tail !== undefined) frame.write(tail, at, 'latin1');
  return frame;
}

/**
 * `data[start, end)` is canonical base64 (PROTOCOL.md §2.1), as decodeBase64 of
 * @lifeline/protocol has it: a length that is a multiple of 4, the alphabet only, up to two
 * `=` at the end and nothing but zero bits before them. (Node's decoder accepts more, and in
 * Node 20 reads about a byte a nanosecond: the bytes are decoded only if the handler reads them.)
 */
function canonicalBase64(data: Buffer, start: number, end: number): boolean {
  const n = end - start;
  if (n % 4 !== 0) return false;
  const pad = n === 0 || data[end - 1] !== 0x3d ? 0 : data[end - 2] === 0x3d ? 2 : 1;
  if (!base64Alphabet(data, start, end - pad)) return false;
  if (pad === 0) return true;
  // The last character before the padding carries bits past the last byte: they must be zero.
  const last = BASE64_VALUE.indexOf(String.fromCharCode(data[end - pad - 1]!));
  return (last & (pad === 2 ? 15 : 3)) === 0;
}

const BASE64_VALUE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Where a str's bytes begin, when a str 8/16/32 with the shortest header runs from `at` to the end; else −1. */
function stringStart(data: Buffer, at: number): number {
  const n = data.length;
  const head = data[at];
  if (head === 0xd9 && at + 2 <= n) return data[at + 1]! >= 32 && at + 2 + data[at + 1]! === n ? at + 2 : -1;
  if (head === 0xda && at + 3 <= n) {
    const length = data.readUInt16BE(at + 1);
    return length >= 0x100 && at + 3 + length === n ? at + 3 : -1;
  }
  if (head === 0xdb && at + 5 <= n) {
    const length = data.readUInt32BE(at + 1);
    return length >= 0x10000 && at + 5 + length === n ? at + 5 : -1;
  }
  return -1; // a fixstr holds less than BYTE_PATH_MIN: never the whole rest of the frame
}

/** Where a bin's bytes begin, when a bin 16/32 with the shortest header runs from `at` to the end; else −1. */
function binaryStart(data: Buffer, at: number): number {
  const n = data.length;
  const head = data[at];
  if (head === 0xc5 && at + 3 <= n) {
    const length = data.readUInt16BE(at + 1);
    return length >= 0x100 && at + 3 + length === n ? at + 3 : -1;
  }
  if (head === 0xc6 && at + 5 <= n) {
    const length = data.readUInt32BE(at + 1);
    return length >= 0x10000 && at + 5 + length === n ? at + 5 : -1;
  }
  return -1; // a bin 8 holds less than BYTE_PATH_MIN: never the whole rest of the frame
}

/** An unsigned MessagePack integer at `at` (positive fixint, uint 8/16/32/64) up to 2^53 − 1, or −1. */
function readUint(data: Buffer, at: number): number {
  const n = data.length;
  const head = data[at]!;
  if (head < 0x80) {
    cursor = at + 1;
    return at < n ? head : -1;
  }
  let value: number;
  if (head === 0xcc && at + 2 <= n) {
    value = data[at + 1]!;
    cursor = at + 2;
  } else if (head === 0xcd && at + 3 <= n) {
    value = data.readUInt16BE(at + 1);
    cursor = at + 3;
  } else if (head === 0xce && at + 5 <= n) {
    value = data.readUInt32BE(at + 1);
    cursor = at + 5;
  } else if (head === 0xcf && at + 9 <= n) {
    const high = data.readUInt32BE(at + 1);
    if (high > 0x1f_ffff) return -1; // above 2^53 − 1
    value = high * 0x1_0000_0000 + data.readUInt32BE(at + 5);
    cursor = at + 9;
  } else return -1;
  return value;
}

// ---- both ------------------------------------------------------------------------------------

/** A `b` (and no `d`) of at least BYTE_PATH_MIN bytes. */
function largeBytes(m: MessageEnvelope | EncodedMessage): boolean {
  const b = m.b;
  return b instanceof Uint8Array && m.d === undefined && b.byteLength >= BYTE_PATH_MIN;
}

/** `s` and `a` as the general encoders write them without the full check (integers in range). */
function numbered(m: MessageEnvelope | EncodedMessage): boolean {
  const { s, a } = m;
  return typeof s === 'number' && Number.isSafeInteger(s) && s >= 1 && (a === undefined || (typeof a === 'number' && Number.isSafeInteger(a) && a >= 0));
}

/**
 * A JSON integer without sign, fraction, exponent or leading zero at `i`, up to 2^53 − 1
 * (exact in a double, as JSON.parse reads it), or −1.
 */
function readDigits(data: Buffer, i: number): number {
  const start = i;
  let value = 0;
  for (; i < data.length; i++) {
    const digit = data[i]! - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  const length = i - start;
  if (length === 0 || length > 16 || value > Number.MAX_SAFE_INTEGER || (length > 1 && data[start] === 48)) return -1;
  cursor = i;
  return value;
}

function bytesAt(data: Buffer, at: number, expected: Buffer): boolean {
  if (at + expected.length > data.length) return false;
  for (let i = 0; i < expected.length; i++) if (data[at + i] !== expected[i]) return false;
  return true;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
