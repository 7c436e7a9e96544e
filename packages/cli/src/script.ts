/**
 * Scripted expectations: "send X, expect a message matching Y within T ms", written in the
 * console (apps/console) and run the same way by `lifeline connect --script FILE` in CI.
 *
 * This module imports nothing, so the console's bundle can take it as it is: one parser,
 * one matcher and one runner for both. Each side supplies the connection (`ScriptIo`).
 *
 * ```json
 * {
 *   "lifelineScript": 1,
 *   "name": "echo answers",
 *   "url": "ws://127.0.0.1:5000/echo",
 *   "steps": [
 *     { "send": "hello" },
 *     { "expect": { "text": "hello" }, "within": 1000 },
 *     { "send": { "json": { "type": "ping", "n": 1 } } },
 *     { "expect": { "json": { "type": "ping" } } },
 *     { "send": { "hex": "00 ff 10" } },
 *     { "expect": { "binary": "00ff10" } },
 *     { "wait": 200 }
 *   ]
 * }
 * ```
 */

export const SCRIPT_VERSION = 1;
/** How long an `expect` waits when the step does not say. */
export const DEFAULT_WITHIN_MS = 5000;

/** What to send: a string is text; `json` is sent as JSON text (in Lifeline mode, as the value). */
export type ScriptSend = string | { text: string } | { json: unknown } | { hex: string } | { base64: string };

/**
 * What a message must be: `text` equal, `contains`, `regex` (a JavaScript pattern, or
 * `/pattern/flags`), `json` containing the given value (extra fields are fine, see
 * `jsonContains`), `binary` with these bytes (hex), or `any` message.
 */
export type ScriptMatch = { text: string } | { contains: string } | { regex: string } | { json: unknown } | { binary: string } | { any: true };

export type ScriptStep = { send: ScriptSend } | { expect: ScriptMatch; within?: number } | { wait: number };

export interface Script {
  lifelineScript: 1;
  name?: string;
  /** Where the console connects; `lifeline connect` takes its URL from the command line. */
  url?: string;
  protocols?: string[];
  lifeline?: boolean;
  steps: ScriptStep[];
}

/** A received message as a script sees it: text or bytes; in Lifeline mode the payload `value` too. */
export interface ScriptMessage {
  text?: string;
  bytes?: Uint8Array;
  /** Lifeline mode: the JSON value as received (`text` is then its JSON). */
  value?: unknown;
}

export interface StepResult {
  /** 1-based. */
  step: number;
  description: string;
  ok: boolean;
  /** Time the step took. */
  ms: number;
  /** Why it failed; for an expect, how many messages did not match meanwhile. */
  detail?: string;
}

export interface ScriptIo {
  /** Sends one message; a thrown error fails the step. */
  send(message: ScriptSend): void;
  /** Called as each step ends. */
  result?(result: StepResult): void;
}

/** Reads a script, checking every field; the error names the step and field at fault. */
export function parseScript(text: string): Script {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`The script is not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(raw)) throw new Error('A script is a JSON object: {"lifelineScript": 1, "steps": [...]}.');
  if (raw.lifelineScript !== SCRIPT_VERSION) throw new Error(`"lifelineScript" must be ${SCRIPT_VERSION} (the format's version).`);
  if (raw.name !== undefined && typeof raw.name !== 'string') throw new Error('"name" must be a string.');
  if (raw.url !== undefined && typeof raw.url !== 'string') throw new Error('"url" must be a string.');
  if (raw.lifeline !== undefined && typeof raw.lifeline !== 'boolean') throw new Error('"lifeline" must be true or false.');
  if (raw.protocols !== undefined && !(Array.isArray(raw.protocols) && raw.protocols.every((p) => typeof p === 'string'))) {
    throw new Error('"protocols" must be a list of strings.');
  }
  if (!Array.isArray(raw.steps) || raw.steps.length === 0) throw new Error('"steps" must be a non-empty list.');
  raw.steps.forEach((step, i) => checkStep(step, `step ${i + 1}`));
  return raw as unknown as Script;
}

function checkStep(step: unknown, where: string): void {
  if (!isRecord(step)) throw new Error(`${where}: a step is an object with "send", "expect" or "wait".`);
  const keys = ['send', 'expect', 'wait'].filter((k) => k in step);
  if (keys.length !== 1) throw new Error(`${where}: give exactly one of "send", "expect", "wait".`);
  if ('send' in step) {
    const s = step.send;
    if (typeof s === 'string') return;
    if (!isRecord(s) || Object.keys(s).length !== 1) throw new Error(`${where}: "send" is a string, or one of {"text"}, {"json"}, {"hex"}, {"base64"}.`);
    if ('json' in s) return;
    const [key] = Object.keys(s);
    if (!['text', 'hex', 'base64'].includes(key!) || typeof s[key!] !== 'string') throw new Error(`${where}: "send" is a string, or one of {"text"}, {"json"}, {"hex"}, {"base64"}.`);
    return;
  }
  if ('wait' in step) {
    if (!(typeof step.wait === 'number' && step.wait >= 0)) throw new Error(`${where}: "wait" is a number of ms ≥ 0.`);
    return;
  }
  const m = step.expect;
  if (step.within !== undefined && !(typeof step.within === 'number' && step.within > 0)) throw new Error(`${where}: "within" is a number of ms > 0.`);
  const usage = `${where}: "expect" is one of {"text"}, {"contains"}, {"regex"}, {"json"}, {"binary"}, {"any": true}.`;
  if (!isRecord(m) || Object.keys(m).length !== 1) throw new Error(usage);
  const [key] = Object.keys(m);
  if (key === 'json') return;
  if (key === 'any') {
    if (m.any !== true) throw new Error(usage);
    return;
  }
  if (!['text', 'contains', 'regex', 'binary'].includes(key!) || typeof m[key!] !== 'string') throw new Error(usage);
  if (key === 'regex') regexOf(m.regex as string, where);
  if (key === 'binary' && !/^[0-9a-f]*$/i.test(normalHex(m.binary as string))) throw new Error(`${where}: "binary" is hex, such as "00 ff 10".`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function regexOf(pattern: string, where = 'regex'): RegExp {
  const literal = /^\/(.+)\/([a-z]*)$/s.exec(pattern);
  try {
    return literal ? new RegExp(literal[1]!, literal[2]!.replace(/[gy]/g, '')) : new RegExp(pattern);
  } catch (error) {
    throw new Error(`${where}: bad regular expression: ${(error as Error).message}`);
  }
}

const normalHex = (hex: string) => hex.replace(/0x/gi, '').replace(/[\s,:;-]+/g, '').toLowerCase();

function hexOf(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/**
 * `value` contains `pattern`: every key of a pattern object is in the value with a value
 * that contains the pattern's (recursively); arrays match element by element and have the
 * same length; anything else must be equal. So `{"type":"result"}` matches
 * `{"type":"result","step":4}`.
 */
export function jsonContains(value: unknown, pattern: unknown): boolean {
  if (pattern === null || typeof pattern !== 'object') return Object.is(value, pattern) || value === pattern;
  if (Array.isArray(pattern)) {
    return Array.isArray(value) && value.length === pattern.length && pattern.every((p, i) => jsonContains(value[i], p));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return Object.entries(pattern).every(([key, p]) => Object.hasOwn(record, key) && jsonContains(record[key], p));
}

/** Whether `message` satisfies `match`. */
export function matches(match: ScriptMatch, message: ScriptMessage): boolean {
  if ('any' in match) return true;
  if ('binary' in match) return message.bytes !== undefined && hexOf(message.bytes) === normalHex(match.binary);
  const text = message.text;
  if ('json' in match) {
    if ('value' in message) return jsonContains(message.value, match.json);
    if (text === undefined) return false;
    try {
      return jsonContains(JSON.parse(text), match.json);
    } catch {
      return false;
    }
  }
  if (text === undefined) return false;
  if ('text' in match) return text === match.text;
  if ('contains' in match) return text.includes(match.contains);
  return regexOf(match.regex).test(text);
}

/** A step in words, for results and logs. */
export function describeStep(step: ScriptStep): string {
  if ('wait' in step) return `wait ${step.wait} ms`;
  if ('send' in step) {
    const s = step.send;
    if (typeof s === 'string') return `send ${JSON.stringify(s)}`;
    if ('json' in s) return `send JSON ${JSON.stringify(s.json)}`;
    if ('text' in s) return `send ${JSON.stringify(s.text)}`;
    if ('hex' in s) return `send bytes ${s.hex}`;
    return `send bytes (base64) ${s.base64}`;
  }
  const m = step.expect;
  const within = `within ${step.within ?? DEFAULT_WITHIN_MS} ms`;
  if ('any' in m) return `expect any message ${within}`;
  if ('json' in m) return `expect JSON containing ${JSON.stringify(m.json)} ${within}`;
  if ('text' in m) return `expect ${JSON.stringify(m.text)} ${within}`;
  if ('contains' in m) return `expect text containing ${JSON.stringify(m.contains)} ${within}`;
  if ('regex' in m) return `expect text matching ${m.regex} ${within}`;
  return `expect bytes ${m.binary} ${within}`;
}

/**
 * Runs a script: feed every received message to `receive()`, call `run()` once connected.
 * An `expect` looks at the messages received since the previous expect matched (those
 * that do not match are passed over) and waits for more until its time is up. The run
 * stops at the first failed step.
 */
export class ScriptRun {
  readonly #script: Script;
  readonly #io: ScriptIo;
  readonly #inbox: ScriptMessage[] = [];
  #wake: (() => void) | undefined;
  #cancelled = false;

  constructor(script: Script, io: ScriptIo) {
    this.#script = script;
    this.#io = io;
  }

  receive(message: ScriptMessage): void {
    this.#inbox.push(message);
    if (this.#inbox.length > 100_000) this.#inbox.shift(); // a flood while nothing expects: bounded
    this.#wake?.();
  }

  cancel(): void {
    this.#cancelled = true;
    this.#wake?.();
  }

  async run(): Promise<StepResult[]> {
    const results: StepResult[] = [];
    const steps = this.#script.steps;
    for (let i = 0; i < steps.length && !this.#cancelled; i++) {
      const step = steps[i]!;
      const started = Date.now();
      let ok = true;
      let detail: string | undefined;
      if ('send' in step) {
        try {
          this.#io.send(step.send);
        } catch (error) {
          ok = false;
          detail = (error as Error).message;
        }
      } else if ('wait' in step) {
        await this.#sleep(step.wait);
      } else {
        ({ ok, detail } = await this.#expect(step.expect, step.within ?? DEFAULT_WITHIN_MS));
      }
      if (this.#cancelled) {
        ok = false;
        detail = 'stopped';
      }
      const result: StepResult = { step: i + 1, description: describeStep(step), ok, ms: Date.now() - started, ...(detail === undefined ? {} : { detail }) };
      results.push(result);
      this.#io.result?.(result);
      if (!ok) break;
    }
    return results;
  }

  async #expect(match: ScriptMatch, within: number): Promise<{ ok: boolean; detail?: string }> {
    const deadline = Date.now() + within;
    let passed = 0;
    for (;;) {
      while (this.#inbox.length) {
        if (matches(match, this.#inbox.shift()!)) return { ok: true, ...(passed ? { detail: `${passed} other message(s) passed over` } : {}) };
        passed++;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.#cancelled) return { ok: false, detail: `no matching message within ${within} ms${passed ? ` (${passed} other message(s) arrived)` : ''}` };
      await this.#sleep(left, true);
    }
  }

  /** Waits `ms`; with `wakeOnMessage`, also until a message arrives. */
  #sleep(ms: number, wakeOnMessage = false): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (wakeOnMessage || this.#cancelled) this.#wake = done;
      else this.#wake = () => this.#cancelled && done();
    });
  }
}
