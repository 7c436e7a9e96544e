/**
 * Binary-form envelopes in JSON mode (PROTOCOL.md §2.8): an `m`, `q`, `r` or `p` that carries
 * `b` travels as one binary frame, the envelope's JSON without `b`, a 0x00 byte, then the
 * payload's bytes, on a link whose hello asked for it (`bin: true`) and whose welcome agreed.
 * No base64 either way: the payload is read as a view of the received frame and written as
 * a piece of its own (a received one where it arrived, an application's copied once into the
 * frame, which the replay buffer must own).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { binaryFormEnvelope, encodeBinaryHead, EnvelopeError, type DecodeLimits, type Envelope } from '@lifeline/protocol';
import type { Pieces } from '../transport/frame.js';
import { binaryFormHeadEnd, ownPayload, readBinaryFormMessage, withPayload } from './message-bytes.js';
import { toBuffer } from './message.js';

/**
 * One envelope in the binary form, as the session holds it for replay: `data` is what a link
 * that agreed writes as one binary frame; `text()` is the same envelope as a text frame, for a
 * link that did not agree (a resume by a client that no longer asks) and for a shared store.
 */
export class BinaryFrame {
  constructor(
    /** The head's JSON text (without the 0x00 byte). */
    private readonly head: string,
    /** The payload `b`. */
    private readonly payload: Buffer,
    /** The whole frame: the head's UTF-8, 0x00, the payload; in pieces or one buffer. */
    readonly data: Buffer | Pieces,
    /** Its bytes. */
    readonly size: number,
  ) {}

  /** The same envelope as a text frame: the head with `"b"` in base64 before its closing brace. */
  text(): string {
    return `${this.head.slice(0, -1)},"b":"${this.payload.toString('base64')}"}`;
  }
}

/**
 * The binary form of an envelope that carries `b`, or `undefined` for any other (it has
 * only the text form). Throws LL_ENCODE_FAILED as the text encoder does.
 */
export function encodeBinaryForm(envelope: Envelope): BinaryFrame | undefined {
  const head = encodeBinaryHead(envelope);
  if (head === undefined) return undefined;
  const own = ownPayload(envelope);
  const payload = own ?? toBuffer((envelope as { b: Uint8Array }).b);
  // Pieces take strings as latin1: a head beyond ASCII (a request's name) goes as its UTF-8 bytes in latin1 text.
  const headBytes = isAsciiText(head) ? `${head}\0` : Buffer.from(`${head}\0`, 'utf8').toString('latin1');
  const size = headBytes.length + payload.length;
  if (own !== undefined) return new BinaryFrame(head, payload, withPayload(headBytes, payload), size);
  const frame = Buffer.allocUnsafeSlow(size);
  const at = frame.write(headBytes, 0, 'latin1');
  payload.copy(frame, at);
  return new BinaryFrame(head, frame.subarray(at), frame, size);
}

/**
 * The envelope in a binary frame of a link that agreed to the binary form. Throws
 * EnvelopeError (PROTOCOL.md §2.8 R5): 1007 without a 0x00 byte or with a head that is not
 * UTF-8, not JSON or over `limits`; 1002 for a head that is not a valid envelope in this form.
 */
export function decodeBinaryForm(data: Buffer, limits: DecodeLimits): Envelope {
  const end = binaryFormHeadEnd(data);
  if (end < 0) throw new EnvelopeError(1007, 'binary form: no 0x00 byte after the head');
  const fast = readBinaryFormMessage(data, end, limits);
  if (fast !== undefined) return fast;
  const head = data.subarray(0, end);
  if (!isAscii(head) && !isUtf8(head)) throw new EnvelopeError(1007, 'binary form: the head is not valid UTF-8');
  const envelope = binaryFormEnvelope(head.toString('utf8'), data.subarray(end + 1), limits);
  return envelope;
}

const NON_ASCII = /[^\x00-\x7f]/;

function isAsciiText(text: string): boolean {
  return !NON_ASCII.test(text);
}
