/**
 * Requests both ways in a Lifeline session (PROTOCOL.md §2.1): the client's `q` answered by
 * the handlers of `socket.handle()` (or by the protocol, for reserved `$` names), and the
 * server's `socket.request()` settled by the client's `r`, exactly once even across
 * reconnects. A session makes this only when it first handles or sends a request.
 */
import {
  LifelineError,
  MAX_REQUEST_ID,
  RequestError,
  type RequestEnvelope,
  type ResponseEnvelope,
  type ResponseError,
} from '@lifeline/protocol';
import type { RequestHandler, Socket } from '../connection/socket.js';
import { describeError, type LogFields } from '../leaves/logger.js';
import { toBuffer } from './message.js';
import { sendNumbered, type OutboundParty } from './outbound.js';

/** What a request's answer carries. */
export type Outcome = { d: unknown } | { b: Uint8Array } | { e: ResponseError };

/** What requests need of their session. */
export interface RequestParty extends Socket, OutboundParty {
  /** `$auth` (app/auth): a fresh access token for the session. */
  refreshAuth(data: unknown): Promise<{ d: unknown } | { e: ResponseError }>;
  /** `$subscribe` and the other channel requests (channel-requests.ts). */
  channelRequest(name: string, data: unknown): Promise<{ outcome: { d: unknown } | { e: ResponseError }; start?: () => void }>;
  requestLog(event: string, fields: LogFields): void;
}

interface PendingRequest {
  name: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class SessionRequests {
  private handlers: Map<string, RequestHandler> | undefined;
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;

  constructor(private readonly session: RequestParty) {}

  /** Answers the client's `q` envelopes named `name`. */
  handle(name: string, handler: RequestHandler): void {
    if (typeof handler !== 'function') throw new LifelineError('LL_INVALID_OPTION', `socket.handle("${name}", handler): handler must be a function.`);
    if (name.startsWith('$')) throw new LifelineError('LL_INVALID_OPTION', `socket.handle("${name}"): names starting with $ are reserved for the protocol (PROTOCOL.md §3.3).`);
    (this.handlers ??= new Map()).set(name, handler);
  }

  /** Sends a request to the client; see SessionSocket.request(). */
  request(name: string, data: unknown, timeout: number): Promise<unknown> {
    const id = this.takeId();
    const payload = data instanceof Uint8Array ? { b: data } : data instanceof ArrayBuffer ? { b: new Uint8Array(data) } : { d: data === undefined ? null : data };
    return new Promise((resolve, reject) => {
      let sent: boolean;
      try {
        sent = sendNumbered(this.session, (s, a) => ({ t: 'q', s, ...(a === undefined ? {} : { a }), id, n: name, ...payload }) as RequestEnvelope);
      } catch (error) {
        reject(error as Error);
        return;
      }
      if (!sent) {
        reject(sessionClosed(name));
        return;
      }
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new LifelineError('LL_REQUEST_TIMEOUT', `Request "${name}" got no response within ${timeout} ms.`));
      }, timeout);
      timer.unref();
      this.pending.set(id, { name, resolve, reject, timer });
    });
  }

  /** A `q` from the client. */
  answer(q: RequestEnvelope): void {
    const session = this.session;
    if (q.n.charCodeAt(0) === 36 /* $ */) {
      // `$auth`: a fresh access token for the session (PROTOCOL.md §4).
      if (q.n === '$auth') {
        session.refreshAuth(q.b !== undefined ? undefined : q.d).then(
          (outcome) => this.respond(q.id, outcome, q.n),
          (error: unknown) => this.respondError(q, error),
        );
        return;
      }
      // `$subscribe` and the other reserved requests (PROTOCOL.md §3.3).
      session.channelRequest(q.n, q.b !== undefined ? undefined : q.d).then(
        ({ outcome, start }) => {
          this.respond(q.id, outcome, q.n);
          // The missed publications follow the answer on the wire, then live ones.
          start?.();
        },
        (error: unknown) => this.respondError(q, error),
      );
      return;
    }
    const handler = this.handlers?.get(q.n);
    if (handler === undefined) {
      this.respond(q.id, { e: { code: 'LL_NO_HANDLER', message: `no handler for request "${q.n}"` } });
      return;
    }
    const data = q.b !== undefined ? toBuffer(q.b) : q.d;
    let result: unknown;
    try {
      result = handler(data, { name: q.n, socket: session });
    } catch (error) {
      this.respondError(q, error);
      return;
    }
    Promise.resolve(result).then(
      (value) => this.respondValue(q, value),
      (error: unknown) => this.respondError(q, error),
    );
  }

  /** An `r` from the client. */
  settle(r: ResponseEnvelope): void {
    const request = this.pending.get(r.id);
    if (request === undefined) return; // timed out already
    this.pending.delete(r.id);
    clearTimeout(request.timer);
    if (r.e !== undefined) request.reject(new RequestError(request.name, r.e, 'client'));
    else request.resolve(r.b !== undefined ? toBuffer(r.b) : r.d);
  }

  /** The session ended: requests in flight reject `LL_SESSION_CLOSED`. */
  rejectAll(): void {
    for (const [id, request] of this.pending) {
      this.pending.delete(id);
      clearTimeout(request.timer);
      request.reject(sessionClosed(request.name));
    }
  }

  private respondValue(q: RequestEnvelope, value: unknown): void {
    const outcome = value instanceof Uint8Array ? { b: value } : value instanceof ArrayBuffer ? { b: new Uint8Array(value) } : { d: value === undefined ? null : value };
    this.respond(q.id, outcome, q.n);
  }

  private respondError(q: RequestEnvelope, error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code !== '') {
      this.respond(q.id, { e: { code, message: String((error as Error).message ?? '') } });
      return;
    }
    this.session.requestLog('request-handler-error', { name: q.n, error: describeError(error) });
    this.respond(q.id, { e: { code: 'LL_HANDLER_ERROR', message: 'the request handler failed' } });
  }

  /** Answers request `id`; an answer that cannot be encoded becomes `LL_ENCODE_FAILED` (logged), never a throw. */
  private respond(id: number, outcome: Outcome, name?: string): void {
    const session = this.session;
    if (!session.isOpen) return;
    const answer = (o: Outcome) => sendNumbered(session, (s, a) => ({ t: 'r', s, ...(a === undefined ? {} : { a }), id, ...o }) as ResponseEnvelope);
    try {
      answer(outcome);
    } catch (error) {
      session.requestLog('request-handler-result', { name, error: (error as Error).message });
      answer({ e: { code: 'LL_ENCODE_FAILED', message: 'the answer cannot be encoded' } });
    }
  }

  private takeId(): number {
    let id = this.nextId;
    while (this.pending.has(id)) id = id >= MAX_REQUEST_ID ? 1 : id + 1;
    this.nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    return id;
  }
}

/** A request the session could not send, or did not see answered, because it ended. */
export function sessionClosed(name: string): LifelineError {
  return new LifelineError('LL_SESSION_CLOSED', `Request "${name}": the session ended before a response came.`);
}
