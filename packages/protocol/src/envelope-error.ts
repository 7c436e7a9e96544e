import { LifelineError } from './errors.js';
import { MAX_CLOSE_REASON_BYTES } from './close-codes.js';
import type { BoundsProblem } from './bounds.js';

/** The close codes a malformed or ill-timed envelope earns (PROTOCOL.md §2.6). */
export type EnvelopeCloseCode = 1002 | 1007 | 1008;

/**
 * A peer sent something that is not a valid envelope, or sent it at the wrong time. The
 * receiver closes the connection with `closeCode`, and uses `reason` both as the `error`
 * envelope's message and as the close reason: it is short (at most 123 bytes of UTF-8,
 * what a close frame can carry), names the field at fault, and never quotes the peer's
 * data beyond a short printable `t`.
 *
 * - 1007: the frame is not JSON (text) or not MessagePack (binary);
 * - 1002: it decodes, but is not a valid envelope;
 * - 1008: a valid envelope at the wrong time (raised by the session layer, not the codecs).
 */
export class EnvelopeError extends LifelineError {
  override readonly name = 'EnvelopeError';
  readonly reason: string;
  /** Set when the frame broke a structural bound or a content rule (bounds.ts): which. */
  readonly problem: BoundsProblem | undefined;

  constructor(
    readonly closeCode: EnvelopeCloseCode,
    reason: string,
    options?: { cause?: unknown; problem?: BoundsProblem },
  ) {
    const short = truncateUtf8(reason, MAX_CLOSE_REASON_BYTES);
    super('LL_INVALID_ENVELOPE', short, options);
    this.reason = short;
    this.problem = options?.problem;
  }
}

/** `text` cut to at most `maxBytes` bytes of UTF-8, never inside a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Fast exit: every UTF-16 unit is at most 3 bytes of UTF-8.
  if (text.length * 3 <= maxBytes) return text;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let size: number;
    let units = 1;
    if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size = 4;
      units = 2;
    } else size = 3; // the rest of the BMP; a lone surrogate becomes U+FFFD, also 3 bytes
    if (bytes + size > maxBytes) return text.slice(0, i);
    bytes += size;
    i += units - 1;
  }
  return text;
}
