/**
 * What `send()` of a Lifeline session puts in an `m` envelope (PROTOCOL.md §2.2): strings and
 * JSON values as `d`, bytes as `b`, and a large payload received and sent on as it came
 * (message-bytes.ts); and its size, for a `drop` report when it cannot be sent.
 */
import { Message } from '../connection/message.js';
import type { Sendable } from '../connection/socket.js';
import { LifelineMessage, toBuffer } from './message.js';
import { EncodedPayload } from './message-bytes.js';

/** What send() puts in an `m`: a `d`, a `b`, or a large payload as it was received. */
export type Payload = { d: unknown } | { b: Uint8Array } | EncodedPayload;

/** The payload of what send() was given: strings and JSON values as `d`, bytes as `b`. */
export function payloadOf(data: Sendable, binary: boolean | undefined): Payload {
  if (data instanceof Message) {
    const encoded = data instanceof LifelineMessage ? data.encoded : undefined;
    if (binary ?? data.binary) return data.binary && encoded !== undefined ? encoded : { b: data.data };
    if (!(data instanceof LifelineMessage) || data.binary) return { d: data.text };
    return encoded ?? { d: data.value };
  }
  if (typeof data === 'string') return binary === true ? { b: Buffer.from(data) } : { d: data };
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  return binary === false ? { d: toBuffer(bytes).toString('utf8') } : { b: bytes };
}

/** The payload's bytes (0 for a `d` that is not a string), as a `drop` reports them. */
export function sizeOf(payload: Payload): number {
  if (payload instanceof EncodedPayload) return payload.bytes.length;
  return 'b' in payload ? payload.b.byteLength : typeof payload.d === 'string' ? Buffer.byteLength(payload.d) : 0;
}
