import { clearScreenDown, cursorTo, moveCursor, type Interface } from 'node:readline';

/**
 * How `lifeline connect` shows traffic. Two audiences:
 *
 * - a person at a terminal (stdout is a TTY): every line has a time and a direction
 *   (`<` in, `>` out, `*` status, `!` problem), control characters are made visible so a
 *   message cannot drive the terminal, long binary is cut, and lines are printed above
 *   the prompt without disturbing what is being typed;
 * - a script (stdout is a pipe or file): incoming messages only, one per line, exactly
 *   as received; status lines and problems go to stderr.
 */
export interface DisplayOptions {
  /** stdout is a terminal: the person's format. */
  terminal: boolean;
  /** Times also in the script format. */
  timestamps: boolean;
  color: boolean;
  json: boolean;
  quiet: boolean;
}

type Tone = 'in' | 'out' | 'status' | 'problem';

const COLORS: Record<Tone | 'time', string> = { time: '2', in: '36', out: '34', status: '33', problem: '31' };
const MARKS: Record<Tone, string> = { in: '<', out: '>', status: '*', problem: '!' };
/** Binary shown in the terminal format, in bytes; the rest is summarised. */
const MAX_TERMINAL_BYTES = 256;

export type Incoming = { text: string } | { bytes: Uint8Array };

export class Display {
  #prompt: { rl: Interface; output: NodeJS.WriteStream } | undefined;

  constructor(
    readonly options: DisplayOptions,
    readonly stdout: NodeJS.WritableStream = process.stdout,
    readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** From now on, lines written to `output` go above `rl`'s prompt, which is redrawn below. */
  attachPrompt(rl: Interface, output: NodeJS.WriteStream): void {
    this.#prompt = { rl, output };
  }

  /** Erases the prompt and what is typed (the program is ending) and stops printing above it. */
  detachPrompt(): void {
    const prompt = this.#prompt;
    if (!prompt) return;
    this.#prompt = undefined;
    clearRows(prompt.output, prompt.rl.getCursorPos().rows);
  }

  /** A message from the server; `label` goes before it (a response's request name). */
  incoming(message: Incoming, at = Date.now(), label = ''): void {
    const { terminal, json } = this.options;
    if ('bytes' in message) {
      const limit = terminal ? MAX_TERMINAL_BYTES : Infinity;
      this.#message('in', label + formatBinary(message.bytes, limit), at);
      return;
    }
    if (!json) {
      this.#message('in', label + message.text, at);
      return;
    }
    const pretty = prettyJson(message.text);
    if (pretty !== undefined) this.#message('in', label + pretty, at);
    else if (terminal) this.#message('in', `${label}(not JSON) ${message.text}`, at);
    // Scripts pipe --json output into JSON tools: keep stdout parseable, say it elsewhere.
    else this.#line(this.stderr, `(not JSON) ${message.text}`, 'problem', at, true);
  }

  /** A message we sent; shown in the terminal format only (scripts know what they sent). */
  sent(message: Incoming, at = Date.now()): void {
    if (!this.options.terminal) return;
    this.#line(this.stdout, 'bytes' in message ? formatBinary(message.bytes, MAX_TERMINAL_BYTES) : message.text, 'out', at);
  }

  /**
   * Connecting, connected, closed: for a person at a terminal (`--quiet` hides them). A
   * script's output has messages only, and its stderr only what went wrong.
   */
  status(text: string): void {
    if (this.options.terminal && !this.options.quiet) this.#line(this.stdout, text, 'status');
  }

  /** Something went wrong but the program goes on (a drop, a failed command). */
  warn(text: string): void {
    if (this.options.quiet && !this.options.terminal) return;
    this.#problem(text);
  }

  /** What decides the exit status: said even with `--quiet`. */
  fail(text: string): void {
    this.#problem(text);
  }

  #problem(text: string): void {
    if (this.options.terminal) this.#line(this.stdout, text, 'problem');
    else this.#line(this.stderr, `lifeline: ${text}`, 'problem', Date.now(), true);
  }

  #message(tone: Tone, text: string, at: number): void {
    if (this.options.terminal) this.#line(this.stdout, text, tone, at);
    else this.write(this.stdout, (this.options.timestamps ? `${formatTime(at)} ` : '') + text + '\n');
  }

  /**
   * One entry: `HH:MM:SS.mmm < text` in a terminal, continuation lines indented under the
   * text. `plain`: a line for stderr in the script format, no time or mark.
   */
  #line(stream: NodeJS.WritableStream, text: string, tone: Tone, at = Date.now(), plain = false): void {
    if (plain) {
      this.write(stream, (this.options.timestamps ? `${formatTime(at)} ` : '') + text + '\n');
      return;
    }
    const paint = (code: string, s: string) => (this.options.color ? `\x1b[${code}m${s}\x1b[0m` : s);
    const head = `${formatTime(at)} ${MARKS[tone]} `;
    const body = visible(text)
      .split('\n')
      .map((line, i) => (i === 0 ? line : ' '.repeat(head.length) + line))
      .join('\n');
    const colored = paint(COLORS.time, formatTime(at)) + ' ' + paint(COLORS[tone], MARKS[tone]) + ' ' + (tone === 'in' || tone === 'out' ? body : paint(COLORS[tone], body));
    this.write(stream, colored + '\n');
  }

  /** Writes `text` (whole lines); above the prompt when it goes to the prompt's terminal. */
  write(stream: NodeJS.WritableStream, text: string): void {
    const prompt = this.#prompt;
    if (!prompt || stream !== prompt.output) {
      stream.write(text);
      return;
    }
    const { rl, output } = prompt;
    // Clear the prompt and what is typed (it may span rows), print, then draw them again.
    clearRows(output, rl.getCursorPos().rows);
    output.write(text);
    // readline redraws by first moving up `prevRows` rows: where it last put the cursor
    // below the prompt's first row (not always where the cursor is now: typing at the end
    // of a line does not update it). The cursor is now where the prompt starts, so 0.
    (rl as unknown as { prevRows: number }).prevRows = 0;
    rl.prompt(true);
  }

  /**
   * Replaces the line readline left on screen after Enter (`> what was typed`) with the
   * timestamped entry, so the scrollback reads the same for sent and received messages.
   */
  replaceTyped(promptText: string, typed: string, message: Incoming): void {
    const prompt = this.#prompt;
    // With stdout redirected, the typed line on the terminal is the only record: keep it.
    if (!prompt || prompt.output !== this.stdout || !this.options.terminal) return;
    const columns = prompt.output.columns || 80;
    clearRows(prompt.output, Math.max(1, Math.ceil(displayWidth(promptText + typed) / columns)));
    this.sent(message);
  }
}

/** Erases from `up` rows above the cursor's row to the end of the screen; the cursor ends there. */
function clearRows(output: NodeJS.WriteStream, up: number): void {
  moveCursor(output, 0, -up);
  cursorTo(output, 0);
  clearScreenDown(output);
}

/** `HH:MM:SS.mmm` in local time. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** `binary 3 bytes: 00 ff 10`, cut after `limit` bytes. */
export function formatBinary(bytes: Uint8Array, limit = Infinity): string {
  const shown = bytes.length > limit ? bytes.subarray(0, limit) : bytes;
  const hex = Array.from(shown, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const more = bytes.length > shown.length ? ` … (${bytes.length - shown.length} more)` : '';
  return `binary ${bytes.length} byte${bytes.length === 1 ? '' : 's'}: ${hex}${more}`;
}

/** The text indented by two spaces if it is JSON, else undefined. */
export function prettyJson(text: string): string | undefined {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return undefined;
  }
}

/**
 * Control characters (other than newline and tab) as `\xNN`, so that a message cannot
 * move the cursor, clear the screen or retitle the terminal of the person reading it.
 */
export function visible(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f\x9b]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Terminal columns a string takes, close enough for clearing rows: one per code point. */
function displayWidth(text: string): number {
  let width = 0;
  for (const _ of text) width++;
  return width;
}

/** `00ff10`, `00 ff 10` or `0x00ff10` → bytes; undefined when it is not whole bytes of hex. */
export function parseHex(text: string): Uint8Array | undefined {
  const digits = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) return undefined;
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}
