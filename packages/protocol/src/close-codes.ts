/**
 * WebSocket close codes (RFC 6455 §7.4 and the IANA registry), with a sentence for each
 * that a person can act on. One table, shared by the server, the client and the console.
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
  TlsHandshake: 1015,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

const descriptions: Record<number, string> = {
  1000: 'closed normally: one side was done and said so',
  1001: 'going away: the server is shutting down or the page is navigating away',
  1002: 'protocol error: a peer sent a frame that breaks RFC 6455',
  1003: 'unsupported data: a peer received a kind of message it does not accept',
  1005: 'closed without a status code: the peer sent a close frame with no code in it',
  1006: 'closed without a close frame: the network dropped or the server crashed',
  1007: 'invalid payload: a text message was not valid UTF-8, or data did not match its type',
  1008: 'policy violation: the peer broke a rule such as a rate limit or authorisation',
  1009: 'message too big: a message exceeded the receiver’s maximum payload',
  1010: 'missing extension: the client required an extension the server did not agree to',
  1011: 'internal error: the server hit an unexpected condition',
  1012: 'service restart: the server is restarting; reconnect after the hinted delay',
  1013: 'try again later: the server is overloaded or the connection fell too far behind',
  1014: 'bad gateway: a proxy got an invalid answer from the server behind it',
  1015: 'TLS handshake failed: the certificate was not accepted (self-signed, expired, or for another host name)',
};

/** A sentence that explains a close code; codes 3000-4999 are application-defined. */
export function describeCloseCode(code: number): string {
  const known = descriptions[code];
  if (known !== undefined) return known;
  if (code >= 3000 && code <= 3999) return 'a code registered by a library or framework (3000–3999): its documentation says what it means';
  if (code >= 4000 && code <= 4999) return 'the application’s own code (4000–4999): only the server knows what it means; the reason may say';
  return 'unknown close code';
}

/**
 * Whether an endpoint may put `code` in a close frame it sends (RFC 6455 §7.4.1-2):
 * 1005, 1006 and 1015 are reserved for reporting and never go on the wire.
 */
export function isSendableCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/** The longest close reason a frame can carry, in UTF-8 bytes (125-byte control payload − 2-byte code). */
export const MAX_CLOSE_REASON_BYTES = 123;
