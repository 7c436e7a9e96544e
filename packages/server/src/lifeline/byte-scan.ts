/**
 * The two checks that read every byte of a large JSON-mode payload (message-bytes.ts): is a
 * string literal free of quotes, backslashes and control characters, and is a `b` only
 * base64's alphabet. JavaScript reads a Buffer a byte (or four) at a time; these run in
 * WebAssembly with SIMD, sixteen bytes an instruction, after one copy into its memory: about
 * a microsecond for 16 KiB, where JSON.parse of the literal takes several and Node 20's
 * base64 decoder about twenty.
 *
 * The module is small enough to write out here in WebAssembly's binary format, instruction
 * by instruction (`assemble` below); WebAssembly.validate checks it at load. Where the
 * runtime has no WebAssembly SIMD, the same checks run in JavaScript. Both are held to a
 * plain byte-by-byte reference in packages/server/test/message-bytes.test.ts.
 */

/** No byte of `data[start, end)` is below 0x20, a quote (0x22) or a backslash (0x5c). */
export function plainText(data: Uint8Array, start: number, end: number): boolean {
  const scanner = scanners();
  return scanner === null ? plainTextJs(data, start, end) : scanner.run(scanner.plain, data, start, end);
}

/** Every byte of `data[start, end)` is in base64's alphabet (`A–Z a–z 0–9 + /`, no padding). */
export function base64Alphabet(data: Uint8Array, start: number, end: number): boolean {
  const scanner = scanners();
  return scanner === null ? base64AlphabetJs(data, start, end) : scanner.run(scanner.base64, data, start, end);
}

// ---- JavaScript ------------------------------------------------------------------------------

/**
 * @internal The same check in JavaScript: quotes and backslashes with indexOf (native),
 * control characters four bytes at a time with the "byte below n" test of Bit Twiddling Hacks
 * (hasless), which reports no false positive for a whole word, on four words at once.
 */
export function plainTextJs(data: Uint8Array, start: number, end: number): boolean {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const quote = bytes.indexOf(0x22, start);
  const backslash = bytes.indexOf(0x5c, start);
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

interface Scanners {
  plain: (length: number) => number;
  base64: (length: number) => number;
  run(check: (length: number) => number, data: Uint8Array, start: number, end: number): boolean;
}

/** The little of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

interface Exports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  plain: (length: number) => number;
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
    plain: exports.plain,
    base64: exports.base64,
    /**
     * Copies the bytes to the start of the module's memory (grown to the largest payload seen,
     * at most maxPayload), pads them to a multiple of 16 with `A` (which passes both checks),
     * and runs the check over them.
     */
    run(check, data, start, end) {
      const length = end - start;
      const padded = (length + 15) & ~15;
      if (padded > view.length) {
        memory.grow(Math.ceil((padded - view.length) / 65536));
        view = new Uint8Array(memory.buffer);
      }
      view.set(data.subarray(start, end), 0);
      view.fill(0x41, length, padded);
      return check(length) === 1;
    },
  });
}

/**
 * The module in WebAssembly's binary format:
 *
 *   (memory (export "memory") 1)
 *   (func (export "plain") (param $length i32) (result i32)   ;; 1: no byte < 0x20, = 0x22 or = 0x5c
 *     for each 16 bytes v at $i < $length:
 *       $bad |= (v <u 0x20) | (v == 0x22) | (v == 0x5c)
 *     return !any_true($bad))
 *   (func (export "base64") (param $length i32) (result i32)  ;; 1: every byte in A-Z a-z 0-9 + /
 *     for each 16 bytes v:
 *       $bad |= swizzle(HIGH, v >> 4) & swizzle(LOW, v & 0x0f)
 *     return !any_true($bad))
 *
 * HIGH and LOW are the nibble tables of Muła and Lemire's base64 check ("Faster Base64
 * Encoding and Decoding Using AVX2 Instructions", 2018): a byte is in the alphabet exactly
 * when the entries for its two nibbles share no bit.
 *
 * Locals: 0 the length (the parameter), 1 the offset $i, 2 $bad, 3 v, 4… the splatted constants.
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
  const vector = (items: number[][]): number[] => [...unsigned(items.length), ...items.flat()];
  const section = (id: number, content: number[]): number[] => [id, ...unsigned(content.length), ...content];
  const name = (text: string): number[] => vector([...text].map((c) => [c.charCodeAt(0)]));
  const I32 = 0x7f;
  const V128 = 0x7b;
  const get = (local: number) => [0x20, local];
  const set = (local: number) => [0x21, local];
  const simd = (opcode: number) => [0xfd, ...unsigned(opcode)];
  const splat = (byte: number) => new Array<number>(16).fill(byte);
  const load = [...simd(0x00), 0, 0]; // v128.load align=0 offset=0
  const [swizzle, eq, ltU, and, or, anyTrue, shrU] = [simd(0x0e), simd(0x23), simd(0x26), simd(0x4e), simd(0x50), simd(0x53), simd(0x6d)]; // i8x16.swizzle, i8x16.eq, i8x16.lt_u, v128.and, v128.or, v128.any_true, i8x16.shr_u
  const constant = (k: number) => get(4 + k);
  /** `for (i = 0; i < length; i += 16) { v = load(i); bad |= test(v) }; return !any_true(bad)`, the constants (16 bytes each) set first. */
  const body = (constants: number[][], test: number[]): number[] => {
    const code = [
      ...constants.flatMap((bytes, k) => [...simd(0x0c), ...bytes, ...set(4 + k)]), // v128.const
      0x02, 0x40, 0x03, 0x40, // block, loop
      ...get(1), ...get(0), 0x4f, 0x0d, 1, // br_if (i >=u length) to the block's end
      ...get(1), ...load, ...set(3),
      ...get(2), ...test, ...or, ...set(2),
      ...get(1), 0x41, 16, 0x6a, ...set(1), // i += 16
      0x0c, 0, 0x0b, 0x0b, // br to the loop; end loop; end block
      ...get(2), ...anyTrue, 0x45, 0x0b, // i32.eqz; end
    ];
    const locals = vector([[1, I32], [3 + constants.length, V128]]);
    return [...unsigned(locals.length + code.length), ...locals, ...code];
  };
  const v = get(3);
  const plain = body([splat(0x20), splat(0x22), splat(0x5c)], [...v, ...constant(0), ...ltU, ...v, ...constant(1), ...eq, ...or, ...v, ...constant(2), ...eq, ...or]);
  const HIGH = [0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10];
  const LOW = [0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1a, 0x1b, 0x1b, 0x1b, 0x1a];
  const base64 = body(
    [HIGH, LOW, splat(0x0f)],
    [...constant(0), ...v, 0x41, 4, ...shrU, ...swizzle, ...constant(1), ...v, ...constant(2), ...and, ...swizzle, ...and],
  );
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    ...section(1, vector([[0x60, ...vector([[I32]]), ...vector([[I32]])]])), // type 0: (i32) -> i32
    ...section(3, vector([[0], [0]])), // two functions of type 0
    ...section(5, vector([[0x00, 1]])), // one memory, at least 1 page
    ...section(7, vector([[...name('memory'), 0x02, 0], [...name('plain'), 0x00, 0], [...name('base64'), 0x00, 1]])),
    ...section(10, vector([plain, base64])),
  ]);
}
