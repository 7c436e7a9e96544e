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
 */
import { Decoder, Encoder, type ExtensionCodecType } from '@msgpack/msgpack';
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

// One of each, reused: both keep their buffers between calls, and both handle reentrancy.
const decoder = new Decoder({ extensionCodec: NO_EXTENSIONS });
const encoder = new Encoder({ extensionCodec: NO_EXTENSIONS, ignoreUndefined: true });

/** `b` in MessagePack mode: a byte string (bin 8/16/32). */
const BYTE_STRING_FIELD: BinaryField = { read: UINT8ARRAY_FIELD.read, expected: 'a MessagePack byte string (bin)' };

/**
 * The envelope in a binary frame. Throws {@link EnvelopeError}: 1007 when the bytes are not
 * one complete MessagePack value, 1002 when they are but not a valid envelope. A `b` in the
 * result is a view into `bytes`, not a copy.
 */
export function decodeEnvelopeMsgpack(bytes: Uint8Array | ArrayBuffer): Envelope {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (error) {
    if (error instanceof EnvelopeError) throw error;
    throw new EnvelopeError(1007, 'not valid MessagePack', { cause: error });
  }
  return readEnvelope(value, BYTE_STRING_FIELD);
}

/**
 * The binary frame for an envelope (a fresh Uint8Array). Throws {@link LifelineError}
 * `LL_ENCODE_FAILED` for an envelope that the peer would refuse or a `d` that MessagePack
 * cannot carry (a Date, a BigInt, a function, nesting deeper than 100).
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
