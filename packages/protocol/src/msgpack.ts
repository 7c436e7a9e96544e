/**
 * MessagePack mode (subprotocol `lifeline.v1.msgpack`): one envelope per binary frame,
 * the same maps as JSON mode with `b` as a byte string. A separate entry point,
 * `@lifeline/protocol/msgpack`, so that a JSON-only browser bundle never contains a
 * MessagePack codec.
 *
 * Values are plain MessagePack: nil, booleans, numbers, strings, byte strings, arrays and
 * maps with string or integer keys. Extension types (the timestamp included) are refused
 * (1002), so that every value means the same in both modes' peers; an application that
 * sends a Date gets an encode error, not a silent conversion.
 *
 * The content rules of both modes (bounds.ts) hold here too: strings are UTF-8 (a lone
 * surrogate cannot be written in it), no key is `__proto__`, and a decoder given limits
 * refuses deeper nesting, more items or longer keys while it decodes — one pass, no walk of
 * the value afterwards. Numbers that are not finite are written as nil, as JSON.stringify
 * writes them as null.
 */
import { Decoder, Encoder, type ExtensionCodecType } from '@msgpack/msgpack';
import { isUtf8, isWellFormed, keyTooLongProblem, PROTO_KEY, tooDeepProblem, tooManyProblem, type BoundsProblem, type DecodeLimits } from './bounds.js';
import { EnvelopeError } from './envelope-error.js';
import { readEnvelope, UINT8ARRAY_FIELD, validForEncoding, type BinaryField } from './envelope-validation.js';
import { LifelineError } from './errors.js';
import type { Envelope } from './envelope.js';

const NO_EXTENSIONS: ExtensionCodecType<undefined> = {
  tryToEncode(object) {
    if (object instanceof Date) {
      throw new LifelineError('LL_ENCODE_FAILED', 'Cannot encode a Date in MessagePack mode (extension types are not used): send a string or a number');
    }
    return null;
  },
  decode(_data, type) {
    throw new EnvelopeError(1002, `MessagePack extension type ${type} is not allowed`);
  },
};

const NOT_UTF8: BoundsProblem = { code: 'LL_LONE_SURROGATE', reason: 'has a string that is not UTF-8' };

function refuse(problem: BoundsProblem): never {
  throw new EnvelopeError(1007, `message ${problem.reason}`, { problem });
}

/** The decoder's internals this module hooks (private in its types; checked at load below). */
interface DecoderInternals {
  pos: number;
  bytes: Uint8Array;
  stack: { readonly length: number };
  readHeadByte(): number;
  pushMapState(size: number): void;
  pushArrayState(size: number): void;
  decodeUtf8String(byteLength: number, headerOffset: number): string;
  stateIsMapKey(): boolean;
}

interface EncoderInternals {
  encodeString(object: string): void;
  encodeMap(object: Record<string, unknown>, depth: number): void;
  encodeNumberAsFloat(object: number): void;
  encodeNil(): void;
}

/** A Decoder that applies the limits (when set) and the content rules as it reads. */
class BoundedDecoder extends Decoder<undefined> {
  limits: DecodeLimits | undefined;
  items = 0;

  decodeWithin(bytes: Uint8Array | ArrayBuffer, limits: DecodeLimits | undefined): unknown {
    this.limits = limits;
    this.items = 0;
    return this.decode(bytes);
  }

  /** A map or an array of `size` entries begins. */
  countItems(size: number): void {
    this.items += size;
    const limits = this.limits;
    if (limits !== undefined && this.items > limits.maxItems) refuse(tooManyProblem(limits.maxItems));
  }
}

type Hooked = DecoderInternals & Pick<BoundedDecoder, 'limits' | 'countItems'>;

const decoderBase = Decoder.prototype as unknown as DecoderInternals;
const decoderHooks = BoundedDecoder.prototype as unknown as DecoderInternals;
const encoderBase = Encoder.prototype as unknown as EncoderInternals;

// Fail at load, loudly, if a version of @msgpack/msgpack no longer has what is hooked here.
for (const [proto, names] of [
  [decoderBase, ['readHeadByte', 'pushMapState', 'pushArrayState', 'decodeUtf8String', 'stateIsMapKey']],
  [encoderBase, ['encodeString', 'encodeMap', 'encodeNumberAsFloat', 'encodeNil']],
] as const) {
  for (const name of names) {
    if (typeof (proto as unknown as Record<string, unknown>)[name] !== 'function') {
      throw new Error(`@lifeline/protocol/msgpack: @msgpack/msgpack has no ${name}(); this version is not supported`);
    }
  }
}

decoderHooks.readHeadByte = function (this: Hooked): number {
  const head = decoderBase.readHeadByte.call(this);
  const limits = this.limits;
  // A map or an array (fixmap, fixarray, array 16/32, map 16/32), empty ones included: its
  // level is the open containers plus one, and the envelope itself is level 1.
  if (limits !== undefined && ((head >= 0x80 && head <= 0x9f) || (head >= 0xdc && head <= 0xdf)) && this.stack.length > limits.maxDepth) {
    refuse(tooDeepProblem(limits.maxDepth));
  }
  return head;
};

decoderHooks.pushMapState = function (this: Hooked, size: number): void {
  this.countItems(size);
  decoderBase.pushMapState.call(this, size);
};

decoderHooks.pushArrayState = function (this: Hooked, size: number): void {
  this.countItems(size);
  decoderBase.pushArrayState.call(this, size);
};

decoderHooks.decodeUtf8String = function (this: Hooked, byteLength: number, headerOffset: number): string {
  const start = this.pos + headerOffset;
  const bytes = this.bytes;
  // (Too few bytes left: the base method reports that.)
  if (bytes.byteLength >= start + byteLength && !isUtf8(bytes, start, start + byteLength)) refuse(NOT_UTF8);
  const value = decoderBase.decodeUtf8String.call(this, byteLength, headerOffset);
  if (byteLength >= 9 && this.stateIsMapKey()) {
    const limits = this.limits;
    // A UTF-16 unit takes at least one byte: only a key of more bytes can be too long.
    if (limits !== undefined && byteLength > limits.maxKeyLength && value.length > limits.maxKeyLength) refuse(keyTooLongProblem(limits.maxKeyLength));
    if (value === '__proto__') refuse(PROTO_KEY);
  }
  return value;
};

/** An Encoder that keeps the content rules and writes non-finite numbers as nil. */
class HookedEncoder extends Encoder<undefined> {}
const encoderHooks = HookedEncoder.prototype as unknown as EncoderInternals;

encoderHooks.encodeString = function (this: EncoderInternals, object: string): void {
  if (!isWellFormed(object)) throw new LifelineError('LL_ENCODE_FAILED', 'Cannot encode a string with a lone surrogate: it is not Unicode text');
  encoderBase.encodeString.call(this, object);
};

encoderHooks.encodeMap = function (this: EncoderInternals, object: Record<string, unknown>, depth: number): void {
  if (Object.prototype.hasOwnProperty.call(object, '__proto__')) throw new LifelineError('LL_ENCODE_FAILED', 'Cannot encode a key __proto__: peers refuse it');
  encoderBase.encodeMap.call(this, object, depth);
};

encoderHooks.encodeNumberAsFloat = function (this: EncoderInternals, object: number): void {
  // NaN and the infinities have no JSON form: nil, as JSON.stringify writes null.
  if (Number.isFinite(object)) encoderBase.encodeNumberAsFloat.call(this, object);
  else this.encodeNil();
};

// One of each, reused: both keep their buffers between calls.
const decoder = new BoundedDecoder({ extensionCodec: NO_EXTENSIONS });
const encoder = new HookedEncoder({ extensionCodec: NO_EXTENSIONS, ignoreUndefined: true });

/** `b` in MessagePack mode: a byte string (bin 8/16/32). */
const BYTE_STRING_FIELD: BinaryField = { read: UINT8ARRAY_FIELD.read, expected: 'a MessagePack byte string (bin)' };

/**
 * The envelope in a binary frame. Throws {@link EnvelopeError}: 1007 when the bytes are not
 * one complete MessagePack value, break a content rule (a string that is not UTF-8, a key
 * `__proto__`) or, with `limits`, a bound; 1002 when they are a value but not a valid
 * envelope. Nesting is counted inside the envelope: its fields are level 1. A `b` in the
 * result is a view into `bytes`, not a copy.
 */
export function decodeEnvelopeMsgpack(bytes: Uint8Array | ArrayBuffer, limits?: DecodeLimits): Envelope {
  let value: unknown;
  try {
    value = decoder.decodeWithin(bytes, limits);
  } catch (error) {
    if (error instanceof EnvelopeError) throw error;
    throw new EnvelopeError(1007, 'not valid MessagePack', { cause: error });
  }
  return readEnvelope(value, BYTE_STRING_FIELD);
}

/**
 * The binary frame for an envelope (a fresh Uint8Array). Throws {@link LifelineError}
 * `LL_ENCODE_FAILED` for an envelope that the peer would refuse or a `d` that MessagePack
 * cannot carry (a Date, a BigInt, a function, nesting deeper than 100, a lone surrogate, a
 * key `__proto__`).
 */
export function encodeEnvelopeMsgpack(envelope: Envelope): Uint8Array {
  const valid = validForEncoding(envelope, UINT8ARRAY_FIELD);
  try {
    return encoder.encode(valid);
  } catch (error) {
    if (error instanceof LifelineError) throw error;
    throw new LifelineError('LL_ENCODE_FAILED', `Cannot encode ${valid.t}.d as MessagePack: ${(error as Error).message}`, { cause: error });
  }
}
