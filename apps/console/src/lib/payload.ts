/**
 * Turning what a person types into frames (text, JSON, hex, base64) and frames into what a
 * person reads (sizes, times, hex dumps, pretty JSON). Pure functions: the log, the
 * composer and the tests share them.
 */

const encoder = new TextEncoder();

/** UTF-8 length of a text frame: what goes on the wire, not `string.length`. */
export function utf8Length(text: string): number {
  // Fast path for ASCII, which most frames are: no encoding needed.
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  return ascii ? text.length : encoder.encode(text).length;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Hex input as people write it: `00ff10`, `00 ff 10`, `0x00 0xff`, `00:ff:10`, `00,ff`,
 * across lines. An odd number of digits or a stray character is an error naming where.
 */
export function parseHex(input: string): Parsed<Uint8Array> {
  const cleaned = input.replace(/0x/gi, ' ').replace(/[\s,:;-]+/g, '');
  const bad = /[^0-9a-f]/i.exec(cleaned);
  if (bad) return { ok: false, error: `"${bad[0]}" is not a hex digit (0-9, a-f).` };
  if (cleaned.length % 2 === 1) return { ok: false, error: `${cleaned.length} hex digits: bytes take two each (add a leading 0?).` };
  const bytes = new Uint8Array(cleaned.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(cleaned.slice(i * 2, i * 2 + 2), 16);
  return { ok: true, value: bytes };
}

/** Base64, standard or URL-safe, padding optional, whitespace ignored. */
export function parseBase64(input: string): Parsed<Uint8Array> {
  const cleaned = input.replace(/\s+/g, '').replace(/-/g, '+').replace(/_/g, '/');
  const bad = /[^A-Za-z0-9+/=]/.exec(cleaned);
  if (bad) return { ok: false, error: `"${bad[0]}" is not a base64 character.` };
  const unpadded = cleaned.replace(/=+$/, '');
  if (unpadded.includes('=')) return { ok: false, error: '"=" may only pad the end.' };
  if (unpadded.length % 4 === 1) return { ok: false, error: `${unpadded.length} characters cannot be base64 (one too many or too few).` };
  const padded = unpadded + '='.repeat((4 - (unpadded.length % 4)) % 4);
  let binary: string;
  try {
    binary = atob(padded);
  } catch {
    return { ok: false, error: 'not valid base64.' };
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return { ok: true, value: bytes };
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  // In slices: String.fromCharCode(...bigArray) overflows the call stack.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `00 ff 10`, cut after `max` bytes with `… (N more)`. */
export function toHex(bytes: Uint8Array, max = Infinity): string {
  const shown = Math.min(bytes.length, max);
  let out = '';
  for (let i = 0; i < shown; i++) out += (i ? ' ' : '') + HEX[bytes[i]!];
  return shown < bytes.length ? `${out} … (${bytes.length - shown} more)` : out;
}

/**
 * The classic dump: offset, 16 bytes in hex (split in two groups of 8), and the printable
 * ASCII with dots for the rest. At most `maxBytes` are shown (a 1 MiB frame would be 4 MiB
 * of text), the rest counted.
 */
export function hexDump(bytes: Uint8Array, maxBytes = 64 * 1024): string {
  const shown = Math.min(bytes.length, maxBytes);
  const lines: string[] = [];
  for (let offset = 0; offset < shown; offset += 16) {
    const row = bytes.subarray(offset, Math.min(offset + 16, shown));
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      const b = row[i];
      hex += (b === undefined ? '  ' : HEX[b]) + (i === 7 ? '  ' : ' ');
      if (b !== undefined) ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
    }
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  if (shown < bytes.length) lines.push(`… ${bytes.length - shown} more bytes not shown`);
  return lines.join('\n');
}

/** JSON that names where it broke: `line 2, column 5: Unexpected token`. */
export function parseJson(text: string): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    // Engines disagree on whether (and how) they give a position: find it ourselves.
    const message = (error as Error).message.replace(/^JSON\.parse: /, '').replace(/,? ?".*" is not valid JSON$/s, '').replace(/ in JSON at position \d+.*$/s, '');
    const at = jsonErrorOffset(text);
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    return { ok: false, error: `line ${line}, column ${column}: ${message}` };
  }
}

/**
 * Where a JSON text first goes wrong (its length when it merely ends too soon): a small
 * recursive-descent scan over RFC 8259's grammar, used only after JSON.parse failed.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const expect = (c: string) => (text[i] === c ? i++ : fail());
  const string = () => {
    expect('"');
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 5;
        } else if ('"\\/bfnrt'.includes(text[i] ?? 'x')) i++;
        else fail();
      } else i++;
    }
    expect('"');
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') return void i++;
      for (;;) {
        space();
        string();
        space();
        expect(':');
        value();
        space();
        if (text[i] === ',') i++;
        else return void expect('}');
      }
    }
    if (c === '[') {
      i++;
      space();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        space();
        if (text[i] === ',') i++;
        else return void expect(']');
      }
    }
    if (c === '"') return string();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!literal) fail();
    i += literal![0].length;
  };
  try {
    value();
    space();
    return i < text.length ? i : text.length;
  } catch (at) {
    return typeof at === 'number' ? at : 0;
  }
}

/**
 * Whether a text frame is a JSON object or array (what the log shows as JSON). Scalars
 * such as `42` or `"hi"` are JSON too, but people read them as text.
 */
export function isJsonText(text: string): boolean {
  let i = 0;
  while (i < text.length && (text.charCodeAt(i) <= 32)) i++;
  const first = text.charCodeAt(i);
  if (first !== 123 /* { */ && first !== 91 /* [ */) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Pretty JSON (two-space indent) of a text that is JSON; the text itself otherwise. */
export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** `HH:MM:SS.mmm` in local time. */
export function formatTime(at: number): string {
  const d = new Date(at);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** A gap between messages: `+0.4 ms`, `+12 ms`, `+1.52 s`, `+3 min`. */
export function formatGap(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 10) return `+${ms.toFixed(1)} ms`;
  if (ms < 1000) return `+${Math.round(ms)} ms`;
  if (ms < 60_000) return `+${(ms / 1000).toFixed(2)} s`;
  if (ms < 3_600_000) return `+${Math.round(ms / 60_000)} min`;
  return `+${(ms / 3_600_000).toFixed(1)} h`;
}

/** A duration for people: `850 ms`, `4.2 s`, `3 min 5 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** One line of a text for the log's row: control characters made visible, cut at `max`. */
export function oneLine(text: string, max = 300): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  // eslint-disable-next-line no-control-regex
  const visible = cut.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '⏎' : c === '\t' ? '⇥' : '·'));
  return text.length > max ? `${visible}…` : visible;
}
