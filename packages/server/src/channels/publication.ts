/**
 * A publication as it goes out: its frame is encoded once per wire format, the first time
 * a subscriber needs that format, and the same bytes (one SharedFrame) go to every
 * subscriber of that format.
 */
import { encodeEnvelope, type Envelope } from '@lifeline/protocol';
import { encodeEnvelopeMsgpack } from '@lifeline/protocol/msgpack';
import type { Publication } from './broker.js';
import type { SharedFrame } from '../transport/transport.js';

/** The wire form a subscriber needs. */
export type WireFormat = 'raw' | 'json' | 'msgpack';

/** A publication with its frames, each encoded the first time a subscriber needs it. */
export class EncodedPublication {
  private json: SharedFrame | null | undefined;
  private msgpack: SharedFrame | null | undefined;
  private raw: SharedFrame | null | undefined;

  constructor(
    readonly publication: Publication,
    private readonly report: (publication: Publication, format: WireFormat, error: unknown) => void,
  ) {}

  /**
   * The frame for `format`, or null when the publication cannot be encoded in it. Publishing
   * refuses such a value before it gets an offset, so this happens only to one that came in
   * another way (a broker shared with a process that checks less).
   */
  frame(format: WireFormat): SharedFrame | null {
    if (format === 'json') return this.json === undefined ? (this.json = this.encode(format)) : this.json;
    if (format === 'msgpack') return this.msgpack === undefined ? (this.msgpack = this.encode(format)) : this.msgpack;
    return this.raw === undefined ? (this.raw = this.encode(format)) : this.raw;
  }

  private encode(format: WireFormat): SharedFrame | null {
    const p = this.publication;
    try {
      if (format === 'json') return { frame: encodeEnvelope(envelopeOf(p)), binary: false };
      if (format === 'msgpack') return { frame: encodeEnvelopeMsgpack(envelopeOf(p)), binary: true };
      // Raw clients get the payload itself: bytes as binary, a string as its text, anything else as JSON.
      return p.bytes !== undefined ? { frame: p.bytes, binary: true } : { frame: typeof p.data === 'string' ? p.data : JSON.stringify(p.data), binary: false };
    } catch (error) {
      this.report(p, format, error);
      return null;
    }
  }
}

function envelopeOf(p: Publication): Envelope {
  return p.bytes !== undefined ? { t: 'p', ch: p.channel, o: p.offset, ep: p.epoch, b: p.bytes } : { t: 'p', ch: p.channel, o: p.offset, ep: p.epoch, d: p.data };
}
