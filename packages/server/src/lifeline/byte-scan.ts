/**
 * The two checks that read every byte of a large JSON-mode payload (message-bytes.ts): is a
 * string literal free of quotes, backslashes and control characters, and is a `b` only
 * base64's alphabet. Quotes and backslashes are found by Buffer#indexOf, which reads the
 * bytes where they are at memchr's speed. Node has no native search for a byte below 0x20,
 * nor for bytes outside an alphabet: those two run in WebAssembly with SIMD, 128 bytes a
 * loop turn, after one copy into its memory. For 16 KiB, each indexOf takes about 0.1 µs,
 * the copy 0.35 µs and the control-character loop about 0.2 µs, where JSON.parse of the
 * literal takes several and Node 20's base64 decoder about twenty.
 *
 * The module is small enough to write out here in WebAssembly's binary format, instruction
 * by instruction (`assemble` below); WebAssembly.validate checks it at load. Where the
 * runtime has no WebAssembly SIMD, the same checks run in JavaScript. Both are held to a
 * plain byte-by-byte reference in packages/server/test/message-bytes.test.ts.
 */

/**
 * No byte of `data[start, end)` is below 0x20, a quote (0x22) or a backslash (0x5c): as a
 * JSON string literal's content, it needs no escape. The quote and backslash searches read
 * on past `end` to the first match or the end of `data` (a literal at a frame's end: a byte
 * or two).
 */
export function plainText(data: Buffer, start: number, end: number): boolean {
  if (noQuoteOrBackslash(data, start, end) === false) return false;
  const scanner = scanners();
  return scanner === null ? noControlJs(data, start, end) : scanner.run(scanner.control, data, start, end) === 1;
}

/** Every byte of `data[start, end)` is in base64's alphabet (`A–Z a–z 0–9 + /`, no padding). */
export function base64Alphabet(data: Uint8Array, start: number, end: number): boolean {
  const scanner = scanners();
  return scanner === null ? base64AlphabetJs(data, start, end) : scanner.run(scanner.base64, data, start, end) === 1;
}

// ---- JavaScript -----------------------------------------------------------------------------

function noQuoteOrBackslash(data: Buffer, start: number, end: number): boolean {
  const quote = data.indexOf(0x22, start);
  if (quote !== -1 && quote < end) return false;
  const backslash = data.indexOf(0x5c, start);
  return backslash === -1 || backslash >= end;
}

/** @internal plainText without WebAssembly. */
export function plainTextJs(data: Buffer, start: number, end: number): boolean {
  return noQuoteOrBackslash(data, start, end) && noControlJs(data, start, end);
}

/**
 * No byte below 0x20, four bytes at a time with the "byte below n" test of Bit Twiddling
 * Hacks (hasless), which reports no false positive for a whole word, on four words at once.
 */
function noControlJs(data: Buffer, start: number, end: number): boolean {
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
  control: (length: number) => number;
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
  control: (length: number) => number;
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
    control: exports.control,
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
 *   (func (export "control") (param $length i32) (result i32) ;; 1: no byte below 0x20
 *     for each 16 bytes v at $i < $length (eight a loop turn, alternating k = 0, 1):
 *       $min_k = min_u($min_k, v)                                ;; from all 0xff
 *     return !any_true(sub_sat_u(0x20, min_u($min_0, $min_1)))  ;; non-zero exactly below 0x20
 *   (func (export "base64") (param $length i32) (result i32)  ;; 1: every byte in A-Z a-z 0-9 + /
 *     for each 16 bytes v:
 *       $bad |= swizzle(HIGH, v >> 4) & swizzle(LOW, v & 0x0f)
 *     return !any_true($bad))
 *
 * The control test is one instruction per vector (pminub on x86), into two accumulators so
 * that each waits on the one before last, not the last; a loop turn reads eight vectors, because each turn of a WebAssembly loop also pays for the engine's
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
  // i8x16.swizzle, v128.any_true, v128.and, v128.or, i8x16.shr_u, i8x16.sub_sat_u, i8x16.min_u
  const [swizzle, anyTrue, and, or, shrU, subSatU, minU] = [simd(0x0e), simd(0x53), simd(0x4e), simd(0x50), simd(0x6d), simd(0x73), simd(0x77)];
  const v = get(2);
  /** Local 3 + k, set to `vectors[k]` before the loop. */
  const slot = (k: number) => 3 + k;
  /**
   * `for (i = 0; i < length; i += BLOCK) for the k-th vector v of the block: step(k)`, then `result`
   * (the slots first set to `vectors`, 16 bytes each).
   */
  const body = (vectors: number[][], step: (k: number) => number[], result: number[]): number[] => {
    const code = [
      ...vectors.flatMap((bytes, k) => [...simd(0x0c), ...bytes, ...set(slot(k))]), // v128.const
      0x02, 0x40, 0x03, 0x40, // block, loop
      ...get(1), ...get(0), 0x4f, 0x0d, 1, // br_if (i >=u length) to the block's end
      ...Array.from({ length: BLOCK / 16 }, (_, k) => [...get(1), ...load(16 * k), ...set(2), ...step(k)]).flat(),
      ...get(1), 0x41, ...signed(BLOCK), 0x6a, ...set(1), // i += BLOCK
      0x0c, 0, 0x0b, 0x0b, // br to the loop; end loop; end block
      ...result, 0x0b, // end
    ];
    const locals = vector([[1, I32], [1 + vectors.length, V128]]);
    return [...unsigned(locals.length + code.length), ...locals, ...code];
  };
  /** `local = local op operand`, the operand's code leaving one vector. */
  const update = (local: number, op: number[], operand: number[]) => [...get(local), ...operand, ...op, ...set(local)];

  const [SPACE, MIN_0, MIN_1] = [slot(0), slot(1), slot(2)];
  const control = body(
    [splat(0x20), splat(0xff), splat(0xff)],
    (k) => update(k % 2 === 0 ? MIN_0 : MIN_1, minU, v),
    [...get(SPACE), ...get(MIN_0), ...get(MIN_1), ...minU, ...subSatU, ...anyTrue, 0x45], // i32.eqz
  );
  const [HIGH_TABLE, LOW_TABLE, LOW_NIBBLE, BAD64] = [slot(0), slot(1), slot(2), slot(3)];
  const HIGH = [0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10];
  const LOW = [0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a];
  const base64 = body(
    [HIGH, LOW, splat(0x0f), splat(0)],
    () => update(BAD64, or, [...get(HIGH_TABLE), ...v, 0x41, 4, ...shrU, ...swizzle, ...get(LOW_TABLE), ...v, ...get(LOW_NIBBLE), ...and, ...swizzle, ...and]),
    [...get(BAD64), ...anyTrue, 0x45],
  );
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    ...section(1, vector([[0x60, ...vector([[I32]]), ...vector([[I32]])]])), // type 0: (i32) -> i32
    ...section(3, vector([[0], [0]])), // two functions of type 0
    ...section(5, vector([[0x00, 1]])), // one memory, at least 1 page
    ...section(7, vector([[...name('memory'), 0x02, 0], [...name('control'), 0x00, 0], [...name('base64'), 0x00, 1]])),
    ...section(10, vector([control, base64])),
  ]);
}
