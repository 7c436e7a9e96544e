export { CloseCode, describeCloseCode, isSendableCloseCode, MAX_CLOSE_REASON_BYTES } from './close-codes.js';
export { formatRetryHint, parseRetryHint } from './retry-hint.js';
export { LifelineError, RequestError, type LifelineErrorCode } from './errors.js';
export { describeHandshake, refusalHeaders, MAX_REPORTED_HEADER, type HandshakeContext, type HandshakeOutcome, type HandshakeVerdict, type RefusalHeaders } from './handshake.js';
export { backoffDelay, backoffWindow, type BackoffOptions } from './backoff.js';
export { defaultCloseAction, type CloseAction } from './close-policy.js';
export {
  ENVELOPE_TYPES,
  LIFELINE_JSON_PROTOCOL,
  LIFELINE_MSGPACK_PROTOCOL,
  LIFELINE_VERSION,
  MAX_HEARTBEAT_INTERVAL,
  MAX_REQUEST_ID,
  MAX_REQUEST_NAME_LENGTH,
  MAX_SEQ,
  MAX_SESSION_FIELD_LENGTH,
  RESET_REASONS,
  type AckEnvelope,
  type Envelope,
  type EnvelopeType,
  type ErrorEnvelope,
  type HelloEnvelope,
  type MessageEnvelope,
  type NewSessionHello,
  type Payload,
  type PingEnvelope,
  type PongEnvelope,
  type PresenceEnvelope,
  type PresenceMember,
  type PublicationEnvelope,
  type RequestEnvelope,
  type ResetReason,
  type ResponseEnvelope,
  type ResponseError,
  type ResponseOutcome,
  type ResumeHello,
  type SequencedEnvelope,
  type WelcomeEnvelope,
  type WelcomeLimits,
} from './envelope.js';
export { EnvelopeError, truncateUtf8, type EnvelopeCloseCode } from './envelope-error.js';
export { readEnvelope, validForEncoding, UINT8ARRAY_FIELD, type BinaryField } from './envelope-validation.js';
export {
  decodeEnvelope,
  decodeEnvelopeText,
  encodeEnvelope,
  BASE64_FIELD,
  binaryFormEnvelope,
  decodeBinaryEnvelope,
  encodeBinaryEnvelope,
  encodeBinaryHead,
  encodeMessageWhole,
} from './envelope-json.js';
export { decodeBase64, encodeBase64 } from './base64.js';
export {
  DEFAULT_DECODE_LIMITS,
  hasLoneSurrogateEscape,
  isUtf8,
  isWellFormed,
  jsonProblem,
  parseJsonWithin,
  resolveDecodeLimits,
  type BoundedParse,
  type BoundsCode,
  type BoundsProblem,
  type DecodeLimits,
} from './bounds.js';
export { ReplayBuffer, type ReplayBound, type ReplayBounds } from './replay-buffer.js';
export {
  ACK_DELAY_MS,
  ACK_EVERY,
  InboundSequence,
  type InboundSequenceOptions,
  type InboundVerdict,
} from './inbound-sequence.js';
export { isChannelName, isChannelPattern, isEpoch, MAX_CHANNEL_NAME_LENGTH, patternOf, type ChannelPosition } from './channels.js';
