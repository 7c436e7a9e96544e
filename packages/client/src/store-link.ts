/**
 * The seam between a Lifeline session (lifeline.ts) and a store that keeps it across page
 * lives (persist.ts, the entry point `@lifeline/client/persist`). The session tells the store
 * every change of what must survive a reload, and sends nothing, and hands nothing to the
 * application, before the store says it is durable (`after`). An application that does not
 * use a store does not bundle one. Internal: applications pass `persistent(name)` as
 * `lifeline({ store })` and never call these methods.
 */
import type { ReplayBuffer } from '@lifeline/protocol';
import type { Frame } from './types.js';

/**
 * An outbox or replay-buffer item as the session holds it: the envelope without `s` and `a`,
 * the value `send()` got (what a reset hands back), and for an answer the session (by epoch)
 * it belongs to.
 */
export interface StoreItem {
  readonly envelope: { readonly t: string };
  readonly value?: unknown;
  readonly epoch?: number;
}

/**
 * The client: its outbox drops items (overflow, expiry, close) without telling the mode, so
 * the store finds them by the `drop` event's value and time.
 */
export interface DropSource {
  on(type: 'drop', listener: (drop: { data: unknown; queuedAt: number; reason: string }) => void): unknown;
}

/** How the session encodes envelopes: the store decodes what it kept with the same format. */
export interface StoreFormat {
  decode(frame: string | Uint8Array): unknown;
}

/** What a previous page life left, rebuilt as the session holds it. */
export interface Restored<I extends StoreItem = StoreItem> {
  readonly session:
    | {
        readonly sid: string;
        readonly tok: string;
        /** The last `s` received from the server and handed to the application. */
        readonly rx: number;
        /** What was written and not acknowledged, numbered as before. */
        readonly replay: ReplayBuffer<I>;
        /** The next request id to use: answers to earlier requests may still come. */
        readonly nextId: number;
      }
    | undefined;
  /** Outbox items never written, oldest first. */
  readonly queued: I[];
}

/** What a session calls on its store. Every change lands in the store's next write. */
export interface SessionStore {
  /**
   * Reads what a previous page life left, decoding it with `format`; resolves (never rejects)
   * once the store is usable, with nothing when it fell back to memory. Restored items are
   * the ones later calls name.
   */
  restore(format: StoreFormat, client: DropSource): Promise<Restored>;
  /** `item` waits in the outbox; `frame()` encodes it (called only if it is still waiting when the store writes). */
  queued(item: StoreItem, frame: () => Frame, at: number): void;
  /** `item` will not be sent: it left the outbox unwritten (an answer the outbox dropped, a restored message at close). */
  unqueued(item: StoreItem): void;
  /** `item` was numbered `s` and encoded as `frame`. */
  written(item: StoreItem, s: number, frame: Frame): void;
  /** The server acknowledged everything up to `a`. */
  acknowledged(a: number): void;
  /** Envelope `s` arrived in order (`envelope`: what it carries); it is handed over after `after`. */
  arrived(s: number, envelope: unknown): void;
  /**
   * The last received position the session may acknowledge (`a`, a hello's `rx`): the one the
   * store records, durable before any frame queued after this call leaves (`after`). The last
   * arrival, unless the store holds it back (the leader tab of a shared connection: until the
   * other tabs confirmed they have what a successor resuming from it would not ask for again).
   */
  acknowledgeable(): number;
  /** `listener` runs when `acknowledgeable()` rose without an arrival (a tab confirmed): an acknowledgement may be due. */
  onAcknowledgeable(listener: () => void): void;
  /**
   * The session this client holds now: a new one (`fresh`: what the old one had written goes,
   * and queued answers to its requests), the same one with a new token, or none
   * (`sid` undefined: the client closed, the session is over).
   */
  session(sid: string | undefined, tok: string | undefined, fresh: boolean): void;
  /**
   * Calls `then` once every change recorded so far is durable (at once when the store is in
   * memory); in call order. `delivery`: it hands something to the application, and may run
   * as the page is left (pagehide) before the write completes, since the page will not run
   * its callbacks afterwards.
   */
  after(then: () => void, delivery?: boolean): void;
}
