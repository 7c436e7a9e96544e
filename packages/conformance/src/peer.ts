/**
 * The kit's own lifeline.v1 client, written from PROTOCOL.md alone. It behaves as a correct
 * client by default (acknowledges within 50 ms, answers the server's pings and requests,
 * resumes and replays as §2.4 says) and lets a check switch each of those off, write any
 * frame it likes, and wait for what comes back. Everything the server sends is judged on
 * arrival: an envelope that breaks §2.1, a gap, an acknowledgement above what the kit
 * numbered, a second welcome, an error envelope whose close disagrees with it — each is a
 * violation, and a check with violations fails.
 */
import { isDeepStrictEqual } from 'node:util';
import { binaryForm, bytesOf, decodeFrame, encodeEnvelope, SUBPROTOCOL, type Codec, type Envelope } from './codec.js';
import { Link, type LinkEvent } from './link.js';
import { Failure } from './outcome.js';
import { Waiters } from './waiters.js';
import { asCloseReason, serverEnvelopeProblem } from './wire.js';

/** The state of one session as the client keeps it across its connections (§2.4). */
export class Session {
  sid = '';
  tok = '';
  /** The last `s` delivered from the server: the `rx` of the next hello. */
  delivered = 0;
  /** The last `s` this side numbered (and wrote: the kit numbers as it writes, §2.0). */
  numbered = 0;
  /** Sequenced envelopes written and not yet acknowledged (the replay buffer, §2.3). */
  readonly buffer = new Map<number, Envelope>();
  /** The highest acknowledgement the server sent (`a` or `welcome.rx`). */
  acked = 0;
  /** The highest acknowledgement this side sent (`a`, an `a` field, `hello.rx`). */
  ackSent = 0;
  /** Every sequenced envelope delivered from the server, in order, for the session's life. */
  readonly log: Envelope[] = [];
  /** After a reset: the envelopes written to the old session and never acknowledged (§2.4 R7). */
  unconfirmed: Envelope[] = [];
  /** The request id the next `q` gets. */
  nextId = 1;

  /** A sequenced envelope a check wrote by hand (raw text or bytes): numbered and kept for replay as sendSequenced keeps its own. */
  wroteByHand(env: Envelope & { s: number }): void {
    this.numbered = Math.max(this.numbered, env.s);
    this.buffer.set(env.s, env);
  }

  /** A copy that shares nothing: for a second client that claims the same session (an impostor, a stale copy). */
  clone(): Session {
    const copy = new Session();
    Object.assign(copy, { ...this, buffer: new Map(this.buffer), log: [...this.log], unconfirmed: [...this.unconfirmed] });
    return copy;
  }

  reset(sid: string, tok: string): void {
    this.unconfirmed = [...this.buffer.values()];
    this.buffer.clear();
    this.sid = sid;
    this.tok = tok;
    this.delivered = 0;
    this.numbered = 0;
    this.acked = 0;
    this.ackSent = 0;
    this.log.length = 0;
    this.nextId = 1;
  }
}

/** One thing that arrived, decoded. */
export type Item =
  | { kind: 'env'; env: Envelope; at: number; bytes: number; /** It came in a binary frame (MessagePack, or JSON's binary form, §2.8). */ binary: boolean }
  | { kind: 'bad'; problem: string; at: number }
  | { kind: 'close'; code: number; reason: string; at: number };

export interface PeerContext {
  t(ms: number): number;
  /** Problems found on the wire, by every peer of the running check. */
  violation(text: string): void;
}

export interface PeerOptions {
  /** Send `a` within about 10 ms of a sequenced envelope arriving (§2.3 R3). Default true. */
  autoAck?: boolean;
  /** Answer the server's `ping` with a `pong` (§2.5 R3). Default true. */
  autoPong?: boolean;
  /** Answer the server's requests: `echo` with its payload, any other name `LL_NO_HANDLER` (§2.1 R5). Default true. */
  autoAnswer?: boolean;
}

const SKIP_DEFAULT = new Set(['ping', 'a']);

export class Peer {
  readonly items: Item[] = [];
  /** Index of the next item `next()` looks at. */
  cursor = 0;
  welcome: Envelope | undefined;
  session: Session;
  autoAck: boolean;
  autoPong: boolean;
  autoAnswer: boolean;
  /** Set when this connection sent a resume hello: the session it asked for. */
  private resumeOf: { sid: string; tok: string } | undefined;
  /** This connection's hello asked for the binary form (§2.8), and its welcome agreed. */
  private askedBinary = false;
  binaryForm = false;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly waiters = new Waiters();
  private lastError: Envelope | undefined;

  constructor(
    readonly ctx: PeerContext,
    readonly link: Link,
    readonly codec: Codec,
    options: PeerOptions = {},
    session = new Session(),
  ) {
    this.session = session;
    this.autoAck = options.autoAck ?? true;
    this.autoPong = options.autoPong ?? true;
    this.autoAnswer = options.autoAnswer ?? true;
    for (const event of link.events) this.take(event);
    link.listener = (event) => this.take(event);
  }

  /** Opens a connection offering the codec's subprotocol (or `protocols`) and checks the server selected it. */
  static async connect(ctx: PeerContext & { headers?: Record<string, string> }, url: string, codec: Codec, options: PeerOptions & { protocols?: string[] } = {}): Promise<Peer> {
    const result = await Link.connect(url, { protocols: options.protocols ?? [SUBPROTOCOL[codec]], headers: ctx.headers, timeoutMs: ctx.t(10_000) });
    if (!result.ok) {
      if ('refusal' in result) throw new Failure(`the upgrade was refused: HTTP ${result.refusal.status} ${result.refusal.body.trim().slice(0, 120)}`);
      throw new Failure(`could not connect to ${url}: ${result.error}`);
    }
    if (result.link.protocol !== SUBPROTOCOL[codec]) {
      result.link.terminate();
      throw new Failure(`offered ${SUBPROTOCOL[codec]}, the server selected ${result.link.protocol ? JSON.stringify(result.link.protocol) : 'no subprotocol'} (§2)`);
    }
    return new Peer(ctx, result.link, codec, options);
  }

  // ----- what arrives ---------------------------------------------------------------

  private take(event: LinkEvent): void {
    let item: Item;
    if (event.kind === 'close') {
      item = { kind: 'close', code: event.code, reason: event.reason, at: event.at };
      if (this.lastError) {
        const message = String(this.lastError['message']);
        if (event.code !== this.lastError['code']) this.ctx.violation(`§2.6 R1: error envelope said code ${String(this.lastError['code'])}, the close was ${event.code}`);
        else if (event.reason !== asCloseReason(message)) this.ctx.violation(`§2.6 R1: error message ${JSON.stringify(message.slice(0, 60))} but close reason ${JSON.stringify(event.reason.slice(0, 60))}`);
      }
      if (this.ackTimer) clearTimeout(this.ackTimer);
    } else {
      const decoded = decodeFrame(this.codec, event.data, event.binary, this.binaryForm);
      if (!decoded.ok) {
        item = { kind: 'bad', problem: decoded.problem, at: event.at };
        this.ctx.violation(`§2.1 R1: the server sent ${decoded.problem}`);
      } else {
        item = { kind: 'env', env: decoded.env, at: event.at, bytes: event.data.length, binary: event.binary };
        this.receive(decoded.env);
      }
    }
    this.items.push(item);
    this.waiters.wake();
  }

  private receive(env: Envelope): void {
    const problem = serverEnvelopeProblem(this.codec, env);
    if (problem) {
      this.ctx.violation(problem);
      return;
    }
    const t = env['t'] as string;
    if (this.lastError) this.ctx.violation(`§2.6: the server sent ${t} after its error envelope (it must close)`);
    if (!this.welcome && t !== 'welcome' && t !== 'error') {
      this.ctx.violation(`§2.2 R2: the server sent ${t} before answering the hello`);
    }
    switch (t) {
      case 'welcome':
        if (this.welcome) this.ctx.violation('§2.6: a second welcome on one connection');
        else this.onWelcome(env);
        return;
      case 'error':
        this.lastError = env;
        return;
      case 'ping':
        if (this.autoPong) this.send({ t: 'pong', ts: env['ts'] });
        return;
      case 'a':
        this.onAck(env['a'] as number);
        return;
      case 'm':
      case 'q':
      case 'r':
        this.onSequenced(env);
        return;
      default:
        return; // pong, p, pr: kept in items for the checks
    }
  }

  private onWelcome(env: Envelope): void {
    this.welcome = env;
    const bin = env['bin'];
    if (bin !== undefined && typeof bin !== 'boolean') this.ctx.violation('§2.8 R2: welcome.bin is not a boolean');
    if (bin === true && (!this.askedBinary || this.codec !== 'json')) this.ctx.violation('§2.8 R2: welcome.bin is true, but the hello did not ask for the binary form in JSON mode');
    this.binaryForm = this.askedBinary && bin === true;
    const s = this.session;
    const sid = env['sid'] as string;
    const tok = env['tok'] as string;
    const rx = env['rx'] as number;
    if (!this.resumeOf) {
      if (env['resumed'] !== false) this.ctx.violation('§2.2 R6: a welcome to a hello without sid has resumed: true');
      if (rx !== 0) this.ctx.violation(`§2.2 R6: a new session's welcome has rx ${rx}, not 0`);
      // A fresh Session: what was numbered before the welcome (an m right behind the hello) stays numbered.
      s.sid = sid;
      s.tok = tok;
      return;
    }
    if (env['resumed'] === true) {
      if (sid !== this.resumeOf.sid) this.ctx.violation('§2.4 R2: a resumed welcome carries another sid than the hello asked for');
      if (tok !== this.resumeOf.tok) this.ctx.violation('§2.4 R2/R4: a resumed welcome carries another tok');
      if (rx > s.numbered) this.ctx.violation(`§2.4: welcome.rx ${rx} is above the last s the client sent (${s.numbered})`);
      else if (rx < s.acked) this.ctx.violation(`§2.4: welcome.rx ${rx} is below what the server already acknowledged (${s.acked})`);
      else this.onAck(rx);
      // §2.4 R3: write every envelope numbered after welcome.rx, in order, before anything new.
      for (const [seq, held] of [...s.buffer.entries()].sort((x, y) => x[0] - y[0])) if (seq > rx) this.write(held);
      return;
    }
    if (env['reset'] === undefined) this.ctx.violation('§2.4 R5: a welcome that answers a resume with a new session has no reset');
    if (sid === this.resumeOf.sid) this.ctx.violation('§2.4 R5: a reset welcome keeps the old sid');
    if (tok === this.resumeOf.tok) this.ctx.violation('§2.4 R5: a reset welcome keeps the old tok');
    if (rx !== 0) this.ctx.violation('§2.4 R5: a reset welcome has rx ' + rx + ', not 0');
    s.reset(sid, tok);
  }

  private onAck(a: number): void {
    const s = this.session;
    if (a > s.numbered) {
      this.ctx.violation(`§2.3 R5: the server acknowledged ${a}, above the last s the client numbered (${s.numbered})`);
      return;
    }
    if (a <= s.acked) return;
    s.acked = a;
    for (const seq of [...s.buffer.keys()]) if (seq <= a) s.buffer.delete(seq);
  }

  private onSequenced(env: Envelope): void {
    const s = this.session;
    const seq = env['s'] as number;
    if (typeof env['a'] === 'number') this.onAck(env['a']);
    if (seq > s.delivered + 1) {
      this.ctx.violation(`§2.3 R2: a gap: the server sent s=${seq} after ${s.delivered}`);
      return;
    }
    if (seq === s.delivered + 1) {
      s.delivered = seq;
      s.log.push(env);
      if (env['t'] === 'q' && this.autoAnswer) this.answer(env);
    }
    if (this.autoAck) this.scheduleAck();
  }

  /** The kit's own request handling (§2.1 R5): `echo` answers its payload, everything else `LL_NO_HANDLER`. */
  answer(q: Envelope, result?: { d: unknown } | { e: { code: string; message: string } }): void {
    const id = q['id'];
    let body: Envelope;
    if (result) body = { ...result };
    else if (q['n'] === 'echo') body = 'b' in q ? { b: bytesOf(this.codec, q['b']) } : { d: q['d'] };
    else body = { e: { code: 'LL_NO_HANDLER', message: `no handler for ${String(q['n']).slice(0, 40)}` } };
    this.sendSequenced({ t: 'r', id, ...body });
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (this.session.delivered > this.session.ackSent) this.ack();
    }, 10);
  }

  // ----- what the kit sends -----------------------------------------------------------

  /** Writes any envelope as it is (numbering, if any, is the caller's). Tracks `s` and `a` it carries. */
  send(env: Envelope): void {
    const s = this.session;
    if (typeof env['s'] === 'number' && Number.isInteger(env['s'])) s.numbered = Math.max(s.numbered, env['s']);
    if (typeof env['a'] === 'number' && Number.isInteger(env['a'])) s.ackSent = Math.max(s.ackSent, env['a']);
    this.write(env);
  }

  private write(env: Envelope): void {
    if (env['t'] === 'hello') this.askedBinary = env['bin'] === true && this.codec === 'json';
    const frame = encodeEnvelope(this.codec, env);
    if (typeof frame === 'string') this.link.sendText(frame);
    else this.link.sendBinary(frame);
  }

  sendText(text: string | Buffer): void {
    this.link.sendText(text);
  }

  sendBinary(bytes: Uint8Array): void {
    this.link.sendBinary(bytes);
  }

  /** Numbers an `m`, `q` or `r`, keeps it for replay, and writes it (with an ack riding on it when one is due). */
  sendSequenced(env: Envelope): number {
    const s = this.session;
    const seq = ++s.numbered;
    const out: Envelope = { ...env, s: seq };
    if (this.autoAck && s.delivered > s.ackSent) out['a'] = s.delivered;
    s.buffer.set(seq, out);
    this.send(out);
    return seq;
  }

  /**
   * §2.8: numbers an `m`, `q` or `r` whose `b` is `bytes` and writes it in the binary form
   * (kept for replay as the envelope; a resume writes it as text, which either form allows).
   */
  sendBinaryForm(env: Envelope, bytes: Uint8Array): number {
    const s = this.session;
    const seq = ++s.numbered;
    const out: Envelope = { ...env, s: seq };
    if (this.autoAck && s.delivered > s.ackSent) out['a'] = s.delivered;
    if (typeof out['a'] === 'number') s.ackSent = Math.max(s.ackSent, out['a']);
    s.buffer.set(seq, { ...out, b: bytes });
    this.link.sendBinary(binaryForm(out, bytes));
    return seq;
  }

  /** An application message with `d` (or `b`, when given bytes). */
  sendM(payload: { d: unknown } | { b: Uint8Array }): number {
    return this.sendSequenced({ t: 'm', ...payload });
  }

  /** A request; resolves with its id. */
  request(n: string, payload: { d: unknown } | { b: Uint8Array }): number {
    const id = this.session.nextId++;
    this.sendSequenced({ t: 'q', id, n, ...payload });
    return id;
  }

  /** A standalone acknowledgement of everything delivered. */
  ack(value = this.session.delivered): void {
    this.send({ t: 'a', a: value });
  }

  /** Starts a new session: `hello` with v 1 (plus any extra fields), then waits for the welcome. */
  async hello(extra: Envelope = {}): Promise<Envelope> {
    this.send({ t: 'hello', v: 1, ...extra });
    return this.expectWelcome();
  }

  /** Resumes `session` on this connection (its sid, tok and rx unless overridden), and waits for the welcome. */
  async resume(session: Session, overrides: Envelope = {}): Promise<Envelope> {
    this.session = session;
    const hello: Envelope = { t: 'hello', v: 1, sid: session.sid, tok: session.tok, rx: session.delivered, ...overrides };
    this.resumeOf = { sid: String(hello['sid']), tok: String(hello['tok']) };
    if (typeof hello['rx'] === 'number') session.ackSent = Math.max(session.ackSent, hello['rx']);
    this.write(hello);
    return this.expectWelcome();
  }

  /** Sends a resume hello for `session` without waiting (for checks that expect something else than a welcome). */
  sendResumeHello(session: Session, overrides: Envelope = {}): void {
    this.session = session;
    const hello: Envelope = { t: 'hello', v: 1, sid: session.sid, tok: session.tok, rx: session.delivered, ...overrides };
    this.resumeOf = { sid: String(hello['sid']), tok: String(hello['tok']) };
    this.write(hello);
  }

  async expectWelcome(): Promise<Envelope> {
    const item = await this.next('the welcome');
    if (item.kind === 'env' && item.env['t'] === 'welcome') return item.env;
    throw new Failure(`expected a welcome, got ${describe(item)}`);
  }

  // ----- waiting ----------------------------------------------------------------------

  /** Resolves when an item beyond `count` exists, false at the deadline. */
  private changed(count: number, timeoutMs: number): Promise<boolean> {
    return this.waiters.wait(this.items.length > count, timeoutMs);
  }

  /**
   * The next item after the cursor that is not a `ping` or a standalone `a` (those may come
   * at any time, §2.1 R3), or whatever `skip` names; waits up to `timeoutMs` (scaled 5 s by default).
   */
  async next(what: string, options: { timeoutMs?: number; skip?: ReadonlySet<string> } = {}): Promise<Item> {
    const skip = options.skip ?? SKIP_DEFAULT;
    const deadline = performance.now() + (options.timeoutMs ?? this.ctx.t(5000));
    for (;;) {
      while (this.cursor < this.items.length) {
        const item = this.items[this.cursor++]!;
        if (item.kind === 'env' && skip.has(item.env['t'] as string)) continue;
        return item;
      }
      const left = deadline - performance.now();
      if (left <= 0 || !(await this.changed(this.items.length, left))) {
        throw new Failure(`waiting for ${what}: nothing within ${Math.round(options.timeoutMs ?? this.ctx.t(5000))} ms`);
      }
    }
  }

  /**
   * The first item from the cursor on that `match` accepts (the cursor moves past it). A close
   * before it fails with what the close said, unless `match` accepts the close.
   */
  async waitFor(what: string, match: (item: Item) => boolean, timeoutMs = this.ctx.t(5000)): Promise<Item> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.items.length) {
        const item = this.items[this.cursor++]!;
        if (match(item)) return item;
        if (item.kind === 'close') {
          this.cursor--; // the close stays for whoever waits for it next
          throw new Failure(`waiting for ${what}: the connection closed first: ${describe(item)}${this.errorNote()}`);
        }
      }
      const left = deadline - performance.now();
      if (left <= 0 || !(await this.changed(this.items.length, left))) throw new Failure(`waiting for ${what}: nothing within ${Math.round(timeoutMs)} ms`);
    }
  }

  private errorNote(): string {
    return this.lastError ? ` (after error ${String(this.lastError['code'])} ${JSON.stringify(String(this.lastError['message']).slice(0, 80))})` : '';
  }

  /** Waits until the server delivered an `m` whose payload equals `payload`; returns it. */
  async expectEcho(payload: { d: unknown } | { b: Uint8Array }, what = 'the echo'): Promise<Envelope> {
    const item = await this.waitFor(what, (i) => i.kind === 'env' && i.env['t'] === 'm' && samePayload(this.codec, i.env, payload));
    return (item as { env: Envelope }).env;
  }

  /**
   * Waits for the `r` answering request `id`, wherever it is: answers need not come in the
   * order of their requests. The cursor is left where it was.
   */
  async expectAnswer(id: number, what = `the answer to request ${id}`): Promise<Envelope> {
    const isAnswer = (i: Item) => i.kind === 'env' && i.env['t'] === 'r' && i.env['id'] === id;
    const cursor = this.cursor;
    this.cursor = 0;
    try {
      const item = await this.waitFor(what, isAnswer);
      return (item as { env: Envelope }).env;
    } finally {
      this.cursor = cursor;
    }
  }

  /**
   * §2.6: the server's answer to a protocol error is an `error` envelope with the close code,
   * then the close with that code and the message as its reason. Returns the message.
   */
  async expectErrorClose(expected: number | readonly number[], what: string, options: { envelope?: 'required' | 'optional' } = {}): Promise<string> {
    const codes: readonly number[] = typeof expected === 'number' ? [expected] : expected;
    const said = codes.join(' or ');
    const first = await this.next(`${what}: the error envelope and close ${said}`, { timeoutMs: this.ctx.t(10_000) });
    if (first.kind === 'close') {
      if (!codes.includes(first.code)) throw new Failure(`${what}: closed with ${first.code} ${JSON.stringify(first.reason)}, expected ${said}`);
      if (options.envelope !== 'optional') throw new Failure(`${what}: closed with ${first.code} but sent no error envelope first (§2.6)`);
      return first.reason;
    }
    if (first.kind !== 'env' || first.env['t'] !== 'error') throw new Failure(`${what}: expected an error envelope with code ${said}, got ${describe(first)}`);
    const code = first.env['code'] as number;
    if (!codes.includes(code)) throw new Failure(`${what}: error envelope code ${String(code)} ${JSON.stringify(first.env['message'])}, expected ${said}`);
    const closed = await this.link.waitClosed(this.ctx.t(10_000), what);
    if (closed.code !== code) throw new Failure(`${what}: the error said ${code}, the close was ${closed.code}`);
    return String(first.env['message']);
  }

  /** Waits for the close; returns it. */
  async expectClose(what: string, timeoutMs = this.ctx.t(10_000)): Promise<{ code: number; reason: string }> {
    const item = await this.waitFor(what, (i) => i.kind === 'close', timeoutMs);
    return item as { code: number; reason: string };
  }

  get closed(): boolean {
    return this.link.closed !== undefined;
  }

  /** Ends the session (close 1000, §2.4 R10) if the connection is still open. */
  end(): void {
    this.link.close(1000, 'conformance check done');
  }

  drop(): void {
    this.link.terminate();
  }

  /** Waits until the kit's close (or drop) took effect. */
  async dropped(): Promise<void> {
    this.link.terminate();
    await this.link.waitClosed(this.ctx.t(10_000), 'dropping the connection');
  }
}

/** Same payload: `d` deep-equal, or `b` the same bytes. */
export function samePayload(codec: Codec, env: Envelope, payload: { d: unknown } | { b: Uint8Array }): boolean {
  if ('b' in payload) {
    const bytes = bytesOf(codec, env['b']);
    return bytes !== undefined && Buffer.from(bytes).equals(Buffer.from(payload.b));
  }
  return Object.prototype.hasOwnProperty.call(env, 'd') && isDeepStrictEqual(env['d'], payload.d);
}

export function describe(item: Item): string {
  if (item.kind === 'close') return `close ${item.code} ${JSON.stringify(item.reason)}`;
  if (item.kind === 'bad') return item.problem;
  const text = JSON.stringify(item.env, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)) ?? '';
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}
