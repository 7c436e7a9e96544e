import { Message } from '../connection/message.js';
import { EncodedText } from './message-bytes.js';

/**
 * A message received in Lifeline mode: `json()` is the payload `d` as sent, `text` is `d`
 * itself when it is a string. For a `d` payload, `data` (its JSON, as bytes) is made only
 * when something reads it: an echo (`socket.send(msg)`) or a handler that only reads `json()`
 * never pays for serialising the value again.
 */
export class LifelineMessage extends Message {
  constructor(
    /** The payload `d`, or for a large string `d` its EncodedText; undefined for a binary `b` payload. */
    private readonly payload: unknown,
    /** The bytes of a `b` payload; undefined for `d`, whose JSON is made on demand. */
    data: Buffer | undefined,
    binary: boolean,
  ) {
    super(data as Buffer, binary);
  }

  /** The payload `d` (undefined for a binary `b` payload). */
  get value(): unknown {
    const payload = this.payload;
    return payload instanceof EncodedText ? payload.text : payload;
  }

  /**
   * @internal A large string `d` as it came (message-bytes.ts), made into a string only when
   * something reads it: sending the message on copies its bytes.
   */
  get encoded(): EncodedText | undefined {
    const payload = this.payload;
    return payload instanceof EncodedText ? payload : undefined;
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
    const d = payload;
    return Buffer.from(typeof d === 'string' ? d : (JSON.stringify(d) ?? 'null'));
  }
}

/** `bytes` as a Buffer, without a copy. */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
