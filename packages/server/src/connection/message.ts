import { DEFAULT_DECODE_LIMITS, LifelineError, parseJsonWithin, type DecodeLimits } from '@lifeline/protocol';

/**
 * What `Message.json()` throws when the peer's text is not JSON, or breaks a bound or a
 * content rule (docs/server.md "Limits"): code `LL_INVALID_JSON`, a message for the
 * application (with a preview of the text), and a short `reason` that quotes nothing. If
 * it escapes a route handler or a `message` listener, the connection closes with
 * `closeCode` 1007 and that reason: the peer sent bad data.
 */
export class InvalidMessageError extends LifelineError {
  override readonly name = 'InvalidMessageError';
  readonly closeCode = 1007;

  constructor(
    message: string,
    /** For the close frame: at most 123 bytes, no quoted data. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('LL_INVALID_JSON', message, options);
  }
}

/**
 * One received WebSocket message. The payload stays as the bytes `ws` delivered; text is
 * decoded only when asked for, so forwarding a message (`socket.send(msg)`) costs no
 * decode and no copy.
 */
export class Message {
  private decoded: string | undefined;
  /** The payload's bytes; a Lifeline message makes them only when asked (lazyData). */
  private bytes: Buffer | undefined;

  constructor(
    /** The payload as received. */
    data: Buffer,
    /** True for a binary frame, false for a text frame. */
    readonly binary: boolean,
    /** The bounds `json()` parses within: the app's `limits`. */
    private readonly limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
  ) {
    this.bytes = data;
  }

  /** The payload as received (a `Buffer`). */
  get data(): Buffer {
    return (this.bytes ??= this.lazyData());
  }

  /** @internal The bytes of a message made without them (LifelineMessage). */
  protected lazyData(): Buffer {
    return Buffer.alloc(0);
  }

  /** @internal Something has read `data` (a LifelineMessage made without it). */
  protected get dataRead(): boolean {
    return this.bytes !== undefined;
  }

  /** The payload as text (UTF-8). For a text frame `ws` has already checked the encoding. */
  get text(): string {
    return (this.decoded ??= this.data.toString('utf8'));
  }

  /**
   * The payload parsed as JSON, within the app's `limits` (nesting, items, key length; no
   * `__proto__` key, no lone surrogate). Throws {@link InvalidMessageError} (`LL_INVALID_JSON`)
   * when it is not JSON or breaks one of them.
   */
  json<T = unknown>(): T {
    const parsed = parseJsonWithin(this.text, this.limits);
    if (parsed.ok) return parsed.value as T;
    if (parsed.problem !== undefined) {
      throw new InvalidMessageError(`Message ${parsed.problem.reason}: ${preview(this.text)}`, `message ${parsed.problem.reason}`);
    }
    throw new InvalidMessageError(`Message is not JSON: ${preview(this.text)}`, 'message is not JSON', { cause: parsed.error });
  }

  /** Like `json()` but never throws: `{ ok: false, error }` for input that is not JSON or breaks a bound. */
  tryJson<T = unknown>(): { ok: true; value: T } | { ok: false; error: LifelineError } {
    try {
      return { ok: true, value: this.json<T>() };
    } catch (error) {
      return { ok: false, error: error as LifelineError };
    }
  }

  get size(): number {
    return this.data.length;
  }
}

function preview(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
