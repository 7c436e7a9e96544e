/**
 * MessagePack envelopes for Lifeline mode (`lifeline.v1.msgpack`), a separate entry point
 * so that JSON-mode bundles never contain a MessagePack codec:
 *
 *   import { lifeline } from '@lifeline/client/lifeline';
 *   import { msgpackFormat } from '@lifeline/client/msgpack';
 *   createClient(url, { mode: lifeline({ format: msgpackFormat }) });
 */
import { EnvelopeError, LIFELINE_MSGPACK_PROTOCOL } from '@lifeline/protocol';
import { decodeEnvelopeMsgpack, encodeEnvelopeMsgpack } from '@lifeline/protocol/msgpack';
import type { EnvelopeFormat } from './lifeline.js';

/** `lifeline.v1.msgpack`: one MessagePack envelope per binary frame; `b` payloads are byte strings. */
export const msgpackFormat: EnvelopeFormat = {
  protocol: LIFELINE_MSGPACK_PROTOCOL,
  binary: true,
  encode: encodeEnvelopeMsgpack,
  decode: (frame) => decodeEnvelopeMsgpack(frame as Uint8Array),
  // The server's own decoder, with its limits, over the frame: they agree exactly.
  problem(frame, limits) {
    try {
      decodeEnvelopeMsgpack(frame as Uint8Array, limits);
      return undefined;
    } catch (error) {
      if (!(error instanceof EnvelopeError)) throw error;
      // A frame this client encoded is valid MessagePack: only a bound can fail it.
      return error.problem ?? { code: 'LL_TOO_DEEP', reason: error.reason };
    }
  },
};
