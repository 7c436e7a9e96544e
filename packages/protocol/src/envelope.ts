/**
 * The envelopes of Lifeline mode (PROTOCOL.md §2.1): every WebSocket message in that mode
 * is exactly one of these, told apart by `t`. Field names are short because they are on
 * every message. Optional fields are absent, never `undefined`-valued, in what a decoder
 * returns.
 *
 * The codecs live beside this file: `envelope-json.ts` (subprotocol `lifeline.v1`) and
 * `msgpack.ts` (`lifeline.v1.msgpack`, the separate entry `@lifeline/protocol/msgpack`),
 * both validating through `envelope-validation.ts`.
 */

/** Subprotocol of Lifeline mode with JSON text frames. */
export const LIFELINE_JSON_PROTOCOL = 'lifeline.v1';
/** Subprotocol of Lifeline mode with MessagePack binary frames. */
export const LIFELINE_MSGPACK_PROTOCOL = 'lifeline.v1.msgpack';
/** The protocol version a `hello` carries in `v`. */
export const LIFELINE_VERSION = 1;

/** Largest sequence number, acknowledgement and `rx`: 2^53 − 1, exact in every JSON and MessagePack reader. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;
/** Largest request id: 2^31 − 1. A sender that reaches it starts again at 1 (ids are unique only among requests in flight). */
export const MAX_REQUEST_ID = 0x7fff_ffff;
/** Longest request name `n`, in Unicode code points. */
export const MAX_REQUEST_NAME_LENGTH = 128;
/** Longest `sid` and `tok`, in characters of the base64url alphabet (`A–Z a–z 0–9 - _`). */
export const MAX_SESSION_FIELD_LENGTH = 128;
/** Largest `hb`, in ms: 2^31 − 1, the longest delay a JavaScript timer accepts. */
export const MAX_HEARTBEAT_INTERVAL = 0x7fff_ffff;

/** Why a resume request got a new session instead (PROTOCOL.md §2.4). */
export type ResetReason = 'expired' | 'unknown-session' | 'bad-token' | 'overflow';
/** Every {@link ResetReason}, in the order PROTOCOL.md lists them. */
export const RESET_REASONS: readonly ResetReason[] = ['expired', 'unknown-session', 'bad-token', 'overflow'];

/** A payload: a JSON value in `d`, or bytes in `b`; exactly one of the two. */
export type Payload =
  | { readonly d: unknown; readonly b?: undefined }
  | { readonly b: Uint8Array; readonly d?: undefined };

/** A request that failed, as carried in `r.e`. */
export interface ResponseError {
  readonly code: string;
  readonly message: string;
}

/** The outcome a response carries: a JSON value, bytes, or an error; exactly one. */
export type ResponseOutcome =
  | { readonly d: unknown; readonly b?: undefined; readonly e?: undefined }
  | { readonly b: Uint8Array; readonly d?: undefined; readonly e?: undefined }
  | { readonly e: ResponseError; readonly d?: undefined; readonly b?: undefined };

/** Client → server, first on every connection: start a new session. */
export interface NewSessionHello {
  readonly t: 'hello';
  readonly v: 1;
  readonly sid?: undefined;
  readonly tok?: undefined;
  readonly rx?: undefined;
  /** An access token for a route with authentication (PROTOCOL.md §4); never logged. */
  readonly auth?: string;
  /** JSON mode: the client accepts binary-form envelopes (PROTOCOL.md §2.8); absent means it does not. */
  readonly bin?: boolean;
}

/** Client → server, first on every connection: resume `sid`, having received up to `rx`. */
export interface ResumeHello {
  readonly t: 'hello';
  readonly v: 1;
  readonly sid: string;
  readonly tok: string;
  /** The last sequence number the client received from the server. */
  readonly rx: number;
  /** An access token for a route with authentication (PROTOCOL.md §4); never logged. */
  readonly auth?: string;
  /** JSON mode: the client accepts binary-form envelopes (PROTOCOL.md §2.8); absent means it does not. */
  readonly bin?: boolean;
}

/** `sid`, `tok` and `rx` come together or not at all. */
export type HelloEnvelope = NewSessionHello | ResumeHello;

/**
 * What the server accepts (PROTOCOL.md §2.1, `welcome.max`): the largest message in bytes,
 * and the structural bounds of a message's values. A client refuses to send more
 * (`LL_TOO_LARGE`) instead of numbering something the server would close the connection for.
 */
export interface WelcomeLimits {
  /** Bytes of one message (a frame's payload), at most. */
  readonly size: number;
  /** Levels of arrays and objects inside the envelope's fields, at most. */
  readonly depth: number;
  /** Values inside arrays and objects in one message (the envelope's own fields included), at most. */
  readonly items: number;
  /** Characters of one object key, at most. */
  readonly key: number;
}

interface WelcomeFields {
  readonly t: 'welcome';
  readonly sid: string;
  readonly tok: string;
  /** The last sequence number the server received from the client. */
  readonly rx: number;
  /** The server's heartbeat interval, in ms: it pings a link silent for about this long (PROTOCOL.md §2.5). */
  readonly hb: number;
  /** The server answers the client's `ping` with a `pong` at once (PROTOCOL.md §2.5); absent means it does not. */
  readonly probe?: boolean;
  /** JSON mode: the server agrees to binary-form envelopes, which the hello asked for (PROTOCOL.md §2.8); absent means it does not. */
  readonly bin?: boolean;
  /** What the server accepts; absent from a server that does not say (then nothing is known). */
  readonly max?: WelcomeLimits;
}

/** Server → client: the session this connection carries. A `reset` only comes with `resumed: false`. */
export type WelcomeEnvelope = WelcomeFields &
  (
    | { readonly resumed: true; readonly reset?: undefined }
    | { readonly resumed: false; readonly reset?: { readonly reason: ResetReason } }
  );

interface Sequenced {
  /** Sequence number, per session and direction, from 1 without gaps. */
  readonly s: number;
  /** Cumulative acknowledgement riding along: every envelope up to `a` was received. */
  readonly a?: number;
}

/** Both ways: an application message. */
export type MessageEnvelope = { readonly t: 'm' } & Sequenced & Payload;

/** Both ways: a request named `n`, answered by an `r` with the same `id`. */
export type RequestEnvelope = { readonly t: 'q'; readonly id: number; readonly n: string } & Sequenced & Payload;

/** Both ways: the response to request `id`. */
export type ResponseEnvelope = { readonly t: 'r'; readonly id: number } & Sequenced & ResponseOutcome;

/** Both ways: an acknowledgement alone. */
export interface AckEnvelope {
  readonly t: 'a';
  readonly a: number;
}

/**
 * A liveness probe (PROTOCOL.md §2.5): from the server, with its clock and the last round trip
 * it measured; from a client (to a server whose welcome said `probe: true`), with the
 * client's clock, answered at once.
 */
export interface PingEnvelope {
  readonly t: 'ping';
  readonly ts: number;
  readonly rtt?: number;
}

/** The answer to a `ping`, from the other side, echoing its `ts` (numerically equal). */
export interface PongEnvelope {
  readonly t: 'pong';
  readonly ts: number;
}

/** Server → client, just before it closes: the close code it is about to use and why. */
export interface ErrorEnvelope {
  readonly t: 'error';
  readonly code: number;
  readonly message: string;
}

/** A presence member (PROTOCOL.md §3.2): who, and what the server attached to them. */
export interface PresenceMember {
  readonly id: string;
  readonly info?: unknown;
}

/** Server → client: a publication on channel `ch`, at offset `o` of epoch `ep` (PROTOCOL.md §3). Not sequenced. */
export type PublicationEnvelope = { readonly t: 'p'; readonly ch: string; readonly o: number; readonly ep: string } & Payload;

/**
 * Server → client: how many are present on channel `ch`, and who joined and who left since
 * the last one (both lists empty when the channel has more members than the server lists).
 * Not sequenced.
 */
export interface PresenceEnvelope {
  readonly t: 'pr';
  readonly ch: string;
  readonly count: number;
  readonly join: readonly PresenceMember[];
  readonly leave: readonly string[];
}

export type Envelope =
  | HelloEnvelope
  | WelcomeEnvelope
  | MessageEnvelope
  | RequestEnvelope
  | ResponseEnvelope
  | AckEnvelope
  | PingEnvelope
  | PongEnvelope
  | ErrorEnvelope
  | PublicationEnvelope
  | PresenceEnvelope;

/** The envelopes that carry a sequence number, kept in replay buffers until acknowledged. */
export type SequencedEnvelope = MessageEnvelope | RequestEnvelope | ResponseEnvelope;

export type EnvelopeType = Envelope['t'];

/** Every {@link EnvelopeType}. */
export const ENVELOPE_TYPES: readonly EnvelopeType[] = ['hello', 'welcome', 'm', 'q', 'r', 'a', 'ping', 'pong', 'error', 'p', 'pr'];
