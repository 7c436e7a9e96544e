/**
 * A deliberately small Lifeline-mode client (PROTOCOL.md §2) over `ws`, for tests: it keeps
 * one session across connections, numbers what it sends, keeps it until acknowledged,
 * resends after a resume, drops duplicates, acknowledges, answers pings and requests.
 * It checks the server as it goes (sequence gaps, stale welcomes) and records what it saw,
 * so that tests can assert on it. Not a product: see @lifeline/client for that.
 */
import { once } from 'node:events';
import {
  decodeEnvelope,
  encodeEnvelope,
  LIFELINE_JSON_PROTOCOL,
  LIFELINE_MSGPACK_PROTOCOL,
  type Envelope,
  type ErrorEnvelope,
  type PongEnvelope,
  type PresenceEnvelope,
  type PublicationEnvelope,
  type ResponseError,
  type WelcomeEnvelope,
} from '@lifeline/protocol';
import { decodeEnvelopeMsgpack, encodeEnvelopeMsgpack } from '@lifeline/protocol/msgpack';
import WebSocket from 'ws';

export interface LifelineTestClientOptions {
  format?: 'json' | 'msgpack';
  /** Send `a` envelopes (10 ms after receiving); default true. False: the client never acknowledges. */
  autoAck?: boolean;
  /** Answer `ping` with `pong`; default true. */
  autoPong?: boolean;
}

type Outgoing = { t: 'm'; s: number; d?: unknown; b?: Uint8Array } | { t: 'q'; s: number; id: number; n: string; d: unknown } | { t: 'r'; s: number; id: number; d?: unknown; e?: ResponseError };

export class LifelineTestClient {
  ws: WebSocket | null = null;
  sid: string | undefined;
  tok: string | undefined;
  /** The last sequence number received from the server and delivered. */
  rx = 0;
  /** The last sequence number this client used. */
  seq = 0;
  /** Payloads of the server's `m` envelopes, in delivery order (`d`, or a Buffer for `b`). */
  readonly messages: unknown[] = [];
  /** Every envelope received, on every connection. */
  readonly envelopes: Envelope[] = [];
  readonly welcomes: WelcomeEnvelope[] = [];
  readonly errors: ErrorEnvelope[] = [];
  /** The server's answers to this client's `ping` probes (PROTOCOL.md §2.5). */
  readonly pongs: PongEnvelope[] = [];
  /** Channel publications (`p`) and presence changes (`pr`), in arrival order (PROTOCOL.md §3). */
  readonly publications: PublicationEnvelope[] = [];
  readonly presence: PresenceEnvelope[] = [];
  /** Sequence errors seen in the server's stream (should stay empty). */
  readonly problems: string[] = [];
  duplicates = 0;
  private outbox: Outgoing[] = [];
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly handlers = new Map<string, (data: unknown) => unknown>();
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 1;
  readonly format: 'json' | 'msgpack';
  autoAck: boolean;
  autoPong: boolean;

  constructor(
    readonly url: string,
    options: LifelineTestClientOptions = {},
  ) {
    this.format = options.format ?? 'json';
    this.autoAck = options.autoAck ?? true;
    this.autoPong = options.autoPong ?? true;
  }

  get protocol(): string {
    return this.format === 'json' ? LIFELINE_JSON_PROTOCOL : LIFELINE_MSGPACK_PROTOCOL;
  }

  /** Envelopes sent and not yet acknowledged by the server. */
  get unacked(): number {
    return this.outbox.length;
  }

  /** Opens a connection; unless `hello: false`, says hello (resuming the session it has) and resolves with the welcome. */
  async connect(options: { hello?: boolean } = {}): Promise<WelcomeEnvelope | undefined> {
    const ws = new WebSocket(this.url, [this.protocol]);
    this.ws = ws;
    ws.on('message', (data: Buffer, binary) => this.onFrame(ws, data, binary));
    ws.on('error', () => {}); // the close event reports it
    ws.on('close', (code: number, reason: Buffer) => {
      if (ws === this.ws) this.lastClose = { code, reason: reason.toString() };
    });
    await once(ws, 'open');
    if (ws.protocol !== this.protocol) throw new Error(`server selected "${ws.protocol}", not ${this.protocol}`);
    if (options.hello === false) return undefined;
    const welcome = new Promise<WelcomeEnvelope>((resolve, reject) => {
      const onMessage = () => {
        const last = this.welcomes.at(-1);
        if (last && this.ws === ws && this.welcomeSeenOn === ws) {
          ws.off('message', onMessage);
          ws.off('close', onClose);
          resolve(last);
        }
      };
      const onClose = (code: number, reason: Buffer) => reject(new Error(`closed before welcome: ${code} ${reason.toString()}`));
      ws.on('message', onMessage);
      ws.on('close', onClose);
    });
    this.sendEnvelope(this.sid !== undefined && this.tok !== undefined ? { t: 'hello', v: 1, sid: this.sid, tok: this.tok, rx: this.rx } : { t: 'hello', v: 1 });
    return welcome;
  }

  private welcomeSeenOn: WebSocket | null = null;

  /** Resolves with the close code and reason of the current connection. */
  closed(): Promise<{ code: number; reason: string }> {
    const ws = this.ws!;
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(this.lastClose!);
    return once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: (reason as Buffer).toString() }));
  }

  lastClose: { code: number; reason: string } | undefined;

  /** Sends an application message (`m`) with payload `d`, or `b` for bytes. Queued while disconnected. */
  send(data: unknown): void {
    const s = ++this.seq;
    const e: Outgoing = data instanceof Uint8Array ? { t: 'm', s, b: data } : { t: 'm', s, d: data };
    this.outbox.push(e);
    this.write(e);
  }

  request(name: string, data: unknown): Promise<unknown> {
    const id = this.nextId++;
    const e: Outgoing = { t: 'q', s: ++this.seq, id, n: name, d: data };
    this.outbox.push(e);
    this.write(e);
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  handle(name: string, handler: (data: unknown) => unknown): void {
    this.handlers.set(name, handler);
  }

  /** Sends any envelope as is (encoded and validated by the codec). */
  sendEnvelope(envelope: Envelope): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (this.format === 'json') ws.send(encodeEnvelope(envelope));
    else ws.send(encodeEnvelopeMsgpack(envelope), { binary: true });
  }

  /** Sends a raw frame, for malformed input. */
  sendFrame(data: string | Buffer, binary = typeof data !== 'string'): void {
    this.ws!.send(data, { binary });
  }

  /** Cuts the TCP connection without a closing handshake (both sides see 1006). */
  /**
   * Takes over `other`'s session, as one client reconnecting would (to another node, say):
   * its id, token, positions, unacknowledged envelopes and requests in flight.
   */
  continueFrom(other: LifelineTestClient): void {
    this.sid = other.sid;
    this.tok = other.tok;
    this.rx = other.rx;
    this.seq = other.seq;
    this.outbox = [...other.outbox];
    for (const [id, p] of other.pending) this.pending.set(id, p);
    other.pending.clear();
    this.nextId = other.nextId;
  }

  drop(): void {
    (this.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
  }

  close(): void {
    clearTimeout(this.ackTimer);
    this.ws?.close();
  }

  ackNow(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.sendEnvelope({ t: 'a', a: this.rx });
  }

  private write(e: Outgoing): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.welcomeSeenOn !== ws) return;
    this.sendEnvelope({ ...e, a: this.rx } as Envelope);
  }

  private onFrame(ws: WebSocket, data: Buffer, binary: boolean): void {
    if (ws !== this.ws) return;
    const envelope = this.format === 'json' ? decodeEnvelope(data.toString()) : decodeEnvelopeMsgpack(data);
    if (binary !== (this.format === 'msgpack')) this.problems.push(`frame type does not match ${this.format}`);
    this.envelopes.push(envelope);
    switch (envelope.t) {
      case 'welcome': {
        this.welcomes.push(envelope);
        if (envelope.resumed) {
          if (envelope.sid !== this.sid) this.problems.push('resumed a different session');
          this.outbox = this.outbox.filter((e) => e.s > envelope.rx);
        } else {
          // a new session: whatever the old one held is gone (a reset), numbering starts again
          this.outbox = [];
          this.seq = 0;
          this.rx = 0;
          for (const [, p] of this.pending) p.reject(new Error('session reset'));
          this.pending.clear();
        }
        this.sid = envelope.sid;
        this.tok = envelope.tok;
        this.welcomeSeenOn = ws;
        for (const e of this.outbox) this.write(e);
        return;
      }
      case 'm':
      case 'q':
      case 'r': {
        if (envelope.a !== undefined) this.acked(envelope.a);
        if (envelope.s <= this.rx) {
          this.duplicates++;
          this.scheduleAck();
          return;
        }
        if (envelope.s !== this.rx + 1) {
          this.problems.push(`gap: got s=${envelope.s} after ${this.rx}`);
          return;
        }
        this.rx = envelope.s;
        this.scheduleAck();
        if (envelope.t === 'm') this.messages.push(envelope.b !== undefined ? Buffer.from(envelope.b) : envelope.d);
        else if (envelope.t === 'q') void this.answer(envelope.id, envelope.n, envelope.b !== undefined ? Buffer.from(envelope.b) : envelope.d);
        else {
          const p = this.pending.get(envelope.id);
          this.pending.delete(envelope.id);
          if (envelope.e) p?.reject(Object.assign(new Error(envelope.e.message), { code: envelope.e.code }));
          else p?.resolve(envelope.b !== undefined ? Buffer.from(envelope.b) : envelope.d);
        }
        return;
      }
      case 'a':
        this.acked(envelope.a);
        return;
      case 'ping':
        if (this.autoPong) this.sendEnvelope({ t: 'pong', ts: envelope.ts });
        return;
      case 'pong':
        this.pongs.push(envelope);
        return;
      case 'error':
        this.errors.push(envelope);
        return;
      case 'p':
        this.publications.push(envelope);
        return;
      case 'pr':
        this.presence.push(envelope);
        return;
      default:
        this.problems.push(`unexpected ${envelope.t}`);
    }
  }

  private async answer(id: number, name: string, data: unknown): Promise<void> {
    const handler = this.handlers.get(name);
    let reply: Outgoing;
    try {
      if (!handler) throw Object.assign(new Error(`no handler for ${name}`), { code: 'LL_NO_HANDLER' });
      reply = { t: 'r', s: 0, id, d: (await handler(data)) ?? null };
    } catch (error) {
      reply = { t: 'r', s: 0, id, e: { code: (error as { code?: string }).code ?? 'ERROR', message: (error as Error).message } };
    }
    reply.s = ++this.seq;
    this.outbox.push(reply);
    this.write(reply);
  }

  private acked(a: number): void {
    while (this.outbox.length > 0 && this.outbox[0]!.s <= a) this.outbox.shift();
  }

  private scheduleAck(): void {
    if (!this.autoAck || this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      this.sendEnvelope({ t: 'a', a: this.rx });
    }, 10);
  }
}
