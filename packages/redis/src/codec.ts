/**
 * How a publication travels through Redis: one byte string, built once by the publishing
 * process, stored as is in the channel's stream and, with its offset and epoch in front,
 * sent through pub/sub. Binary-safe (the payload comes last and its length is implied), and
 * cheap to read: a few `indexOf(' ')` and one JSON.parse per process.
 *
 *   body     = kind channel ' ' keyLength ' ' key payload
 *   message  = offset ' ' epoch ' ' body
 *
 * kind is `j` (payload: JSON text) or `b` (payload: bytes); keyLength is the UTF-8 byte
 * length of the coalescing key, or `_` when there is none. Channel names (PROTOCOL.md §3.1),
 * epochs (base64url) and offsets (digits) never contain a space.
 */
import type { Publication, PublicationPayload } from '@lifeline/server';

const SPACE = 0x20;
const KIND_JSON = 0x6a; // j
const KIND_BYTES = 0x62; // b

/** The body of a publication: what the stream keeps and pub/sub carries after offset and epoch. */
export function encodeBody(channel: string, payload: PublicationPayload, key: string | undefined): string | Buffer {
  const keyPart = key === undefined ? '_ ' : `${Buffer.byteLength(key)} ${key}`;
  if (payload.bytes !== undefined) {
    const head = Buffer.from(`b${channel} ${keyPart}`);
    return Buffer.concat([head, payload.bytes]);
  }
  // A string goes to ioredis as is: it writes UTF-8 without an intermediate Buffer.
  return `j${channel} ${keyPart}${JSON.stringify(payload.data)}`;
}

/** Reads a body kept in a stream entry; `offset` and `epoch` come from the entry id and the channel's meta. */
export function decodeBody(body: Buffer, start: number, offset: number, epoch: string): Publication {
  const kind = body[start];
  const channelEnd = body.indexOf(SPACE, start + 1);
  const lengthEnd = body.indexOf(SPACE, channelEnd + 1);
  if (channelEnd < 0 || lengthEnd < 0 || (kind !== KIND_JSON && kind !== KIND_BYTES)) throw new Error('not a Lifeline publication');
  const channel = body.toString('latin1', start + 1, channelEnd);
  const lengthText = body.toString('latin1', channelEnd + 1, lengthEnd);
  let payloadStart = lengthEnd + 1;
  let key: string | undefined;
  if (lengthText !== '_') {
    const length = Number(lengthText);
    key = body.toString('utf8', payloadStart, payloadStart + length);
    payloadStart += length;
  }
  const base = key === undefined ? { channel, offset, epoch } : { channel, offset, epoch, key };
  if (kind === KIND_BYTES) {
    // A copy: the hub may keep it (queues, history) long after this Buffer's pool slab is reused.
    return { ...base, bytes: new Uint8Array(body.subarray(payloadStart)) };
  }
  return { ...base, data: JSON.parse(body.toString('utf8', payloadStart)) as unknown };
}

/** Reads a pub/sub message: offset, epoch, then the body. */
export function decodeMessage(message: Buffer): Publication {
  const offsetEnd = message.indexOf(SPACE);
  const epochEnd = message.indexOf(SPACE, offsetEnd + 1);
  if (offsetEnd < 0 || epochEnd < 0) throw new Error('not a Lifeline publication');
  const offset = Number(message.toString('latin1', 0, offsetEnd));
  const epoch = message.toString('latin1', offsetEnd + 1, epochEnd);
  return decodeBody(message, epochEnd + 1, offset, epoch);
}
