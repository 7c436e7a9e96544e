/**
 * The seam between the client core (connection, reconnect, outbox, liveness timers) and a
 * wire mode that adds meaning to the frames: Lifeline mode (`@lifeline/client/lifeline`).
 * The core never imports a mode, so an application that does not use one does not bundle it.
 * Internal: applications pass `lifeline()` as `options.mode` and never see these types.
 */
import type { LifelineError } from '@lifeline/protocol';
import type { Frame, WebSocketLike } from './types.js';

/** Why a value handed to the outbox was not sent (mirrors the client's DropReason). */
export type OutboxDropReason = 'overflow' | 'expired' | 'closed' | 'not-open' | 'too-large';

/** What the core offers a mode. */
export interface ModeHost {
  /** The transport carries the session now: the client becomes `open` and flushes its outbox. */
  ready(session: SessionInfo): void;
  /** Emit a client event: `message` delivers an application message; `heartbeat` also sets the client's `rtt`. */
  emit(type: 'message', message: { data: unknown; bytes?: Uint8Array; receivedAt: number; seq: number }): void;
  emit(type: 'reset', info: ResetInfo): void;
  emit(type: 'error', error: LifelineError): void;
  emit(type: 'heartbeat', rtt: number): void;
  emit(type: 'drop', info: { data: unknown; reason: OutboxDropReason; queuedAt: number; error?: LifelineError }): void;
  /**
   * Queue or write an internal outgoing item (a request, a response) through the outbox,
   * in order with `send()`. `dropped` is called instead of a `drop` event if it is not sent.
   */
  submit(item: unknown, dropped: (reason: OutboxDropReason) => void): void;
  /** Room appeared where `write` had none: write what the outbox holds. */
  flush(): void;
  /** The peer broke the protocol: close the transport with `code` and follow the close policy. */
  fail(code: number, reason: string, error: LifelineError): void;
  /**
   * Probe a link silent for `interval` ms (the mode's `probe()`; when it cannot, the wait
   * is for the server's own ping), and declare it dead when nothing answers within `wait`
   * ms (default: the heartbeat timeout).
   */
  liveness(interval: number, wait?: number): void;
  /** Probe the link now, unless a probe is outstanding: something was written into a link silent for a while. */
  probe(): void;
}

export interface SessionInfo {
  /** The session id the server issued. */
  id: string;
  /** true: the session survived a reconnect; nothing was lost. */
  resumed: boolean;
}

export type ResetReason = 'expired' | 'unknown-session' | 'bad-token' | 'overflow';

export interface ResetInfo {
  /** Why the server could not resume the session (PROTOCOL.md §2.4). */
  reason: ResetReason;
  /** The new session. */
  session: SessionInfo;
  /**
   * Values passed to `send()` that were written to the old session but never acknowledged:
   * the server may or may not have received them. Resend what must arrive. (Messages not
   * yet written were kept and go out on the new session.)
   */
  unconfirmed: unknown[];
}

/** A wire mode bound to one client. */
export interface Mode {
  /** The subprotocols to offer. */
  readonly protocols: string[];
  /** The current session, once a welcome arrived. */
  readonly session: SessionInfo | undefined;
  /** `send(value)` → the outbox item for it. Cheap: no encoding. */
  item(value: unknown): unknown;
  /** Bytes an outbox item counts for (encodes it: throws LL_ENCODE_FAILED for a value the wire cannot carry). */
  size(item: unknown): number;
  /** A new transport is open: greet the server (the core stays `connecting` until `ready`). */
  attach(ws: WebSocketLike): void;
  /** A frame arrived on the attached transport. */
  receive(data: unknown): void;
  /**
   * Write an outbox item now; false when there is no room (it stays queued); -1 when the
   * server would refuse it (over `welcome.max`): never numbered, and the mode has reported
   * it (a `drop` event, a failed request). Throws LL_ENCODE_FAILED.
   */
  write(item: unknown): boolean | -1;
  /** Sends a probe the server answers at once (PROTOCOL.md §2.5); false when it cannot (no welcome yet, or a server that answers none). */
  probe(): boolean;
  /** The transport is gone; the session waits for the next one. */
  detach(): void;
  /**
   * `close()`: the session is over. `open`: the transport is up, so what was written goes
   * out ahead of the close frame and the server reads it before the close; otherwise the
   * messages written and never acknowledged went into a failed link, and each gets a
   * `drop` event (reason `closed`).
   */
  end(open: boolean): void;
  request(name: string, data: unknown, timeout: number | undefined): Promise<unknown>;
  handle(name: string, handler: RequestHandler | undefined): void;
}

/** Answers a request from the server. Throw an error with a string `code` to answer with that code. */
export type RequestHandler = (data: unknown) => unknown;

/** What `options.mode` holds: makes one Mode per client. */
export interface ModeFactory {
  /**
   * `client` is the client the mode serves, as a key only: a mode that offers API of its own
   * (Lifeline mode's channels) finds its instance from the client the application holds,
   * without the core knowing about that API.
   */
  create(host: ModeHost, client: object): Mode;
}

export type { Frame };
