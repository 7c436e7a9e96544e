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
 * One received WebSocket message. The payload stays as the runtime delivered it: the bytes
 * on Node, where text is decoded only when asked for; a text frame's string on Bun and
 * Deno, made into bytes only when `data` is read. Forwarding a message (`socket.send(msg)`)
 * sends what was received, with no decode and no copy.
 */
export class Message {
  private decoded: string | undefined;
  /** The payload's bytes; a Lifeline message, or a text message received as a string, makes them only when asked (lazyData). */
  private bytes: Buffer | undefined;

  constructor(
    /** The payload as received: bytes, or the text of a text frame. */
    data: Buffer | string,
    /** True for a binary frame, false for a text frame. */
    readonly binary: boolean,
    /** The bounds `json()` parses within: the app's `limits`. */
    private readonly limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
    /** The UTF-8 bytes of a string `data`, when the caller has counted them (the transport has); -1: counted on first use. */
    private textSize = -1,
  ) {
    if (typeof data === 'string') this.decoded = data;
    else this.bytes = data;
  }

  /** The payload as bytes (a `Buffer`). */
  get data(): Buffer {
    return (this.bytes ??= this.lazyData());
  }

  /**
   * @internal What `socket.send(message)` writes: the bytes once they exist (the application
   * may have changed them), else the text as received.
   */
  get wireData(): Buffer | string {
    return this.bytes ?? this.decoded ?? this.data;
  }

  /** @internal The bytes of a message made without them (a text frame's string; LifelineMessage). */
  protected lazyData(): Buffer {
    return this.decoded !== undefined ? Buffer.from(this.decoded) : Buffer.alloc(0);
  }

  /** @internal Something has read `data` (a LifelineMessage made without it). */
  protected get dataRead(): boolean {
    return this.bytes !== undefined;
  }

  /** The payload as text (UTF-8). For a text frame the runtime has already checked the encoding. */
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

  /** The payload's bytes (a string's UTF-8 bytes, counted without making `data`). */
  get size(): number {
    const bytes = this.bytes;
    if (bytes !== undefined) return bytes.length;
    // A string `decoded` without `bytes` is the text as received (text() makes bytes first).
    const text = this.decoded;
    if (text === undefined) return this.data.length;
    if (this.textSize < 0) this.textSize = Buffer.byteLength(text);
    return this.textSize;
  }
}

function preview(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
