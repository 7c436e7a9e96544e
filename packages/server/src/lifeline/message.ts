import { Message } from '../connection/message.js';
import { EncodedBytes, EncodedPayload, EncodedText } from './message-bytes.js';

/**
 * A message received in Lifeline mode: `json()` is the payload `d` as sent, `text` is `d`
 * itself when it is a string. For a `d` payload, `data` (its JSON, as bytes) is made only
 * when something reads it: an echo (`socket.send(msg)`) or a handler that only reads `json()`
 * never pays for serialising the value again. A large payload is kept as it came
 * (message-bytes.ts): a string `d` is made from its bytes when first read, and sending the
 * message on writes the received bytes again.
 */
export class LifelineMessage extends Message {
  constructor(
    /** The payload `d`, or a large payload's EncodedPayload (`d` or `b`); undefined for any other `b`. */
    private readonly payload: unknown,
    /** The bytes of a `b` payload; undefined for `d`, whose JSON is made on demand, and for an EncodedBytes. */
    data: Buffer | undefined,
    binary: boolean,
  ) {
    super(data as Buffer, binary);
  }

  /** The payload `d` (undefined for a binary `b` payload). */
  get value(): unknown {
    const payload = this.payload;
    if (payload instanceof EncodedPayload) return payload instanceof EncodedText ? payload.text : undefined;
    return payload;
  }

  /**
   * @internal The payload as it came, to send it on unchanged: a string `d`, or a `b` whose
   * bytes nobody has read (once `data` was handed out, the application may have changed it,
   * and sending the message sends `data` as it is now).
   */
  get encoded(): EncodedPayload | undefined {
    const payload = this.payload;
    if (payload instanceof EncodedText) return payload;
    return payload instanceof EncodedBytes && !this.dataRead ? payload : undefined;
  }

  /** Bytes of the payload (of `data`), known without making `data` for a payload kept as it came. */
  override get size(): number {
    const payload = this.payload;
    return payload instanceof EncodedPayload && !this.dataRead ? (payload as EncodedText | EncodedBytes).size : super.size;
  }

  override get text(): string {
    return !this.binary && typeof this.value === 'string' ? this.value : super.text;
  }

  override json<T = unknown>(): T {
    return this.binary ? super.json<T>() : (this.value as T);
  }

  /** @internal */
  protected override lazyData(): Buffer {
    const payload = this.payload;
    if (payload instanceof EncodedText) return payload.utf8();
    if (payload instanceof EncodedBytes) return payload.value;
    return Buffer.from(typeof payload === 'string' ? payload : (JSON.stringify(payload) ?? 'null'));
  }
}

/** `bytes` as a Buffer, without a copy. */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
