/**
 * What PROTOCOL.md §2.1 and §3.2 say a server may put on the wire, as a validator the kit
 * runs on every envelope it receives. Each finding names the rule it breaks.
 */
import { ExtData } from '@msgpack/msgpack';
import { bytesOf, type Codec, type Envelope } from './codec.js';

export const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 − 1
export const MAX_ID = 2 ** 31 - 1;

/** §2.1: "integer" is a number with an integral value (1.0 is 1); a fraction, NaN or an infinity never is. */
export const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** §2.1 `sid`, `tok`: 1–128 characters of the base64url alphabet, no padding. */
export const isB64url = (v: unknown, max = 128): v is string => typeof v === 'string' && v.length >= 1 && v.length <= max && /^[A-Za-z0-9_-]+$/.test(v);

/** §2.1 `n`: 1–128 Unicode code points, a surrogate pair counting as one. */
export const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && [...v].length <= 128;

/** §3.1: 1–255 characters of `A–Z a–z 0–9 _ - : . @ / = +`. */
export const isChannelName = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9_\-:.@/=+]{1,255}$/.test(v);

/** §2.1 `welcome.max`: what the server accepts from the client. */
export const MAX_BOUNDS = ['size', 'depth', 'items', 'key'] as const;

export const RESET_REASONS = ['expired', 'unknown-session', 'bad-token', 'overflow'] as const;

const has = (env: Envelope, field: string) => Object.prototype.hasOwnProperty.call(env, field);

/** MessagePack mode: a `d` may not hold extension values (the timestamp extension included), §2.1. */
function extensionInside(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v instanceof ExtData || v instanceof Date) return true;
    if (v instanceof Uint8Array || v === null || typeof v !== 'object') continue;
    for (const item of Array.isArray(v) ? v : Object.values(v)) stack.push(item);
  }
  return false;
}

/** One payload: exactly one of `d` and `b` (and, for `r`, `e`). */
function payload(codec: Codec, env: Envelope, t: string, allowE: boolean): string | undefined {
  const present = ['d', 'b', ...(allowE ? ['e'] : [])].filter((f) => has(env, f));
  if (present.length !== 1) return `${t}: exactly one of ${allowE ? 'd, b and e' : 'd and b'} must be present, found ${present.length ? present.join(', ') : 'none'} (§2.1)`;
  if (present[0] === 'b' && bytesOf(codec, env['b']) === undefined) {
    return `${t}.b: ${codec === 'json' ? 'not canonical standard base64' : 'not a byte string'} (§2.1)`;
  }
  if (present[0] === 'd' && codec === 'msgpack' && extensionInside(env['d'])) return `${t}.d: holds a MessagePack extension type (§2.1)`;
  if (present[0] === 'e') {
    const e = env['e'] as { code?: unknown; message?: unknown } | null;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) return 'r.e: not an object (§2.1)';
    if (typeof e.code !== 'string' || e.code.length === 0) return 'r.e.code: must be a non-empty string (§2.1 R6)';
    if (typeof e.message !== 'string') return 'r.e.message: must be a string (§2.1)';
  }
  return undefined;
}

/** A UTF-16 string holding a lone surrogate: not Unicode text (§2.1). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * §2.1 "values are the same in both modes, and some are refused in both (either side
 * receiving them closes with 1007, and no encoder writes them)": a key `__proto__` in any
 * object or map, or a string (value or key) that is not Unicode text. In MessagePack mode the
 * kit's reader refuses a `__proto__` key while decoding and turns an encoded surrogate into a
 * lone one, which this finds; other bytes that are not UTF-8 it reads leniently and cannot see.
 */
function refusedValue(env: Envelope): string | undefined {
  const stack: unknown[] = [env];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return 'a string with a lone surrogate: not Unicode text (§2.1: 1007)';
      continue;
    }
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array || v instanceof ExtData || v instanceof Date) continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    for (const [key, item] of Object.entries(v)) {
      if (key === '__proto__') return 'a key __proto__ (§2.1: 1007)';
      if (LONE_SURROGATE.test(key)) return 'a key with a lone surrogate: not Unicode text (§2.1: 1007)';
      stack.push(item);
    }
  }
  return undefined;
}

/**
 * The first way `env` breaks §2.1/§3.2 as an envelope from a server, or undefined. Unknown
 * fields are allowed (§2.1 R2); only the fields of its `t` are judged, and every value in it
 * against §2.1's refused values.
 */
export function serverEnvelopeProblem(codec: Codec, env: Envelope): string | undefined {
  const t = env['t'];
  if (typeof t !== 'string') return 't: missing or not a string (§2.1 R1)';
  const value = refusedValue(env);
  if (value) return `${t}: ${value}`;
  const seq = () => (isInt(env['s'], 1, MAX_SAFE) ? undefined : `${t}.s: must be an integer from 1 to 2^53-1 (§2.1)`);
  const ack = () => (!has(env, 'a') || isInt(env['a'], 0, MAX_SAFE) ? undefined : `${t}.a: must be an integer from 0 to 2^53-1 (§2.1)`);
  const noSeq = () => (has(env, 's') ? `${t}: carries an s, but only m, q and r are numbered (§2.1 R3)` : undefined);
  switch (t) {
    case 'welcome': {
      if (!isB64url(env['sid'])) return 'welcome.sid: must be 1-128 base64url characters (§2.1)';
      if (!isB64url(env['tok'])) return 'welcome.tok: must be 1-128 base64url characters (§2.1)';
      if (!isInt(env['rx'], 0, MAX_SAFE)) return 'welcome.rx: must be an integer from 0 to 2^53-1 (§2.1)';
      if (typeof env['resumed'] !== 'boolean') return 'welcome.resumed: must be a boolean (§2.1)';
      if (!isInt(env['hb'], 1, MAX_ID)) return 'welcome.hb: must be an integer from 1 to 2^31-1 (§2.1)';
      if (has(env, 'probe') && typeof env['probe'] !== 'boolean') return 'welcome.probe: must be a boolean (§2.1)';
      if (has(env, 'max')) {
        const max = env['max'] as Record<string, unknown> | null;
        if (max === null || typeof max !== 'object' || Array.isArray(max)) return 'welcome.max: must be an object (§2.1)';
        for (const bound of MAX_BOUNDS) {
          if (!isInt(max[bound], 1, MAX_SAFE)) return `welcome.max.${bound}: must be an integer from 1 to 2^53-1 (§2.1)`;
        }
      }
      if (has(env, 'reset')) {
        if (env['resumed'] !== false) return 'welcome.reset: present only with resumed: false (§2.1)';
        const reset = env['reset'] as { reason?: unknown } | null;
        if (reset === null || typeof reset !== 'object' || !RESET_REASONS.includes(reset.reason as never)) {
          return `welcome.reset: must be {reason} with one of ${RESET_REASONS.join(', ')} (§2.1, §2.4)`;
        }
      }
      return noSeq();
    }
    case 'm':
      return seq() ?? ack() ?? payload(codec, env, t, false);
    case 'q':
      if (!isInt(env['id'], 1, MAX_ID)) return 'q.id: must be an integer from 1 to 2^31-1 (§2.1)';
      if (!isName(env['n'])) return 'q.n: must be a string of 1-128 code points (§2.1)';
      return seq() ?? ack() ?? payload(codec, env, t, false);
    case 'r':
      if (!isInt(env['id'], 1, MAX_ID)) return 'r.id: must be an integer from 1 to 2^31-1 (§2.1)';
      return seq() ?? ack() ?? payload(codec, env, t, true);
    case 'a':
      if (!isInt(env['a'], 0, MAX_SAFE)) return 'a.a: must be an integer from 0 to 2^53-1 (§2.1)';
      return noSeq();
    case 'ping':
      if (typeof env['ts'] !== 'number' || !Number.isFinite(env['ts'])) return 'ping.ts: must be a finite number (§2.1)';
      if (has(env, 'rtt') && (typeof env['rtt'] !== 'number' || !Number.isFinite(env['rtt']) || env['rtt'] < 0)) return 'ping.rtt: must be a finite number >= 0 (§2.1)';
      return noSeq();
    case 'pong':
      if (typeof env['ts'] !== 'number' || !Number.isFinite(env['ts'])) return 'pong.ts: must be a finite number (§2.1)';
      return noSeq();
    case 'error':
      if (!isInt(env['code'], 1000, 4999)) return 'error.code: must be an integer close code (§2.1)';
      if (typeof env['message'] !== 'string') return 'error.message: must be a string (§2.1)';
      return noSeq();
    case 'p': {
      if (!isChannelName(env['ch'])) return 'p.ch: not a channel name (§3.1)';
      if (!isInt(env['o'], 1, MAX_SAFE)) return 'p.o: must be an integer from 1 to 2^53-1 (§3.2)';
      if (!isB64url(env['ep'], 64)) return 'p.ep: must be 1-64 base64url characters (§3.2)';
      return noSeq() ?? payload(codec, env, t, false);
    }
    case 'pr': {
      if (!isChannelName(env['ch'])) return 'pr.ch: not a channel name (§3.1)';
      if (!isInt(env['count'], 0, MAX_SAFE)) return 'pr.count: must be an integer >= 0 (§3.2)';
      const join = env['join'];
      const leave = env['leave'];
      if (!Array.isArray(join) || !join.every((m) => m !== null && typeof m === 'object' && typeof (m as { id?: unknown }).id === 'string')) return 'pr.join: must be an array of members {id, info?} (§3.2)';
      if (!Array.isArray(leave) || !leave.every((id) => typeof id === 'string')) return 'pr.leave: must be an array of member ids (§3.2)';
      return noSeq();
    }
    case 'hello':
      return 'hello: sent by a server, but only a client sends it (§2.6: 1008)';
    default:
      return `unknown t ${JSON.stringify(t).slice(0, 40)} (§2.1: 1002)`;
  }
}

/** A close reason as the error envelope's message becomes one: at most 123 bytes of UTF-8 (§2.6). */
export function asCloseReason(message: string): string {
  const bytes = Buffer.from(message, 'utf8');
  if (bytes.length <= 123) return message;
  // Cut at 123 bytes without splitting a character.
  let end = 123;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
