/**
 * Structural bounds on values decoded from outside (PROTOCOL.md §2.1, docs/server.md
 * "Limits"): how deep arrays and objects nest, how many values they hold in all, how long
 * a key is; and the content rules every Lifeline value follows in both wire formats: no
 * `__proto__` key, no lone surrogate in a string.
 *
 * JSON.parse and the MessagePack decoder are iterative and take any depth; what breaks is
 * whatever walks the value afterwards (JSON.stringify, an encoder, application code), and
 * the memory and time a message of tiny items costs (a 1 MiB `[{},{},…]` is 350,000
 * objects). So the bounds are checked before parsing, over the text, and only where they
 * can be exceeded: a text shorter than `2 × (maxDepth + 1)` characters cannot nest deeper,
 * nor hold more items or a longer key than the defaults allow, so small messages pay two
 * `indexOf` calls and nothing else.
 */

/** The structural bounds. Every field is a positive integer. */
export interface DecodeLimits {
  /** Arrays and objects inside one another, at most; a scalar is depth 0, `[]` depth 1. Default 64. */
  readonly maxDepth: number;
  /** Values inside arrays and objects (every element and every member), in all, at most. Default 10,000. */
  readonly maxItems: number;
  /** Characters (UTF-16 code units) of one object key, at most. Default 1,024. */
  readonly maxKeyLength: number;
}

/** The defaults: deep and wide enough for any real message, shallow enough that nothing recursive overflows. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxDepth: 64, maxItems: 10_000, maxKeyLength: 1024 };

/** Which bound or rule a value broke: the code a refusal carries (an `error` body, a thrown LifelineError). */
export type BoundsCode = 'LL_TOO_DEEP' | 'LL_TOO_MANY_ITEMS' | 'LL_KEY_TOO_LONG' | 'LL_FORBIDDEN_KEY' | 'LL_LONE_SURROGATE';

/** A broken bound: which, and a sentence that names it and never quotes the data. */
export interface BoundsProblem {
  readonly code: BoundsCode;
  readonly reason: string;
}

const problem = (code: BoundsCode, reason: string): BoundsProblem => ({ code, reason });
export const tooDeepProblem = (max: number) => problem('LL_TOO_DEEP', `nests deeper than ${max} levels`);
export const tooManyProblem = (max: number) => problem('LL_TOO_MANY_ITEMS', `holds more than ${max} items`);
export const keyTooLongProblem = (max: number) => problem('LL_KEY_TOO_LONG', `has a key over ${max} characters`);
export const PROTO_KEY = problem('LL_FORBIDDEN_KEY', 'has a key __proto__');
export const LONE_SURROGATE = problem('LL_LONE_SURROGATE', 'has a lone surrogate');

/** Checks a set of limits given as options; returns the full set (defaults for what is missing). */
export function resolveDecodeLimits(value: Partial<DecodeLimits> | undefined, fail: (name: string, value: unknown) => never): DecodeLimits {
  if (value === undefined) return DEFAULT_DECODE_LIMITS;
  if (typeof value !== 'object' || value === null) return fail('limits', value);
  const pick = (name: keyof DecodeLimits): number => {
    const v = value[name];
    if (v === undefined) return DEFAULT_DECODE_LIMITS[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) return fail(`limits.${name}`, v);
    return v;
  };
  return { maxDepth: pick('maxDepth'), maxItems: pick('maxItems'), maxKeyLength: pick('maxKeyLength') };
}

// ---- JSON text -----------------------------------------------------------------------------

/**
 * What is wrong with a JSON text, or `undefined`: nesting deeper than `limits.maxDepth +
 * outer` (`outer` counts containers around the value, e.g. 1 for an envelope's fields),
 * more than `limits.maxItems` items, a key longer than `limits.maxKeyLength`, a key
 * `__proto__`, a lone surrogate escape. Without `limits`, only the content rules apply.
 * Text that is not JSON gets a result that does not matter: JSON.parse refuses it next.
 */
export function jsonProblem(text: string, limits: DecodeLimits | undefined, outer = 0): BoundsProblem | undefined {
  const escapes = text.includes('\\u');
  if (escapes && hasLoneSurrogateEscape(text)) return LONE_SURROGATE;
  // Below this length no bound can be broken: each level needs `[` and `]`, each item a
  // character and a comma, a key its quotes and colon. An escaped key may spell __proto__.
  if (
    (limits === undefined || text.length < Math.min(2 * (limits.maxDepth + outer + 1), 2 * limits.maxItems + 1, limits.maxKeyLength + 3)) &&
    !escapes &&
    !text.includes('__proto__')
  ) {
    return undefined;
  }
  return scanJson(text, limits ?? { maxDepth: Infinity, maxItems: Infinity, maxKeyLength: Infinity }, outer);
}

/** One pass over the text, strings skipped with indexOf: depth, items and keys. */
function scanJson(text: string, limits: DecodeLimits, outer: number): BoundsProblem | undefined {
  const maxDepth = limits.maxDepth + outer;
  const { maxItems, maxKeyLength } = limits;
  let depth = 0;
  let items = 0;
  let opened = false; // just after [ or {: the next value is the container's first item
  let keyStart = -1; // the last string's quotes: a key when a colon follows
  let keyEnd = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 32) continue; // whitespace (and control characters, which JSON.parse refuses)
    if (opened) {
      opened = false;
      if (c !== 93 && c !== 125 && ++items > maxItems) return tooManyProblem(maxItems);
    }
    if (c === 34) {
      // a string: its closing quote is the first one not escaped by an odd run of backslashes
      let j = i;
      do {
        j = text.indexOf('"', j + 1);
        if (j === -1) return undefined; // unterminated: not JSON
      } while (backslashesBefore(text, j) & 1);
      keyStart = i;
      keyEnd = i = j;
    } else if (c === 91 || c === 123) {
      if (++depth > maxDepth) return tooDeepProblem(limits.maxDepth);
      opened = true;
    } else if (c === 93 || c === 125) depth--;
    else if (c === 44) {
      if (++items > maxItems) return tooManyProblem(maxItems);
    } else if (c === 58 && keyEnd > 0) {
      const problem = keyProblem(text, keyStart, keyEnd, maxKeyLength);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

function backslashesBefore(text: string, at: number): number {
  let n = 0;
  while (text.charCodeAt(at - 1 - n) === 92) n++;
  return n;
}

function keyProblem(text: string, start: number, end: number, maxKey: number): BoundsProblem | undefined {
  const raw = end - start - 1;
  // Escapes only ever shorten a key: a short one is within bounds and cannot spell __proto__.
  if (raw < 9 && raw <= maxKey) return undefined;
  let key = text.slice(start + 1, end);
  if (key.includes('\\')) {
    try {
      key = JSON.parse(text.slice(start, end + 1)) as string;
    } catch {
      return undefined; // not JSON: JSON.parse says so next
    }
  }
  return key.length > maxKey ? keyTooLongProblem(maxKey) : key === '__proto__' ? PROTO_KEY : undefined;
}

const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * True when the text holds a `\uD800`–`\uDFFF` escape that is not half of a pair (a high
 * surrogate escape followed by a low one). Escapes only occur inside strings in JSON, and a
 * backslash that is itself escaped (`\\u…`) starts no escape.
 */
export function hasLoneSurrogateEscape(text: string): boolean {
  let pendingHighEnd = -1; // where a high surrogate escape ended, waiting for its low half
  for (let at = text.indexOf('\\u'); at !== -1; at = text.indexOf('\\u', at + 2)) {
    if (backslashesBefore(text, at) & 1) continue; // "\\u": an escaped backslash, then a u
    const hex = text.slice(at + 2, at + 6);
    if (!HEX4.test(hex)) continue; // not four hex digits: not JSON, which JSON.parse reports
    const unit = Number.parseInt(hex, 16);
    const high = unit >= 0xd800 && unit <= 0xdbff;
    const low = unit >= 0xdc00 && unit <= 0xdfff;
    if (pendingHighEnd !== -1 && (pendingHighEnd !== at || !low)) return true;
    if (low && pendingHighEnd !== at) return true;
    pendingHighEnd = high ? at + 6 : -1;
  }
  return pendingHighEnd !== -1;
}

/** The result of {@link parseJsonWithin}. */
export type BoundedParse = { ok: true; value: unknown } | { ok: false; problem: BoundsProblem | undefined; error?: unknown };

/**
 * JSON.parse within bounds: `{ ok: false, problem }` for a text over a bound or against a
 * content rule, `{ ok: false, problem: undefined, error }` for one that is not JSON.
 */
export function parseJsonWithin(text: string, limits: DecodeLimits | undefined, outer = 0): BoundedParse {
  const problem = jsonProblem(text, limits, outer);
  if (problem !== undefined) {
    // Report text that is not JSON as such, even when it also looked too deep.
    try {
      JSON.parse(text);
    } catch (error) {
      return { ok: false, problem: undefined, error };
    }
    return { ok: false, problem };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, problem: undefined, error };
  }
}

// ---- strings -------------------------------------------------------------------------------

const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
type WellFormed = { isWellFormed?: () => boolean };

/** A string without lone surrogates (String.prototype.isWellFormed where the engine has it). */
export function isWellFormed(s: string): boolean {
  const native = (s as unknown as WellFormed).isWellFormed;
  return native !== undefined ? native.call(s) : !LONE.test(s);
}

/**
 * Whether `bytes[start, end)` is valid UTF-8 (RFC 3629: shortest form, no surrogates, at
 * most U+10FFFF). ASCII runs cost one comparison a byte.
 */
export function isUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    if (b >= 0xc2 && b <= 0xdf) {
      if (i + 1 >= end || (bytes[i + 1]! & 0xc0) !== 0x80) return false;
      i += 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      if (i + 2 >= end) return false;
      const b1 = bytes[i + 1]!;
      if ((b1 & 0xc0) !== 0x80 || (bytes[i + 2]! & 0xc0) !== 0x80) return false;
      if (b === 0xe0 && b1 < 0xa0) return false; // overlong
      if (b === 0xed && b1 >= 0xa0) return false; // a surrogate
      i += 3;
    } else if (b >= 0xf0 && b <= 0xf4) {
      if (i + 3 >= end) return false;
      const b1 = bytes[i + 1]!;
      if ((b1 & 0xc0) !== 0x80 || (bytes[i + 2]! & 0xc0) !== 0x80 || (bytes[i + 3]! & 0xc0) !== 0x80) return false;
      if (b === 0xf0 && b1 < 0x90) return false; // overlong
      if (b === 0xf4 && b1 >= 0x90) return false; // above U+10FFFF
      i += 4;
    } else return false;
  }
  return true;
}
