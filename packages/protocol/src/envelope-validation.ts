import { isChannelName, isChannelPattern, isEpoch } from './channels.js';
import { isSendableCloseCode } from './close-codes.js';
import { EnvelopeError } from './envelope-error.js';
import { LifelineError } from './errors.js';
import {
  MAX_HEARTBEAT_INTERVAL,
  MAX_REQUEST_ID,
  MAX_REQUEST_NAME_LENGTH,
  RESET_REASONS,
  type AckEnvelope,
  type Envelope,
  type ErrorEnvelope,
  type HelloEnvelope,
  type MessageEnvelope,
  type PingEnvelope,
  type PongEnvelope,
  type PresenceEnvelope,
  type PresenceMember,
  type PublicationEnvelope,
  type RequestEnvelope,
  type ResetReason,
  type ResponseEnvelope,
  type ResponseError,
  type WelcomeEnvelope,
  type WelcomeLimits,
} from './envelope.js';

/**
 * How one wire mode carries `b`: JSON mode as a base64 string, MessagePack mode as a byte
 * string, and an application handing an envelope to an encoder as a Uint8Array.
 */
export interface BinaryField {
  /** The bytes `value` stands for, or `undefined` when it is not a binary payload here. */
  read(value: unknown): Uint8Array | undefined;
  /** What a binary payload must look like here, for error reasons: "must be …". */
  readonly expected: string;
}

/** `b` as applications hold it and as MessagePack decodes it: a Uint8Array. */
export const UINT8ARRAY_FIELD: BinaryField = {
  read: (value) => (value instanceof Uint8Array ? value : undefined),
  expected: 'a byte array',
};

/**
 * The one place that decides whether a decoded value is an envelope (PROTOCOL.md §2.1),
 * shared by the JSON and MessagePack codecs and by both encoders. Returns a fresh object
 * with the known fields only, in wire order, optional ones present only when set; unknown
 * fields are dropped (they are ignored, so that later versions can add some). Does not
 * look inside `d`. Throws {@link EnvelopeError} with close code 1002 and a reason that
 * names the field.
 */
export function readEnvelope(value: unknown, binary: BinaryField): Envelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    return fail('envelope: must be an object (a JSON object or a MessagePack map)');
  }
  const o = value as Record<string, unknown>;
  const t = o.t;
  switch (t) {
    case 'm':
      return readMessage(o, binary);
    case 'a':
      return { t, a: ack(o.a, 'a.a') } satisfies AckEnvelope;
    case 'q':
      return readRequest(o, binary);
    case 'r':
      return readResponse(o, binary);
    case 'hello':
      return readHello(o);
    case 'welcome':
      return readWelcome(o);
    case 'ping': {
      const ts = finite(o.ts, 'ping.ts');
      if (o.rtt === undefined) return { t, ts } satisfies PingEnvelope;
      const rtt = o.rtt;
      if (typeof rtt !== 'number' || !Number.isFinite(rtt) || rtt < 0) return fail('ping.rtt: must be a finite number >= 0');
      return { t, ts, rtt } satisfies PingEnvelope;
    }
    case 'pong':
      return { t, ts: finite(o.ts, 'pong.ts') } satisfies PongEnvelope;
    case 'error': {
      const code = o.code;
      if (typeof code !== 'number' || !isSendableCloseCode(code)) return fail('error.code: must be a close code a frame can carry (1000-4999)');
      if (typeof o.message !== 'string') return fail('error.message: must be a string');
      return { t, code, message: o.message } satisfies ErrorEnvelope;
    }
    case 'p':
      return readPublication(o, binary);
    case 'pr':
      return readPresence(o);
    default:
      return fail(t === undefined ? 't: missing' : typeof t === 'string' ? `t: unknown envelope type${quoted(t)}` : 't: must be a string');
  }
}

/**
 * Checks an envelope an application built, with the decoders' own rules, and returns its
 * validated copy; a failure becomes `LL_ENCODE_FAILED`, because the fault is ours, not the
 * peer's. Used by both encoders.
 */
export function validForEncoding(envelope: Envelope, binary: BinaryField): Envelope {
  try {
    return readEnvelope(envelope, binary);
  } catch (error) {
    if (!(error instanceof EnvelopeError)) throw error;
    throw new LifelineError('LL_ENCODE_FAILED', `Cannot encode this envelope: ${error.reason}`, { cause: error });
  }
}

function readMessage(o: Record<string, unknown>, binary: BinaryField): MessageEnvelope {
  const s = seq(o.s, 'm.s');
  const a = o.a === undefined ? undefined : ack(o.a, 'm.a');
  const d = o.d;
  if (o.b === undefined) {
    if (d === undefined) return fail('m: needs d or b');
    return a === undefined ? { t: 'm', s, d } : { t: 'm', s, a, d };
  }
  if (d !== undefined) return fail('m: has both d and b; exactly one is allowed');
  const b = bytes(o.b, 'm.b', binary);
  return a === undefined ? { t: 'm', s, b } : { t: 'm', s, a, b };
}

function readRequest(o: Record<string, unknown>, binary: BinaryField): RequestEnvelope {
  const s = seq(o.s, 'q.s');
  const a = o.a === undefined ? undefined : ack(o.a, 'q.a');
  const id = requestId(o.id, 'q.id');
  const n = o.n;
  if (!isRequestName(n)) return fail(`q.n: must be a string of 1 to ${MAX_REQUEST_NAME_LENGTH} characters`);
  const d = o.d;
  const head = a === undefined ? { t: 'q' as const, s, id, n } : { t: 'q' as const, s, a, id, n };
  if (o.b === undefined) {
    if (d === undefined) return fail('q: needs d or b');
    return { ...head, d };
  }
  if (d !== undefined) return fail('q: has both d and b; exactly one is allowed');
  return { ...head, b: bytes(o.b, 'q.b', binary) };
}

function readResponse(o: Record<string, unknown>, binary: BinaryField): ResponseEnvelope {
  const s = seq(o.s, 'r.s');
  const a = o.a === undefined ? undefined : ack(o.a, 'r.a');
  const id = requestId(o.id, 'r.id');
  const head = a === undefined ? { t: 'r' as const, s, id } : { t: 'r' as const, s, a, id };
  const { d, b, e } = o;
  const present = (d !== undefined ? 1 : 0) + (b !== undefined ? 1 : 0) + (e !== undefined ? 1 : 0);
  if (present !== 1) return fail(present === 0 ? 'r: needs d, b or e' : 'r: has more than one of d, b and e; exactly one is allowed');
  if (d !== undefined) return { ...head, d };
  if (b !== undefined) return { ...head, b: bytes(b, 'r.b', binary) };
  return { ...head, e: responseError(e) };
}

function responseError(e: unknown): ResponseError {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return fail('r.e: must be an object {code, message}');
  const { code, message } = e as Record<string, unknown>;
  if (typeof code !== 'string' || code === '') return fail('r.e.code: must be a non-empty string');
  if (typeof message !== 'string') return fail('r.e.message: must be a string');
  return { code, message };
}

function readHello(o: Record<string, unknown>): HelloEnvelope {
  if (o.v !== 1) return fail('hello.v: must be 1, the only version spoken here');
  const { sid, tok, rx, auth, bin } = o;
  // An access token (PROTOCOL.md §4): a non-empty string; the reason never quotes it.
  if (auth !== undefined && (typeof auth !== 'string' || auth === '')) return fail('hello.auth: must be a non-empty string');
  // PROTOCOL.md §2.8: true asks for the binary form; false and absent mean the same.
  if (bin !== undefined && typeof bin !== 'boolean') return fail('hello.bin: must be a boolean');
  const token = auth === undefined ? (bin === true ? { bin } : {}) : bin === true ? { auth, bin } : { auth };
  if (sid === undefined && tok === undefined && rx === undefined) return { t: 'hello', v: 1, ...token };
  if (sid === undefined || tok === undefined || rx === undefined) return fail('hello: sid, tok and rx come together or not at all');
  return { t: 'hello', v: 1, sid: sessionField(sid, 'hello.sid'), tok: sessionField(tok, 'hello.tok'), rx: ack(rx, 'hello.rx'), ...token };
}

function readWelcome(o: Record<string, unknown>): WelcomeEnvelope {
  const sid = sessionField(o.sid, 'welcome.sid');
  const tok = sessionField(o.tok, 'welcome.tok');
  const rx = ack(o.rx, 'welcome.rx');
  const resumed = o.resumed;
  if (typeof resumed !== 'boolean') return fail('welcome.resumed: must be a boolean');
  const hb = o.hb;
  if (typeof hb !== 'number' || !Number.isInteger(hb) || hb < 1 || hb > MAX_HEARTBEAT_INTERVAL) {
    return fail('welcome.hb: must be an integer from 1 to 2^31-1 (ms)');
  }
  // PROTOCOL.md §2.5: true when the server answers the client's `ping`; false and absent mean the same.
  const probe = o.probe;
  if (probe !== undefined && typeof probe !== 'boolean') return fail('welcome.probe: must be a boolean');
  // PROTOCOL.md §2.8: true agrees to the binary form the hello asked for; false and absent mean the same.
  const bin = o.bin;
  if (bin !== undefined && typeof bin !== 'boolean') return fail('welcome.bin: must be a boolean');
  const probes = probe === true ? (bin === true ? { probe, bin } : { probe }) : bin === true ? { bin } : {};
  const max = o.max === undefined ? {} : { max: welcomeLimits(o.max) };
  if (resumed) {
    if (o.reset !== undefined) return fail('welcome.reset: only allowed with resumed: false');
    return { t: 'welcome', sid, tok, rx, resumed, hb, ...probes, ...max };
  }
  if (o.reset === undefined) return { t: 'welcome', sid, tok, rx, resumed, hb, ...probes, ...max };
  const reset = o.reset;
  if (typeof reset !== 'object' || reset === null || Array.isArray(reset)) return fail('welcome.reset: must be an object {reason}');
  const reason = (reset as Record<string, unknown>).reason;
  if (!RESET_REASONS.includes(reason as ResetReason)) {
    return fail('welcome.reset.reason: must be expired, unknown-session, bad-token or overflow');
  }
  return { t: 'welcome', sid, tok, rx, resumed, hb, ...probes, ...max, reset: { reason: reason as ResetReason } };
}

/** `welcome.max`: an object whose `size`, `depth`, `items` and `key` are integers from 1 to 2^53-1. */
function welcomeLimits(value: unknown): WelcomeLimits {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('welcome.max: must be an object {size, depth, items, key}');
  const o = value as Record<string, unknown>;
  return { size: seq(o.size, 'welcome.max.size'), depth: seq(o.depth, 'welcome.max.depth'), items: seq(o.items, 'welcome.max.items'), key: seq(o.key, 'welcome.max.key') };
}

function readPublication(o: Record<string, unknown>, binary: BinaryField): PublicationEnvelope {
  const ch = channel(o.ch, 'p.ch');
  if (isChannelPattern(ch)) return fail('p.ch: must be a channel, not a pattern');
  const offset = seq(o.o, 'p.o');
  if (!isEpoch(o.ep)) return fail(o.ep === undefined ? 'p.ep: missing' : 'p.ep: must be 1 to 64 base64url characters');
  const head = { t: 'p', ch, o: offset, ep: o.ep } as const;
  if (o.b !== undefined) {
    if (o.d !== undefined) return fail('p: has both d and b');
    return { ...head, b: bytes(o.b, 'p.b', binary) };
  }
  if (o.d === undefined) return fail('p: needs d or b');
  return { ...head, d: o.d };
}

function readPresence(o: Record<string, unknown>): PresenceEnvelope {
  const ch = channel(o.ch, 'pr.ch');
  const count = ack(o.count, 'pr.count');
  const { join, leave } = o;
  if (!Array.isArray(join)) return fail('pr.join: must be an array of members');
  if (!Array.isArray(leave) || !leave.every((id) => typeof id === 'string')) return fail('pr.leave: must be an array of member ids');
  const members = join.map((m): PresenceMember => {
    if (typeof m !== 'object' || m === null || Array.isArray(m) || typeof (m as { id?: unknown }).id !== 'string') {
      return fail('pr.join: each member must be an object with a string id');
    }
    const { id, info } = m as { id: string; info?: unknown };
    return info === undefined ? { id } : { id, info };
  });
  return { t: 'pr', ch, count, join: members, leave: leave as string[] };
}

function channel(value: unknown, field: string): string {
  if (isChannelName(value)) return value;
  return fail(value === undefined ? `${field}: missing` : `${field}: must be a channel name (PROTOCOL.md §3.1)`);
}

function fail(reason: string): never {
  throw new EnvelopeError(1002, reason);
}

/** A sequence number: an integer from 1 to 2^53 − 1. */
function seq(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1) return value;
  return fail(value === undefined ? `${field}: missing` : `${field}: must be an integer from 1 to 2^53-1`);
}

/** An acknowledgement or `rx`: an integer from 0 to 2^53 − 1. */
function ack(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  return fail(value === undefined ? `${field}: missing` : `${field}: must be an integer from 0 to 2^53-1`);
}

function requestId(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_REQUEST_ID) return value;
  return fail(value === undefined ? `${field}: missing` : `${field}: must be an integer from 1 to 2^31-1`);
}

function finite(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  return fail(value === undefined ? `${field}: missing` : `${field}: must be a finite number`);
}

function bytes(value: unknown, field: string, binary: BinaryField): Uint8Array {
  return binary.read(value) ?? fail(`${field}: must be ${binary.expected}`);
}

const SESSION_FIELD = /^[A-Za-z0-9_-]{1,128}$/;

function sessionField(value: unknown, field: string): string {
  if (typeof value === 'string' && SESSION_FIELD.test(value)) return value;
  return fail(value === undefined ? `${field}: missing` : `${field}: must be 1 to 128 base64url characters`);
}

/** 1 to 128 Unicode code points (a surrogate pair is one). */
function isRequestName(n: unknown): n is string {
  if (typeof n !== 'string' || n.length === 0) return false;
  if (n.length <= MAX_REQUEST_NAME_LENGTH) return true;
  if (n.length > 2 * MAX_REQUEST_NAME_LENGTH) return false;
  let points = 0;
  for (let i = 0; i < n.length; i++, points++) {
    const c = n.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && (n.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
  }
  return points <= MAX_REQUEST_NAME_LENGTH;
}

/** ` "t"` for a short printable ASCII value, so that a reason may name it; otherwise nothing. */
function quoted(value: string): string {
  return /^[\x21-\x7e]{1,24}$/.test(value) && !value.includes('"') ? ` "${value}"` : '';
}
