/** The two Lifeline wire formats (PROTOCOL.md §2): JSON text frames and MessagePack binary frames. */
import {
  decodeEnvelopeText,
  encodeEnvelope,
  encodeMessageWhole,
  LIFELINE_JSON_PROTOCOL,
  LIFELINE_MSGPACK_PROTOCOL,
  type DecodeLimits,
  type Envelope,
} from '@lifeline/protocol';
import { decodeEnvelopeMsgpack, encodeEnvelopeMsgpack } from '@lifeline/protocol/msgpack';
import { BinaryFrame, decodeBinaryForm, encodeBinaryForm } from './binary-form.js';
import { readJsonMessage, readMsgpackMessage, writeJsonMessage, writeMsgpackMessage, type FramePieces } from './message-bytes.js';
import type { LifelineFormat } from './options.js';
import { RUNNING_ON } from '../leaves/runtime.js';
import { frameSize } from '../transport/frame.js';

/**
 * One encoded envelope as a codec writes it: a text frame (JSON mode) or a binary frame
 * (MessagePack mode). A JSON frame is a string, or its UTF-8 bytes; an `m` with a large payload
 * may be pieces written one after another, the payload where it was received (message-bytes.ts).
 */
export type CodecFrame = string | Uint8Array | FramePieces;

/** What a session holds for replay: a codec's frame, or a JSON envelope in the binary form (PROTOCOL.md §2.8). */
export type Frame = CodecFrame | BinaryFrame;

/** A Lifeline wire format. */
export interface Codec {
  readonly format: LifelineFormat;
  readonly protocol: string;
  /** Frames are binary (MessagePack) rather than text (JSON). */
  readonly binary: boolean;
  encode(envelope: Envelope): CodecFrame;
  /**
   * A frame of the codec's type (TransportSink.transportMessage): its bytes, or a text
   * frame's string as Bun and Deno deliver it. Throws EnvelopeError (1007/1002).
   */
  decode(data: Buffer | string): Envelope;
  /**
   * JSON mode only: the binary form of an envelope that carries `b` (PROTOCOL.md §2.8), or
   * `undefined` when it has none; and the envelope in a binary frame of a link that agreed.
   */
  readonly binaryForm?: {
    encode(envelope: Envelope): BinaryFrame | undefined;
    /** Throws EnvelopeError (1007/1002). */
    decode(data: Buffer): Envelope;
  };
}

/**
 * On Bun a plain `m` is stringified whole (encodeMessageWhole). JavaScriptCore makes a joined
 * string a rope, and flattening a small frame's rope (at the first search, in the replay
 * buffer's byte count, or in the socket's write) cost about 100 ns there, while one
 * JSON.stringify of the envelope writes a flat string in 55% of the joined frame's time; in
 * V8 (Node, Deno) that is about 10% slower than joining, so the frame is joined there.
 */
const STRINGIFY_WHOLE = RUNNING_ON === 'bun';

/**
 * The two wire formats, decoding within `limits` (docs/server.md "Limits"): a peer's
 * envelope over a bound, or against a content rule, is an EnvelopeError 1007. An `m` with a
 * large payload takes the byte path (message-bytes.ts) when it has the encoder's shape; it
 * decides as the general path does, and everything else goes the general way.
 */
export function codecsWithin(limits: DecodeLimits): Record<LifelineFormat, Codec> {
  return {
    json: {
      format: 'json',
      protocol: LIFELINE_JSON_PROTOCOL,
      binary: false,
      encode: (envelope) => (envelope.t === 'm' ? (writeJsonMessage(envelope) ?? (STRINGIFY_WHOLE ? encodeMessageWhole(envelope) : undefined)) : undefined) ?? encodeEnvelope(envelope),
      // A frame Bun or Deno handed over as a string is parsed as it is, whatever its size:
      // through bytes for the byte path, a 16 KiB echo ran at 0.6x (Bun) and 0.5x (Deno)
      // the speed, its reply joined from pieces and decoded to a string again for the send.
      decode: (data) => (typeof data === 'string' ? decodeEnvelopeText(data, limits) : readJsonMessage(data, limits) ?? decodeEnvelopeText(data.toString('utf8'), limits)),
      binaryForm: { encode: encodeBinaryForm, decode: (data) => decodeBinaryForm(data, limits) },
    },
    msgpack: {
      format: 'msgpack',
      protocol: LIFELINE_MSGPACK_PROTOCOL,
      binary: true,
      encode: (envelope) => (envelope.t === 'm' ? writeMsgpackMessage(envelope) : undefined) ?? encodeEnvelopeMsgpack(envelope),
      decode: (data) => {
        // A MessagePack frame is binary (link.ts refuses a text frame in this mode): always bytes.
        const bytes = data as Buffer;
        return readMsgpackMessage(bytes, limits) ?? decodeEnvelopeMsgpack(bytes, limits);
      },
    },
  };
}

/** The bytes of an encoded frame as the wire carries it. */
export function sizeOfFrame(frame: Frame): number {
  return frame instanceof BinaryFrame ? frame.size : frameSize(frame);
}
