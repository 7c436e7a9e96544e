/**
 * The two checks that read every byte of a large JSON-mode payload (message-bytes.ts): is a
 * string literal free of quotes, backslashes and control characters (and is it ASCII), and
 * is a `b` only base64's alphabet. JavaScript reads a Buffer a byte (or four) at a time;
 * these run in WebAssembly with SIMD, 128 bytes a loop turn, after one copy into its
 * memory: well under a microsecond for 16 KiB, where JSON.parse of the literal takes several
 * and Node 20's base64 decoder about twenty.
 *
 * The module is small enough to write out here in WebAssembly's binary format, instruction
 * by instruction (`assemble` below); WebAssembly.validate checks it at load. Where the
 * runtime has no WebAssembly SIMD, the same checks run in JavaScript. Both are held to a
 * plain byte-by-byte reference in packages/server/test/message-bytes.test.ts.
 */
import { isAscii } from 'node:buffer';

/** textScan's answer: no byte is below 0x20, a quote (0x22) or a backslash (0x5c). */
export const PLAIN_TEXT = 1;
/** textScan's answer: no byte is 0x80 or above. */
export const ASCII_TEXT = 2;

/**
 * What `data[start, end)` is, read once: PLAIN_TEXT and ASCII_TEXT, each set when it holds.
 * The ASCII answer comes with the scan for little more than one instruction per sixteen bytes,
 * where a separate isAscii would read the bytes again.
 */
export function textScan(data: Uint8Array, start: number, end: number): number {
  const scanner = scanners();
  return scanner === null ? textScanJs(data, start, end) : scanner.run(scanner.text, data, start, end);
}

/** Every byte of `data[start, end)` is in base64's alphabet (`A–Z a–z 0–9 + /`, no padding). */
export function base64Alphabet(data: Uint8Array, start: number, end: number): boolean {
  const scanner = scanners();
  return scanner === null ? base64AlphabetJs(data, start, end) : scanner.run(scanner.base64, data, start, end) === 1;
}

// ---- JavaScript ------------------------------------------------------------------------------

/**
 * @internal textScan in JavaScript: quotes and backslashes with indexOf (native), control
 * characters four bytes at a time with the "byte below n" test of Bit Twiddling Hacks
 * (hasless), which reports no false positive for a whole word, on four words at once; ASCII
 * with Node's isAscii.
 */
export function textScanJs(data: Uint8Array, start: number, end: number): number {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const ascii = isAscii(bytes.subarray(start, end)) ? ASCII_TEXT : 0;
  return plainTextJs(bytes, start, end) ? PLAIN_TEXT | ascii : ascii;
}

function plainTextJs(data: Buffer, start: number, end: number): boolean {
  const quote = data.indexOf(0x22, start);
  const backslash = data.indexOf(0x5c, start);
  if ((quote !== -1 && quote < end) || (backslash !== -1 && backslash < end)) return false;
  let i = start;
  for (const aligned = Math.min(end, i + ((4 - ((data.byteOffset + i) & 3)) & 3)); i < aligned; i++) if (data[i]! < 0x20) return false;
  const words = (end - i) >> 2;
  if (words > 0) {
    const view = new Int32Array(data.buffer, data.byteOffset + i, words);
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    let k = 0;
    for (; k + 4 <= words; k += 4) {
      const w0 = view[k]!;
      const w1 = view[k + 1]!;
      const w2 = view[k + 2]!;
      const w3 = view[k + 3]!;
      a |= (w0 - 0x20202020) & ~w0;
      b |= (w1 - 0x20202020) & ~w1;
      c |= (w2 - 0x20202020) & ~w2;
      d |= (w3 - 0x20202020) & ~w3;
    }
    for (; k < words; k++) {
      const w = view[k]!;
      a |= (w - 0x20202020) & ~w;
    }
    if (((a | b | c | d) & 0x80808080) !== 0) return false;
    i += words << 2;
  }
  for (; i < end; i++) if (data[i]! < 0x20) return false;
  return true;
}

let alphabet: Uint8Array | undefined; // 1 for a base64 character

/** @internal The same check in JavaScript, a byte at a time. */
export function base64AlphabetJs(data: Uint8Array, start: number, end: number): boolean {
  const table = (alphabet ??= Uint8Array.from({ length: 256 }, (_, c) => (/[A-Za-z0-9+/]/.test(String.fromCharCode(c)) ? 1 : 0)));
  for (let i = start; i < end; i++) if (table[data[i]!] === 0) return false;
  return true;
}

// ---- WebAssembly -----------------------------------------------------------------------------

/** Bytes a loop turn of the module reads: eight 16-byte vectors, each loaded at its own offset. */
const BLOCK = 128;

interface Scanners {
  text: (length: number) => number;
  base64: (length: number) => number;
  run(check: (length: number) => number, data: Uint8Array, start: number, end: number): number;
}

/** The little of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

interface Exports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  text: (length: number) => number;
  base64: (length: number) => number;
}

let loaded: Scanners | null | undefined;

/** The module, instantiated on first use; null where WebAssembly SIMD is missing. */
function scanners(): Scanners | null {
  if (loaded !== undefined) return loaded;
  const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  const bytes = assemble();
  if (wasm === undefined || !wasm.validate(bytes)) return (loaded = null);
  const exports = new wasm.Instance(new wasm.Module(bytes)).exports as Exports;
  const memory = exports.memory;
  let view = new Uint8Array(memory.buffer);
  return (loaded = {
    text: exports.text,
    base64: exports.base64,
    /**
     * Copies the bytes to the start of the module's memory (grown to the largest payload seen,
     * at most maxPayload), pads them to a whole block with `A` (which passes every check),
     * and runs the check over them.
     */
    run(check, data, start, end) {
      const length = end - start;
      const padded = (length + BLOCK - 1) & -BLOCK;
      if (padded > view.length) {
        memory.grow(Math.ceil((padded - view.length) / 65536));
        view = new Uint8Array(memory.buffer);
      }
      // A plain Uint8Array view: Buffer's subarray would build a Buffer through its species.
      view.set(new Uint8Array(data.buffer, data.byteOffset + start, length), 0);
      view.fill(0x41, length, padded);
      return check(length);
    },
  });
}

/**
 * The module in WebAssembly's binary format:
 *
 *   (memory (export "memory") 1)
 *   (func (export "text") (param $length i32) (result i32)    ;; PLAIN_TEXT | ASCII_TEXT, each when it holds
 *     for each 16 bytes v at $i < $length (eight a loop turn):
 *       $bad |= (v == 0x22) | (v == 0x5c)
 *       $min = min_u($min, v)                                  ;; from all 0xff
 *       $any |= v
 *     return (!any_true($bad | sub_sat_u(0x20, $min)) ? 1 : 0)  ;; sub_sat_u: non-zero exactly below 0x20
 *          | (bitmask($any) == 0 ? 2 : 0))
 *   (func (export "base64") (param $length i32) (result i32)  ;; 1: every byte in A-Z a-z 0-9 + /
 *     for each 16 bytes v:
 *       $bad |= swizzle(HIGH, v >> 4) & swizzle(LOW, v & 0x0f)
 *     return !any_true($bad))
 *
 * The text test is six instructions per vector (pcmpeqb, pminub, por on x86); a loop turn
 * reads eight vectors, because each turn of a WebAssembly loop also pays for the engine's
 * interrupt check: 64 bytes a turn took 40% longer. HIGH and LOW are the nibble tables of
 * Muła and Lemire's base64 check ("Faster Base64 Encoding and Decoding Using AVX2
 * Instructions", 2018): a byte is in the alphabet exactly when the entries for its two
 * nibbles share no bit.
 *
 * Locals: 0 the length (the parameter), 1 the offset $i, 2 v, 3… vectors set before the
 * loop (constants and accumulators).
 */
function assemble(): Uint8Array {
  const unsigned = (n: number): number[] => {
    const out: number[] = [];
    do {
      const low = n & 0x7f;
      n >>>= 7;
      out.push(n === 0 ? low : low | 0x80);
    } while (n !== 0);
    return out;
  };
  /** An i32.const's operand (signed LEB128), for 0 ≤ n < 8192. */
  const signed = (n: number): number[] => (n < 64 ? [n] : [(n & 0x7f) | 0x80, n >> 7]);
  const vector = (items: number[][]): number[] => [...unsigned(items.length), ...items.flat()];
  const section = (id: number, content: number[]): number[] => [id, ...unsigned(content.length), ...content];
  const name = (text: string): number[] => vector([...text].map((c) => [c.charCodeAt(0)]));
  const I32 = 0x7f;
  const V128 = 0x7b;
  const get = (local: number) => [0x20, local];
  const set = (local: number) => [0x21, local];
  const simd = (opcode: number) => [0xfd, ...unsigned(opcode)];
  const splat = (byte: number) => new Array<number>(16).fill(byte);
  const load = (offset: number) => [...simd(0x00), 4, ...unsigned(offset)]; // v128.load align=16 offset
  // i8x16.swizzle, i8x16.eq, v128.any_true, i8x16.bitmask, v128.and, v128.or, i8x16.shr_u, i8x16.sub_sat_u, i8x16.min_u
  const [swizzle, eq, anyTrue, bitmask, and, or, shrU, subSatU, minU] = [simd(0x0e), simd(0x23), simd(0x53), simd(0x64), simd(0x4e), simd(0x50), simd(0x6d), simd(0x73), simd(0x77)];
  const v = get(2);
  /** Local 3 + k, set to `vectors[k]` before the loop. */
  const slot = (k: number) => 3 + k;
  /**
   * `for (i = 0; i < length; i += BLOCK) for each vector v of the block: step`, then `result`
   * (the slots first set to `vectors`, 16 bytes each).
   */
  const body = (vectors: number[][], step: number[], result: number[]): number[] => {
    const code = [
      ...vectors.flatMap((bytes, k) => [...simd(0x0c), ...bytes, ...set(slot(k))]), // v128.const
      0x02, 0x40, 0x03, 0x40, // block, loop
      ...get(1), ...get(0), 0x4f, 0x0d, 1, // br_if (i >=u length) to the block's end
      ...Array.from({ length: BLOCK / 16 }, (_, k) => [...get(1), ...load(16 * k), ...set(2), ...step]).flat(),
      ...get(1), 0x41, ...signed(BLOCK), 0x6a, ...set(1), // i += BLOCK
      0x0c, 0, 0x0b, 0x0b, // br to the loop; end loop; end block
      ...result, 0x0b, // end
    ];
    const locals = vector([[1, I32], [1 + vectors.length, V128]]);
    return [...unsigned(locals.length + code.length), ...locals, ...code];
  };
  /** `local = local op operand`, the operand's code leaving one vector. */
  const update = (local: number, op: number[], operand: number[]) => [...get(local), ...operand, ...op, ...set(local)];

  const [QUOTE, BACKSLASH, SPACE, BAD, MIN, ANY] = [slot(0), slot(1), slot(2), slot(3), slot(4), slot(5)];
  const text = body(
    [splat(0x22), splat(0x5c), splat(0x20), splat(0), splat(0xff), splat(0)],
    [
      ...update(BAD, or, [...v, ...get(QUOTE), ...eq, ...v, ...get(BACKSLASH), ...eq, ...or]),
      ...update(MIN, minU, v),
      ...update(ANY, or, v),
    ],
    [
      ...get(BAD), ...get(SPACE), ...get(MIN), ...subSatU, ...or, ...anyTrue, 0x45, // i32.eqz: plain
      ...get(ANY), ...bitmask, 0x45, 0x41, 1, 0x74, 0x72, // (bitmask == 0) << 1, or'ed in
    ],
  );
  const [HIGH_TABLE, LOW_TABLE, LOW_NIBBLE, BAD64] = [slot(0), slot(1), slot(2), slot(3)];
  const HIGH = [0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10];
  const LOW = [0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a];
  const base64 = body(
    [HIGH, LOW, splat(0x0f), splat(0)],
    update(BAD64, or, [...get(HIGH_TABLE), ...v, 0x41, 4, ...shrU, ...swizzle, ...get(LOW_TABLE), ...v, ...get(LOW_NIBBLE), ...and, ...swizzle, ...and]),
    [...get(BAD64), ...anyTrue, 0x45],
  );
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    ...section(1, vector([[0x60, ...vector([[I32]]), ...vector([[I32]])]])), // type 0: (i32) -> i32
    ...section(3, vector([[0], [0]])), // two functions of type 0
    ...section(5, vector([[0x00, 1]])), // one memory, at least 1 page
    ...section(7, vector([[...name('memory'), 0x02, 0], [...name('text'), 0x00, 0], [...name('base64'), 0x00, 1]])),
    ...section(10, vector([text, base64])),
  ]);
}
