import { LifelineError } from '@lifeline/protocol';

/**
 * One received WebSocket message. The payload stays as the bytes `ws` delivered; text is
 * decoded only when asked for, so forwarding a message (`socket.send(msg)`) costs no
 * decode and no copy.
 */
export class Message {
  private decoded: string | undefined;

  constructor(
    /** The payload as received. */
    readonly data: Buffer,
    /** True for a binary frame, false for a text frame. */
    readonly binary: boolean,
  ) {}

  /** The payload as text (UTF-8). For a text frame `ws` has already checked the encoding. */
  get text(): string {
    return (this.decoded ??= this.data.toString('utf8'));
  }

  /** The payload parsed as JSON; throws LifelineError `LL_INVALID_JSON` (with the text) when it is not. */
  json<T = unknown>(): T {
    try {
      return JSON.parse(this.text) as T;
    } catch (cause) {
      throw new LifelineError('LL_INVALID_JSON', `Message is not JSON: ${preview(this.text)}`, { cause });
    }
  }

  /** Like `json()` but never throws: `{ ok: false, error }` for input that is not JSON. */
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
