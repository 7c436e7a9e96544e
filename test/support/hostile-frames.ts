/**
 * Hostile frames for real servers (issue 14): a hostile value (hostile.ts) placed in every
 * envelope type and field, in both formats, with what PROTOCOL.md says the server does —
 * worked out here from the template and the value's stats, not by the product's decoders —
 * and a deliberately plain connection that speaks Lifeline by hand (JSON.parse and
 * @msgpack/msgpack read what comes back), so that it can send anything at any moment.
 */
import { once } from 'node:events';
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { mpMapHeader, mpStr, verdict, withTimeout, type Hostile } from './hostile.js';

export type Format = 'json' | 'msgpack';

/** A field's value in a template: the hostile slot, a literal, or an object of fields. */
type Part = { slot: true } | { lit: unknown } | { obj: [string, Part][] };

const SLOT: Part = { slot: true };
const lit = (value: unknown): Part => ({ lit: value });
const obj = (...fields: [string, Part][]): Part => ({ obj: fields });

function renderJson(part: Part, h: Hostile): string {
  if ('slot' in part) return h.json;
  if ('lit' in part) return JSON.stringify(part.lit);
  return `{${part.obj.map(([k, p]) => `${JSON.stringify(k)}:${renderJson(p, h)}`).join(',')}}`;
}

function renderMsgpack(part: Part, h: Hostile): Uint8Array[] {
  if ('slot' in part) return [h.msgpack];
  if ('lit' in part) return [msgpackEncode(part.lit)];
  return [mpMapHeader(part.obj.length), ...part.obj.flatMap(([k, p]) => [mpStr(k), ...renderMsgpack(p, h)])];
}

export function render(part: Part, h: Hostile, format: Format): string | Uint8Array {
  if (format === 'json') return renderJson(part, h);
  return Buffer.concat(renderMsgpack(part, h));
}

/** What the server does with a frame that is within the bounds. */
export type Accepted =
  /** Carries on; `reply` (if set) is the envelope that proves it read the frame. */
  | { kind: 'reply'; reply: (e: Record<string, unknown>) => boolean; describe: string }
  /** Closes the connection with this code, and an error envelope with the same. */
  | { kind: 'close'; code: 1002 | 1008; reason: RegExp };

export interface Template {
  name: string;
  /** Where the value sits: `room` levels it may nest, other values in the frame. */
  room: number;
  extraItems: number;
  /** The frame takes the sequence number `s` (an `m`, `q`, `r`). */
  numbered?: boolean;
  /** When in a session: `s` is the next sequence number. */
  frame(s: number): Part;
  /** What the server does when the frame is within the bounds. A probe `m` with `d: "probe"` follows every frame. */
  accepted(h: Hostile, format: Format): Accepted;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const codePoints = (s: string) => [...s].length;
const CHANNEL = /^[A-Za-z0-9_\-:.@/=+]{1,255}$/;
const SESSION_FIELD = /^[A-Za-z0-9_-]{1,128}$/;

/** Sent after the welcome, in a session whose next client `s` is given. */
/** Canonical base64: whole quads, then at most one padded quad whose unused bits are zero. */
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}[AQgw]==|[A-Za-z0-9+/]{3}[AEIMQUYcgkosw048]=)?$/;

export const SESSION_TEMPLATES: Template[] = [
  {
    name: 'm.d',
    room: 64,
    extraItems: 3,
    numbered: true,
    frame: (s) => obj(['t', lit('m')], ['s', lit(s)], ['d', SLOT]),
    accepted: (h) => ({ kind: 'reply', describe: 'the echo', reply: (e) => e.t === 'm' && (h.written === undefined || same(e.d, h.written)) }),
  },
  {
    name: 'q "echo" d',
    numbered: true,
    room: 64,
    extraItems: 5,
    frame: (s) => obj(['t', lit('q')], ['s', lit(s)], ['id', lit(77)], ['n', lit('echo')], ['d', SLOT]),
    accepted: (h) => ({ kind: 'reply', describe: 'the answer', reply: (e) => e.t === 'r' && e.id === 77 && (h.written === undefined || same(e.d, h.written)) }),
  },
  {
    name: 'an unknown field of m',
    numbered: true,
    room: 64,
    extraItems: 4,
    frame: (s) => obj(['t', lit('m')], ['s', lit(s)], ['d', lit('probe-x')], ['zz', SLOT]),
    accepted: () => ({ kind: 'reply', describe: 'the echo', reply: (e) => e.t === 'm' && e.d === 'probe-x' }),
  },
  {
    name: 'q.n',
    numbered: true,
    room: 64,
    extraItems: 5,
    frame: (s) => obj(['t', lit('q')], ['s', lit(s)], ['id', lit(78)], ['n', SLOT], ['d', lit(0)]),
    accepted: (h) =>
      isString(h.value) && h.value !== '' && codePoints(h.value) <= 128 && h.value !== 'echo' && !h.value.startsWith('$')
        ? { kind: 'reply', describe: 'LL_NO_HANDLER', reply: (e) => e.t === 'r' && e.id === 78 && (e.e as { code?: string } | undefined)?.code === 'LL_NO_HANDLER' }
        : { kind: 'close', code: 1002, reason: /q\.n/ },
  },
  {
    name: '$subscribe ch',
    numbered: true,
    room: 63,
    extraItems: 6,
    frame: (s) => obj(['t', lit('q')], ['s', lit(s)], ['id', lit(79)], ['n', lit('$subscribe')], ['d', obj(['ch', SLOT])]),
    accepted: (h) =>
      isString(h.value) && (CHANNEL.test(h.value) || (h.value.endsWith(':*') && CHANNEL.test(h.value.slice(0, -1)) && h.value.length > 2))
        ? { kind: 'reply', describe: 'the subscription', reply: (e) => e.t === 'r' && e.id === 79 && (e.d as { ch?: unknown } | undefined)?.ch === h.value }
        : { kind: 'reply', describe: 'LL_INVALID_CHANNEL', reply: (e) => e.t === 'r' && e.id === 79 && (e.e as { code?: string } | undefined)?.code === 'LL_INVALID_CHANNEL' },
  },
  {
    name: '$publish d.d',
    numbered: true,
    room: 63,
    extraItems: 7,
    frame: (s) => obj(['t', lit('q')], ['s', lit(s)], ['id', lit(80)], ['n', lit('$publish')], ['d', obj(['ch', lit('fz')], ['d', SLOT])]),
    // The routes of lifeline serve do not let clients publish.
    accepted: () => ({ kind: 'reply', describe: 'LL_FORBIDDEN', reply: (e) => e.t === 'r' && e.id === 80 && (e.e as { code?: string } | undefined)?.code === 'LL_FORBIDDEN' }),
  },
  {
    name: 'a.a',
    room: 64,
    extraItems: 2,
    frame: () => obj(['t', lit('a')], ['a', SLOT]),
    accepted: (h) =>
      h.value === 0
        ? { kind: 'reply', describe: 'nothing (a valid ack): the probe after it', reply: (e) => e.t === 'm' && e.d === 'probe' }
        : { kind: 'close', code: 1002, reason: /a\.a/ },
  },
  {
    name: 'a p from the client',
    room: 64,
    extraItems: 5,
    frame: () => obj(['t', lit('p')], ['ch', lit('a')], ['o', lit(1)], ['ep', lit('e')], ['d', SLOT]),
    accepted: () => ({ kind: 'close', code: 1008, reason: /p: only the server/ }),
  },
  {
    name: 'a pr from the client',
    room: 64,
    extraItems: 6,
    frame: () => obj(['t', lit('pr')], ['ch', lit('a')], ['count', lit(1)], ['join', lit([])], ['leave', lit([])], ['x', SLOT]),
    accepted: () => ({ kind: 'close', code: 1008, reason: /pr: only the server/ }),
  },
  {
    name: 'm.b',
    numbered: true,
    room: 64,
    extraItems: 3,
    frame: (s) => obj(['t', lit('m')], ['s', lit(s)], ['b', SLOT]),
    accepted: (h, format) =>
      // Canonical base64 (RFC 4648 §4, no bits left over before the padding) is valid, the
      // empty string too: an empty binary message (JSON mode only: MessagePack wants bin).
      format === 'json' && isString(h.value) && CANONICAL_BASE64.test(h.value)
        ? { kind: 'reply', describe: 'the echo (binary)', reply: (e) => e.t === 'm' && e.b !== undefined }
        : { kind: 'close', code: 1002, reason: /m\.b/ },
  },
];

/** The first frame of a connection: a hello with the value in one of its fields, or something else. */
export const FIRST_FRAME_TEMPLATES: Template[] = [
  {
    name: 'hello with an unknown field',
    room: 64,
    extraItems: 3,
    frame: () => obj(['t', lit('hello')], ['v', lit(1)], ['x', SLOT]),
    accepted: () => ({ kind: 'reply', describe: 'the welcome', reply: (e) => e.t === 'welcome' }),
  },
  {
    name: 'hello.sid',
    room: 64,
    extraItems: 5,
    frame: () => obj(['t', lit('hello')], ['v', lit(1)], ['sid', SLOT], ['tok', lit('abc')], ['rx', lit(0)]),
    accepted: (h) =>
      isString(h.value) && SESSION_FIELD.test(h.value)
        ? { kind: 'reply', describe: 'a welcome with reset', reply: (e) => e.t === 'welcome' && (e.reset as { reason?: string } | undefined)?.reason === 'unknown-session' }
        : { kind: 'close', code: 1002, reason: /hello\.sid/ },
  },
  {
    name: 'hello.auth',
    room: 64,
    extraItems: 3,
    frame: () => obj(['t', lit('hello')], ['v', lit(1)], ['auth', SLOT]),
    accepted: (h) =>
      isString(h.value) && h.value !== ''
        ? { kind: 'reply', describe: 'the welcome (the route has no auth)', reply: (e) => e.t === 'welcome' }
        : { kind: 'close', code: 1002, reason: /hello\.auth/ },
  },
  {
    name: 'hello.v',
    room: 64,
    extraItems: 2,
    frame: () => obj(['t', lit('hello')], ['v', SLOT]),
    accepted: () => ({ kind: 'close', code: 1002, reason: /hello\.v/ }),
  },
  {
    name: 'an m before hello',
    room: 64,
    extraItems: 3,
    frame: () => obj(['t', lit('m')], ['s', lit(1)], ['d', SLOT]),
    accepted: () => ({ kind: 'close', code: 1008, reason: /first envelope must be hello/ }),
  },
];

/** Deep equality for decoded values (NaN never appears: encoders write null). */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The frame's expected outcome: refused for a broken bound or rule, else the template's. */
export function expectation(t: Template, h: Hostile, format: Format): { kind: 'refuse'; reasons: RegExp[] } | Accepted {
  const v = verdict(h.stats, t.room, t.extraItems);
  return v.ok ? t.accepted(h, format) : { kind: 'refuse', reasons: v.reasons };
}

/** How long a HandConnection waits for anything (an open, an envelope, a close) before it fails naming it. */
export const HAND_WAIT_MS = 45_000;

const bounded = <T>(p: Promise<T>, what: string): Promise<T> => withTimeout(p, `waiting for ${what}`, HAND_WAIT_MS);

/**
 * One Lifeline connection spoken by hand: it numbers what it sends, acknowledges what it
 * receives (every envelope it gets), records every envelope and the close.
 */
export class HandConnection {
  readonly ws: WebSocket;
  readonly envelopes: Record<string, unknown>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  seq = 0;
  rx = 0;
  sid: string | undefined;
  tok: string | undefined;
  private waiters: { test: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];

  constructor(
    url: string,
    readonly format: Format,
    /** Acknowledge what arrives (default); false: the server keeps it for replay. */
    readonly autoAck = true,
  ) {
    this.ws = new WebSocket(url, [format === 'json' ? 'lifeline.v1' : 'lifeline.v1.msgpack'], { maxPayload: 0 });
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('message', (data: Buffer) => this.receive(data));
  }

  async open(): Promise<void> {
    await bounded(Promise.race([once(this.ws, 'open'), this.closed.then((c) => Promise.reject(new Error(`closed before open: ${c.code}`)))]), 'the open');
  }

  /** hello → welcome, optionally resuming. */
  async hello(resume?: { sid: string; tok: string; rx: number }): Promise<Record<string, unknown>> {
    this.sendEnvelope(resume ? { t: 'hello', v: 1, ...resume } : { t: 'hello', v: 1 });
    const welcome = await this.next((e) => e.t === 'welcome', 'the welcome');
    this.sid = welcome.sid as string;
    this.tok = welcome.tok as string;
    return welcome;
  }

  sendEnvelope(e: Record<string, unknown>): void {
    this.send(this.format === 'json' ? JSON.stringify(e) : msgpackEncode(e));
  }

  send(frame: string | Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame, { binary: typeof frame !== 'string' });
  }

  /** An `m` numbered in order; resolves with its echo. */
  async echo(d: unknown): Promise<Record<string, unknown>> {
    const s = ++this.seq;
    this.sendEnvelope({ t: 'm', s, d });
    return this.next((e) => e.t === 'm' && same(e.d, d), `the echo of m ${s}`);
  }

  async request(n: string, d: unknown): Promise<Record<string, unknown>> {
    const s = ++this.seq;
    const id = 1000 + s;
    this.sendEnvelope({ t: 'q', s, id, n, d });
    return this.next((e) => e.t === 'r' && e.id === id, `the answer to ${n}`);
  }

  /** The first envelope (already received or still to come) that passes `test`; rejects if the connection closes first. */
  next(test: (e: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
    const seen = this.envelopes.find(test);
    if (seen) return Promise.resolve(seen);
    const waiter = new Promise<Record<string, unknown>>((resolve, reject) => {
      this.waiters.push({ test, resolve });
      void this.closed.then((c) => reject(new Error(`closed ${c.code} "${c.reason}" before ${what}`)));
    });
    return bounded(waiter, what);
  }

  /**
   * The close the server must make after a refused frame. Rejects at once, instead of
   * waiting for a close that will never come, if an envelope from now on passes `wentOn`
   * (the probe sent after the frame, or a welcome): the server carried the frame on.
   */
  closeInstead(wentOn: (e: Record<string, unknown>) => boolean, what: string): Promise<{ code: number; reason: string }> {
    const from = this.envelopes.length;
    const carriedOn = this.next((e) => this.envelopes.indexOf(e) >= from && wentOn(e), what).then(
      (e) => Promise.reject(new Error(`${what}: expected a close, but the server carried on and sent ${JSON.stringify(e)}`)),
      () => new Promise<never>(() => {}), // closed: the race is the close's
    );
    return bounded(Promise.race([this.closed, carriedOn]), `the close after ${what}`);
  }

  get errors(): Record<string, unknown>[] {
    return this.envelopes.filter((e) => e.t === 'error');
  }

  close(): void {
    this.ws.terminate();
  }

  private receive(data: Buffer): void {
    const e = (this.format === 'json' ? JSON.parse(data.toString()) : msgpackDecode(data)) as Record<string, unknown>;
    this.envelopes.push(e);
    if ((e.t === 'm' || e.t === 'q' || e.t === 'r') && typeof e.s === 'number' && e.s > this.rx) {
      this.rx = e.s;
      if (this.autoAck) this.sendEnvelope({ t: 'a', a: this.rx });
    }
    if (e.t === 'ping') this.sendEnvelope({ t: 'pong', ts: e.ts });
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(e)) return true;
      w.resolve(e);
      return false;
    });
  }
}
