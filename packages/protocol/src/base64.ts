/**
 * Base64 with the standard alphabet and `=` padding (RFC 4648 §4), for `b` payloads in
 * JSON mode. Written out here because it runs in browsers too, where there is no
 * `Buffer`, and `atob` accepts more than RFC 4648 allows. Small on purpose: it ships in
 * the browser bundle.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const INVALID = 64;
let codes: Uint8Array | undefined; // 6-bit value → ASCII code
let values: Uint8Array | undefined; // ASCII code → 6-bit value, or INVALID
let ascii: { decode(bytes: Uint8Array): string } | undefined;

/** Base64 of `bytes`, padded with `=` to a multiple of 4 characters. */
export function encodeBase64(bytes: Uint8Array): string {
  // ASCII codes into a byte array, then one TextDecoder call: faster than string
  // concatenation at every size (5x at 64 KiB) and free of argument-count limits.
  const table = (codes ??= Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0)));
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil(n / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const x = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = table[x >>> 18]!;
    out[o++] = table[(x >>> 12) & 63]!;
    out[o++] = table[(x >>> 6) & 63]!;
    out[o++] = table[x & 63]!;
  }
  if (i < n) {
    const two = i + 1 < n;
    const x = (bytes[i]! << 16) | (two ? bytes[i + 1]! << 8 : 0);
    out[o++] = table[x >>> 18]!;
    out[o++] = table[(x >>> 12) & 63]!;
    out[o++] = two ? table[(x >>> 6) & 63]! : 61; // '='
    out[o] = 61;
  }
  return (ascii ??= new TextDecoder()).decode(out);
}

/**
 * The bytes `text` encodes, or `undefined` when it is not canonical base64: characters
 * outside the alphabet (whitespace included), a length that is not a multiple of 4,
 * padding anywhere but at the end, or non-zero bits left over before the padding. Only
 * the output of {@link encodeBase64} passes, so decoding and re-encoding is the identity.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  const n = text.length;
  if (n % 4 !== 0) return undefined;
  const table = (values ??= buildTable());
  const value = (i: number): number => {
    const c = text.charCodeAt(i);
    return c < 128 ? table[c]! : INVALID;
  };
  const pad = n === 0 || text.charCodeAt(n - 1) !== 61 ? 0 : text.charCodeAt(n - 2) === 61 ? 2 : 1;
  const out = new Uint8Array((n / 4) * 3 - pad);
  const full = pad === 0 ? n : n - 4;
  let o = 0;
  for (let i = 0; i < full; i += 4) {
    const a = value(i);
    const b = value(i + 1);
    const c = value(i + 2);
    const d = value(i + 3);
    if ((a | b | c | d) & INVALID) return undefined;
    const x = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = x >>> 16;
    out[o++] = (x >>> 8) & 255;
    out[o++] = x & 255;
  }
  if (pad !== 0) {
    const a = value(full);
    const b = value(full + 1);
    const c = pad === 1 ? value(full + 2) : 0;
    // The bits after the last whole byte must be zero: 4 of them before `==`, 2 before `=`.
    if ((a | b | c) & INVALID || (pad === 2 ? b & 15 : c & 3) !== 0) return undefined;
    const x = (a << 18) | (b << 12) | (c << 6);
    out[o++] = x >>> 16;
    if (pad === 1) out[o] = (x >>> 8) & 255;
  }
  return out;
}

function buildTable(): Uint8Array {
  const table = new Uint8Array(128).fill(INVALID);
  for (let i = 0; i < 64; i++) table[ALPHABET.charCodeAt(i)] = i;
  return table;
}
