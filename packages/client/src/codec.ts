import { LifelineError } from '@lifeline/protocol';
import type { Frame } from './types.js';

/**
 * Turns application values into frames and frames into values. `decode` may throw: the
 * message is then delivered with its raw text or bytes and the error, and the connection
 * lives on.
 */
export interface Codec<In = unknown, Out = unknown> {
  encode(value: Out): Frame;
  decode(frame: string | Uint8Array): In;
}

export const isBinary = (value: unknown): value is ArrayBufferLike | ArrayBufferView =>
  value instanceof ArrayBuffer || ArrayBuffer.isView(value);

/** Frames as they are: text as a string, binary as a Uint8Array. */
export const textCodec: Codec<string | Uint8Array, Frame> = {
  encode: (value) => value,
  decode: (frame) => frame,
};

/**
 * JSON for text frames (every value you send goes through JSON.stringify, strings too);
 * binary frames pass through as bytes. A text frame that is not JSON arrives with
 * `error.code === 'LL_INVALID_JSON'` and its `text`.
 */
export const jsonCodec: Codec<unknown, unknown> = {
  encode(value) {
    if (isBinary(value)) return value;
    const text = JSON.stringify(value) as string | undefined;
    if (text === undefined) throw new TypeError(`${typeof value} has no JSON form`);
    return text;
  },
  decode(frame) {
    if (typeof frame !== 'string') return frame;
    try {
      return JSON.parse(frame);
    } catch (error) {
      throw new LifelineError('LL_INVALID_JSON', `A text message is not JSON (${(error as Error).message}); see message.text.`, { cause: error });
    }
  },
};

/** UTF-8 length of a string (what it costs on the wire) or the byte length of binary data. */
export function byteLength(frame: Frame): number {
  if (typeof frame !== 'string') return frame.byteLength;
  let bytes = 0;
  for (let i = 0; i < frame.length; i++) {
    const c = frame.charCodeAt(i);
    // A surrogate pair is 4 bytes: 2 for each half.
    bytes += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c < 0xe000) ? 2 : 3;
  }
  return bytes;
}
