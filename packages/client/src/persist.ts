/**
 * A persistent outbox and session for Lifeline mode, the entry point `@lifeline/client/persist`:
 *
 *   import { createClient } from '@lifeline/client';
 *   import { lifeline } from '@lifeline/client/lifeline';
 *   import { persistent } from '@lifeline/client/persist';
 *   const store = persistent('chat');
 *   const client = createClient(url, { mode: lifeline({ store }) });
 *
 * In IndexedDB it keeps the session id and token, every envelope written and not yet
 * acknowledged (with its `s`), every message and answer queued and not yet written, the
 * highest `s` received, and the next request id. A reload, a closed and reopened tab or a
 * killed browser then resumes the same session: the server gets what it lacks (it drops
 * duplicates by `s`), the page gets what it missed, and nothing it was handed before comes
 * again.
 *
 * Write order (docs/client.md, "Persistence"): every change of a turn goes into one
 * IndexedDB transaction; the session sends no frame and hands no message to the
 * application before the transaction holding it has committed (`after`). So whatever the
 * server holds or was told, the store holds too, and a SIGKILL at any moment leaves a state
 * the next page life can continue from. Storage that is missing, blocked, full or failing
 * turns the store into memory with a `status` event, never a throw.
 */
import { MAX_REQUEST_ID, ReplayBuffer } from '@lifeline/protocol';
import { byteLength } from './codec.js';
import { Emitter } from './emitter.js';
import type { DropSource, Restored, SessionStore, StoreFormat, StoreItem } from './store-link.js';
import type { Frame } from './types.js';

/** `opening`: reading what the last page life left; `persistent`: in IndexedDB; `memory`: for this page life only (see `problem`). */
export type StorageStatus = 'opening' | 'persistent' | 'memory';

/**
 * Why the store works in memory: `unavailable` (no IndexedDB, or it refused to open: a
 * private window of some browsers, storage disabled, an opaque origin), `in-use` (another
 * tab of this origin holds a store of this name; share one connection instead: `shared()`),
 * `blocked` (IndexedDB did not answer within `timeout`), `quota` (storage is full), `failed`
 * (a write failed otherwise), `closed` (`release()`).
 */
export type StorageProblem = 'unavailable' | 'in-use' | 'blocked' | 'quota' | 'failed' | 'closed';

export interface PersistentOptions {
  /**
   * IndexedDB durability of each write. `relaxed` (default): a write counts once the
   * operating system has it, which survives a killed tab or browser but not a power loss;
   * `strict`: once it is on disk (an fsync per write, several times slower).
   */
  durability?: 'relaxed' | 'strict';
  /** How long the store may take to open (waiting for another tab's lock included) before it works in memory, in ms. Default 5000. */
  timeout?: number;
}

export interface StorageEvents {
  /** The store changed status: `persistent` once opened, `memory` (with the problem and the error, if any) when storage cannot be used. */
  status: [status: StorageStatus, problem: StorageProblem | undefined, error: unknown];
  /** A write committed that stored new messages: `accepted` is the running count. */
  stored: [accepted: number];
}

/** What the store keeps besides the envelopes, as one record. */
interface Meta {
  sid?: string;
  tok?: string;
  /**
   * Where a later owner resumes: the last `s` received (and, once committed, handed over); a
   * shared connection's leader records no more than every other tab confirmed.
   */
  rx: number;
  /** The last `s` the server acknowledged. */
  acked: number;
  nextId: number;
  /** Messages `send()` handed to the store, over every page life. */
  accepted: number;
  /** The key of the next queued record. */
  nextK: number;
  /** Shared connections: per tab, the last of its sends this store accepted. */
  marks: [tab: string, id: number][];
}

interface QueuedRecord {
  /** The envelope encoded with `s: 1`. */
  f: Frame;
  at: number;
}

interface Waiting {
  item: StoreItem;
  key: number;
  at: number;
}

const STORES = ['meta', 'sent', 'queue'];
const META_KEY = 'session';
const DB_VERSION = 1;
/** Tabs remembered in `marks` (a tab that sends again after this many others gets a new mark). */
const MAX_MARKS = 64;

// The part of IndexedDB this file uses, declared here so that the package's types do not
// depend on the DOM library (as types.ts does for WebSocket).
interface IdbRequest<T = any> {
  readonly result: T;
  readonly error: { name: string; message: string } | null;
  onsuccess: (() => void) | null;
  onerror: ((event: { preventDefault?(): void }) => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: (() => void) | null;
}
interface IdbObjectStore {
  put(value: unknown, key: unknown): unknown;
  delete(key: unknown): unknown;
  clear(): unknown;
  get(key: unknown): IdbRequest;
  getAll(): IdbRequest<unknown[]>;
  getAllKeys(): IdbRequest<number[]>;
}
interface IdbTransaction {
  readonly error: { name: string; message: string } | null;
  objectStore(name: string): IdbObjectStore;
  oncomplete: (() => void) | null;
  onabort: (() => void) | null;
  onerror: ((event: { preventDefault?(): void; stopPropagation?(): void }) => void) | null;
  commit?(): void;
}
interface IdbDatabase {
  readonly objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(stores: string[], mode: 'readonly' | 'readwrite', options?: { durability?: string }): IdbTransaction;
  close(): void;
  onversionchange: (() => void) | null;
}
interface IdbGlobals {
  indexedDB?: { open(name: string, version: number): IdbOpenRequest; deleteDatabase(name: string): unknown };
  IDBKeyRange: { upperBound(bound: number): unknown };
  navigator?: { locks?: { request(name: string, options: { signal?: unknown }, callback: () => Promise<void>): Promise<unknown> } };
  localStorage?: { getItem(key: string): string | null; setItem(key: string, value: string): void };
}
const platform = globalThis as unknown as IdbGlobals;

/** An envelope read back: its fields, as the session keeps them (without `s` and `a`). */
type Decoded = { t: string; s: number; a?: number; d?: unknown; b?: Uint8Array; id?: number };

/** The session's item for a stored envelope: what it carries, the value a reset hands back, and (for an answer) epoch 0, the first session of this page life. */
function itemOf(decoded: Decoded): StoreItem {
  const { s: _s, a: _a, ...envelope } = decoded;
  return { envelope, value: decoded.b !== undefined ? decoded.b : decoded.d, epoch: decoded.t === 'r' ? 0 : undefined };
}

const problemOf = (error: { name?: string } | null | undefined): StorageProblem => (error?.name === 'QuotaExceededError' ? 'quota' : 'failed');

/**
 * `persistent(name)`: a store for `lifeline({ store })`, kept in the IndexedDB database
 * `lifeline:<name>` of this origin. One client per store: a second tab that opens the same
 * name waits for the first (up to `timeout`), then works in memory (`in-use`).
 */
export function persistent(name: string, options: PersistentOptions = {}): PersistentStore {
  return new PersistentStore(name, options);
}

export class PersistentStore extends Emitter<StorageEvents> implements SessionStore {
  /** The name given to `persistent()`; the IndexedDB database is `lifeline:<name>`. */
  readonly name: string;
  readonly #durability: 'relaxed' | 'strict';
  readonly #timeout: number;
  #status: StorageStatus = 'opening';
  #problem: StorageProblem | undefined;
  #db: IdbDatabase | undefined;
  #release: (() => void) | undefined;
  #restore: Promise<Restored> | undefined;
  #ready!: () => void;
  /** Resolves once the store is persistent or in memory: what the last page life left is known. */
  readonly ready: Promise<void> = new Promise((resolve) => (this.#ready = resolve));
  #restored: unknown[] = [];

  #meta: Meta = { rx: 0, acked: 0, nextId: 1, accepted: 0, nextK: 1, marks: [] };
  /** The received position the store holds (committed). */
  #durableRx = 0;
  /** The last `s` that arrived in this session; `#meta.rx`, where a later owner resumes, may be held below it. */
  #arrived = 0;
  /** A shared connection's leader: how far `#meta.rx` may go (what the other tabs confirmed). */
  #hold: ((sid: string | undefined, arrived: number) => number) | undefined;
  /** The session: `acknowledgeable()` rose without an arrival. */
  #raised: (() => void) | undefined;
  /** What waits in the outbox, in the order it was queued. */
  #queued = new Map<StoreItem, Waiting>();
  /** Messages counted in `accepted` (queued, then written, or restored): each is counted once. */
  #counted = new WeakSet<StoreItem>();

  // The batch being collected: written by the next transaction.
  #puts = new Map<number, { frame: () => Frame; at: number }>();
  #deletes: number[] = [];
  #sent: [s: number, frame: Frame][] = [];
  #sentUpTo = 0;
  #clearSent = false;
  /**
   * The `sent` records in IndexedDB: each holds the frames one transaction wrote (`s` =
   * key, key + 1, …), so that a write costs one request however many frames it carries.
   */
  #records: { key: number; last: number }[] = [];
  #dirty = false;
  #scheduled = false;
  #inflight = false;
  /** The batch being collected stores new messages (a `stored` event when it commits). */
  #stored = false;
  /** Batch ids: the one being collected, and the last one committed. */
  #batch = 1;
  #done = 0;
  #waiters: { batch: number; then: () => void; delivery: boolean | undefined }[] = [];
  /** `#wake` is running its waiters. */
  #waking = false;
  #arrivals: ((s: number, envelope: unknown) => void) | undefined;

  constructor(name: string, options: PersistentOptions = {}) {
    super();
    if (typeof name !== 'string' || name === '') throw new TypeError('persistent(name): the name must be a non-empty string.');
    this.name = name;
    this.#durability = options.durability ?? 'relaxed';
    this.#timeout = options.timeout ?? 5000;
    // A page being left runs no callbacks after this: what waits to be handed to it goes
    // now (#handOver), rather than be lost if the write carrying its position completes.
    (globalThis as { addEventListener?: (type: string, listener: () => void) => void }).addEventListener?.('pagehide', () => this.#handOver());
  }

  /**
   * The page is being left: what was recorded starts its write now (not after the one in
   * flight), and what waits to be handed to the page goes. The browser may still abort that
   * write as the document goes away (seen in Chromium on a reload), and then the next page
   * life would resume from an older received position and be handed those messages again.
   * So the position handed over is also noted in localStorage, whose writes are synchronous
   * for the page and survive a reload; the next page life resumes from the later of the two
   * (#revive). A crash runs no pagehide and hands nothing early, so it needs no note.
   */
  #handOver(): void {
    this.#flush(true);
    const early = this.#waiters.filter((w) => w.delivery);
    if (early.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => !w.delivery);
    for (const waiter of early) waiter.then();
    const { sid, rx } = this.#meta;
    if (sid === undefined || this.#status !== 'persistent') return;
    try {
      platform.localStorage?.setItem(this.#handedKey, JSON.stringify({ sid, rx }));
    } catch {
      // localStorage refused (blocked, full): the IndexedDB write alone decides, as before
    }
  }

  get #handedKey(): string {
    return `lifeline:${this.name}:handed`;
  }

  /** The received position #handOver noted for session `sid`, if it is later than `rx`. */
  #handedAfter(sid: string, rx: number): number {
    try {
      const note = JSON.parse(platform.localStorage?.getItem(this.#handedKey) ?? 'null') as { sid?: unknown; rx?: unknown } | null;
      if (note?.sid === sid && Number.isSafeInteger(note.rx) && (note.rx as number) > rx) return note.rx as number;
    } catch {
      // unreadable or not ours: the IndexedDB position stands
    }
    return rx;
  }

  /** `opening`, `persistent` or `memory`. */
  get status(): StorageStatus {
    return this.#status;
  }

  /** Why the store works in memory; undefined while it does not. */
  get problem(): StorageProblem | undefined {
    return this.#problem;
  }

  /**
   * The sequence number of the last server message handed to the application, over every
   * page life of the session (0 for none; after a reset, counted in the new session).
   * Messages up to it are never delivered again; each message carries its own as `seq`.
   */
  get received(): number {
    return this.#status === 'memory' ? this.#meta.rx : this.#durableRx;
  }

  /** How many messages `send()` handed to this store, over every page life (a durable count an application can number its messages by). */
  get accepted(): number {
    return this.#meta.accepted;
  }

  /**
   * The values restored from the last page life that were not confirmed by the server
   * (written and not acknowledged, or never written): they are sent again (or handed to a
   * `reset`) by the client. Known once `ready` resolved.
   */
  get restored(): readonly unknown[] {
    return this.#restored;
  }

  /**
   * Resolves once everything handed to the store so far is durable: `true`, or `false` when
   * it works in memory. This is what "accepted" means for a message (docs/client.md,
   * "Persistence"): after it resolves, a reload or a crash no longer loses it.
   */
  async durable(): Promise<boolean> {
    await this.ready;
    return new Promise((resolve) => this.after(() => resolve(this.#status === 'persistent')));
  }

  /**
   * Stops using IndexedDB for this page life, to hand the session to another tab: what was
   * recorded is written (IndexedDB completes it), what waits to be handed to the page goes,
   * frames still waiting for their write are never sent (the next owner sends them from the
   * store), then the database and the lock are released and the store goes on in memory
   * (`closed`). Close the client right after: the next owner continues the session.
   */
  release(): void {
    this.#handOver();
    this.#waiters = [];
    this.#fallBack('closed', undefined, false);
  }

  // ---- SessionStore (called by the session) ---------------------------------------------

  restore(format: StoreFormat, client: DropSource): Promise<Restored> {
    // (An item the server would refuse is unqueued by the session itself: `too-large`.)
    client.on('drop', (drop) => drop.reason !== 'too-large' && this.#dropped(drop.data, drop.queuedAt));
    return (this.#restore ??= this.#open(format));
  }

  queued(item: StoreItem, frame: () => Frame, at: number): void {
    this.#count(item);
    if (this.#status === 'memory') return;
    const key = this.#meta.nextK++;
    this.#queued.set(item, { item, key, at });
    this.#puts.set(key, { frame, at });
    this.#change();
  }

  unqueued(item: StoreItem): void {
    const waiting = this.#queued.get(item);
    if (!waiting) return;
    this.#queued.delete(item);
    if (!this.#puts.delete(waiting.key)) this.#deletes.push(waiting.key);
    this.#change();
  }

  written(item: StoreItem, s: number, frame: Frame): void {
    this.unqueued(item);
    this.#count(item);
    const id = (item.envelope as { id?: number }).id;
    if (item.envelope.t === 'q' && id !== undefined) this.#meta.nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    if (this.#status === 'memory') return;
    this.#sent.push([s, frame]);
    this.#change();
  }

  acknowledged(a: number): void {
    this.#meta.acked = a;
    this.#sentUpTo = a;
    this.#change();
  }

  arrived(s: number, envelope: unknown): void {
    this.#arrived = s;
    this.#arrivals?.(s, envelope);
    this.#advance();
  }

  acknowledgeable(): number {
    return this.#meta.rx;
  }

  onAcknowledgeable(listener: () => void): void {
    this.#raised = listener;
  }

  session(sid: string | undefined, tok: string | undefined, fresh: boolean): void {
    const meta = this.#meta;
    if (!fresh && meta.sid === sid && meta.tok === tok) return;
    meta.sid = sid;
    meta.tok = tok;
    if (fresh) {
      meta.rx = meta.acked = this.#arrived = 0;
      this.#clearSent = true;
      this.#sent = [];
      this.#sentUpTo = 0;
      this.#records = [];
      // Answers to the old session's requests mean nothing to the new one.
      for (const item of [...this.#queued.keys()]) if (item.envelope.t === 'r') this.unqueued(item);
    }
    this.#change();
  }

  after(then: () => void, delivery?: boolean): void {
    // The batch being collected, or else the last one handed to IndexedDB.
    const batch = this.#dirty ? this.#batch : this.#batch - 1;
    // Never ahead of what waits, in memory too: the session's frames must leave in the order
    // they were numbered (one sent ahead of the frames its store was still holding back is a
    // sequence gap to the server, which closes the connection with 1002).
    if (this.#waiters.length === 0 && (this.#status === 'memory' || batch <= this.#done)) return then();
    this.#waiters.push({ batch, then, delivery });
    // In memory, what waits runs now (if the store is running its waiters, in their turn).
    if (this.#status === 'memory') this.#wake();
  }

  // ---- shared connections (shared.ts) ---------------------------------------------------

  /** @internal Calls `listener` with every envelope the session takes in, at once (before it is durable). */
  observeArrivals(listener: (s: number, envelope: unknown) => void): void {
    this.#arrivals = listener;
  }

  /**
   * @internal The leader tab of a shared connection: the received position a later owner
   * resumes from (and what the session acknowledges) goes no further than `limit(sid,
   * arrived)`, what the other tabs confirmed; call `advance()` when that may have risen. It
   * never goes back. In memory (no later owner resumes from this store) nothing is held.
   */
  holdReceived(limit: (sid: string | undefined, arrived: number) => number): void {
    this.#hold = limit;
  }

  /** @internal The session this store holds and the last `s` that arrived in it. */
  position(): { sid: string | undefined; arrived: number } {
    return { sid: this.#meta.sid, arrived: this.#arrived };
  }

  /** @internal What the hold allows may have risen (a tab confirmed, joined or left). */
  advance(): void {
    if (this.#advance()) this.#raised?.();
  }

  /** @internal The last send of `tab` this store accepted (0: none). */
  marked(tab: string): number {
    return this.#meta.marks.find(([t]) => t === tab)?.[1] ?? 0;
  }

  /** @internal `tab`'s send `id` is accepted: written with the changes recorded so far. */
  mark(tab: string, id: number): void {
    const marks = this.#meta.marks.filter(([t]) => t !== tab);
    marks.push([tab, id]);
    this.#meta.marks = marks.slice(-MAX_MARKS);
    this.#change();
  }

  // ---- inside ---------------------------------------------------------------------------

  #count(item: StoreItem): void {
    if (item.envelope.t !== 'm' || this.#counted.has(item)) return;
    this.#counted.add(item);
    this.#meta.accepted++;
    this.#stored = true;
  }

  /** A `drop` event: the waiting item with that value, queued at that time if several have it. */
  #dropped(value: unknown, queuedAt: number): void {
    let match: StoreItem | undefined;
    for (const [item, waiting] of this.#queued) {
      if (!Object.is(item.value, value)) continue;
      match ??= item;
      // The outbox stamps the time just before the session records it.
      if (waiting.at >= queuedAt && waiting.at - queuedAt < 1000) {
        match = item;
        break;
      }
    }
    if (match) this.unqueued(match);
  }

  /** Records the received position: the last arrival, or as far as the hold lets it. True when it rose. */
  #advance(): boolean {
    const meta = this.#meta;
    const limit = this.#hold && this.#status !== 'memory' ? this.#hold(meta.sid, this.#arrived) : Infinity;
    const rx = Math.min(this.#arrived, limit);
    if (!(rx > meta.rx)) return false;
    meta.rx = rx;
    this.#change();
    return true;
  }

  #change(): void {
    if (this.#status === 'memory') return;
    this.#dirty = true;
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  /**
   * Writes the batch in one transaction, unless one is in flight (its completion writes the
   * next, so that a busy page writes fewer, larger batches). `now`: even then (IndexedDB
   * commits them in order).
   */
  #flush(now = false): void {
    const db = this.#db;
    if (!db || !this.#dirty || (this.#inflight && !now) || this.#status !== 'persistent') return;
    const batch = this.#batch++;
    const meta = { ...this.#meta, marks: [...this.#meta.marks] };
    const puts = this.#puts;
    const deletes = this.#deletes;
    const sent = this.#sent;
    const upTo = this.#sentUpTo;
    const clear = this.#clearSent;
    const counted = this.#stored;
    this.#puts = new Map();
    this.#deletes = [];
    this.#sent = [];
    this.#clearSent = this.#stored = this.#dirty = false;
    this.#inflight = true;
    let tx: IdbTransaction;
    try {
      tx = db.transaction(STORES, 'readwrite', { durability: this.#durability });
      const sentStore = tx.objectStore('sent');
      const queueStore = tx.objectStore('queue');
      if (clear) sentStore.clear();
      // Records acknowledged to their last frame go; one acknowledged part-way stays (its first frames are skipped when read back).
      const records = this.#records;
      let gone = 0;
      while (gone < records.length && records[gone]!.last <= upTo) gone++;
      if (gone > 0) sentStore.delete(platform.IDBKeyRange.upperBound(records[gone - 1]!.key));
      records.splice(0, gone);
      const frames = sent.filter(([s]) => s > upTo);
      if (frames.length > 0) {
        const key = frames[0]![0];
        sentStore.put(frames.map(([, frame]) => frame), key);
        records.push({ key, last: frames.at(-1)![0] });
      }
      for (const key of deletes) queueStore.delete(key);
      for (const [key, { frame, at }] of puts) queueStore.put({ f: frame(), at } satisfies QueuedRecord, key);
      tx.objectStore('meta').put(meta, META_KEY);
    } catch (error) {
      // DataCloneError, a closed database, …
      return this.#fallBack(problemOf(error as { name?: string }), error, true);
    }
    tx.oncomplete = () => {
      this.#inflight = this.#batch - 1 > batch;
      this.#done = batch;
      this.#durableRx = meta.rx;
      this.#wake();
      if (counted) this.emit('stored', meta.accepted);
      this.#flush();
    };
    tx.onabort = () => this.#fallBack(problemOf(tx.error), tx.error, true);
    tx.commit?.();
  }

  /**
   * Runs the waiters whose batch has committed (all of them in memory), in order. A waiter
   * that adds one (a message handed over, whose handler sends) queues it behind the others,
   * and this loop reaches it in turn; a waiter that throws does not stop the ones after it.
   */
  #wake(): void {
    if (this.#waking) return;
    this.#waking = true;
    try {
      for (let waiter; (waiter = this.#waiters[0]) && (this.#status === 'memory' || waiter.batch <= this.#done); ) {
        this.#waiters.shift();
        try {
          waiter.then();
        } catch (error) {
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    } finally {
      this.#waking = false;
    }
  }

  /**
   * Storage cannot be used (any more): memory from now on, waiters released in order.
   * `written`: the database may hold a state this page life has gone past (later frames went
   * out in memory), so it is deleted: a later page life must not resume from it.
   */
  #fallBack(problem: StorageProblem, error: unknown, written: boolean): void {
    if (this.#status === 'memory') return;
    this.#status = 'memory';
    this.#problem = problem;
    this.#queued.clear();
    this.#puts.clear();
    this.#deletes = [];
    this.#sent = [];
    this.#dirty = this.#inflight = false;
    const db = this.#db;
    this.#db = undefined;
    try {
      db?.close();
      if (written) platform.indexedDB?.deleteDatabase(`lifeline:${this.name}`);
    } catch {
      // nothing more to do: memory it is
    }
    this.#release?.();
    this.#wake();
    this.#ready();
    this.emit('status', 'memory', problem, error);
  }

  /** Lock, open, read: what the last page life left, or nothing (memory). */
  async #open(format: StoreFormat): Promise<Restored> {
    const empty: Restored = { session: undefined, queued: [] };
    const idb = platform.indexedDB;
    if (!idb) {
      this.#fallBack('unavailable', undefined, false);
      return empty;
    }
    const abort = new AbortController();
    let late = false;
    // Waiting for the lock: another tab holds the store; after it, IndexedDB is slow to answer.
    let waitingFor: StorageProblem = 'in-use';
    const timer = setTimeout(() => {
      late = true;
      abort.abort();
      this.#fallBack(waitingFor, undefined, false);
    }, this.#timeout);
    try {
      const locks = platform.navigator?.locks;
      if (locks) {
        // One page at a time per store: a reload waits for the page it replaces to let go.
        await new Promise<void>((granted, refused) => {
          locks
            .request(`lifeline:${this.name}`, { signal: abort.signal }, () => {
              if (late) return Promise.resolve(); // granted after the store gave up: let go at once
              granted();
              return new Promise<void>((release) => (this.#release = release));
            })
            .catch(refused);
        }).catch((error: unknown) => {
          throw Object.assign(new Error('in-use'), { problem: 'in-use' as const, cause: error });
        });
      }
      if (late) return empty;
      waitingFor = 'blocked';
      const db = await new Promise<IdbDatabase>((resolve, reject) => {
        const request = idb.open(`lifeline:${this.name}`, DB_VERSION); // throws SecurityError where storage is refused
        request.onupgradeneeded = () => {
          const created = request.result;
          for (const store of STORES) if (!created.objectStoreNames.contains(store)) created.createObjectStore(store);
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = (event) => {
          event.preventDefault?.();
          reject(request.error);
        };
      });
      if (late) {
        db.close();
        return empty;
      }
      this.#db = db;
      // Someone deletes or upgrades the database (another version of this code): let go.
      db.onversionchange = () => this.#fallBack('blocked', undefined, false);
      const [meta, sent, sentKeys, queued, keys] = await new Promise<[Meta | undefined, Frame[][], number[], QueuedRecord[], number[]]>((resolve, reject) => {
        const tx = db.transaction(STORES, 'readonly');
        const m = tx.objectStore('meta').get(META_KEY);
        const s = tx.objectStore('sent').getAll();
        const sk = tx.objectStore('sent').getAllKeys();
        const q = tx.objectStore('queue').getAll();
        const k = tx.objectStore('queue').getAllKeys();
        tx.oncomplete = () => resolve([m.result as Meta | undefined, s.result as Frame[][], sk.result, q.result as QueuedRecord[], k.result]);
        tx.onabort = () => reject(tx.error);
      });
      clearTimeout(timer);
      if (late) return empty;
      return this.#revive(format, meta, sent, sentKeys, queued, keys);
    } catch (error) {
      clearTimeout(timer);
      const problem = (error as { problem?: StorageProblem } | null)?.problem ?? 'unavailable';
      this.#fallBack(problem, (error as { cause?: unknown })?.cause ?? error, false);
      return empty;
    }
  }

  /** Rebuilds the session's state from the records. */
  #revive(format: StoreFormat, meta: Meta | undefined, sent: Frame[][], sentKeys: number[], queued: QueuedRecord[], keys: number[]): Restored {
    if (meta) {
      const n = (value: unknown, fallback: number) => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : fallback);
      this.#meta = {
        sid: typeof meta.sid === 'string' ? meta.sid : undefined,
        tok: typeof meta.tok === 'string' ? meta.tok : undefined,
        rx: n(meta.rx, 0),
        acked: n(meta.acked, 0),
        nextId: n(meta.nextId, 1) || 1,
        accepted: n(meta.accepted, 0) + this.#meta.accepted,
        nextK: n(meta.nextK, 1),
        marks: Array.isArray(meta.marks) ? meta.marks.filter((mark) => Array.isArray(mark) && typeof mark[0] === 'string' && Number.isSafeInteger(mark[1])) : [],
      };
    }
    const m = this.#meta;
    if (m.sid !== undefined) m.rx = this.#handedAfter(m.sid, m.rx);
    // Sends made while the store opened are numbered after the restored ones.
    m.nextK = Math.max(m.nextK, (keys.at(-1) ?? 0) + 1);
    const puts = this.#puts;
    this.#puts = new Map();
    for (const waiting of this.#queued.values()) {
      const put = puts.get(waiting.key)!;
      waiting.key = m.nextK++;
      this.#puts.set(waiting.key, put);
    }
    this.#durableRx = this.#arrived = m.rx;
    const decode = (frame: Frame) => format.decode(typeof frame === 'string' ? frame : new Uint8Array(frame as ArrayBuffer)) as Decoded;
    let session: Restored['session'];
    const restored: unknown[] = [];
    if (m.sid !== undefined && m.tok !== undefined) {
      try {
        const replay = new ReplayBuffer<StoreItem>(m.acked);
        const now = Date.now();
        this.#records = sent.map((frames, i) => ({ key: sentKeys[i]!, last: sentKeys[i]! + frames.length - 1 }));
        for (const frame of sent.flat()) {
          const decoded = decode(frame);
          if (decoded.s <= m.acked) continue; // acknowledged, in a record kept for its later frames
          const item = itemOf(decoded);
          // Throws unless the frames are acked + 1, + 2, …: a gap would be a protocol error.
          replay.push(decoded.s, item, byteLength(frame), now);
          if (item.envelope.t === 'm') restored.push(item.value);
        }
        session = { sid: m.sid, tok: m.tok, rx: m.rx, replay, nextId: m.nextId };
      } catch {
        // Not written by this code: start a new session rather than resume with a gap.
        restored.length = 0;
        this.session(undefined, undefined, true);
      }
    }
    const items: StoreItem[] = [];
    const adopted = new Map<StoreItem, Waiting>();
    queued.forEach((record, i) => {
      try {
        const item = itemOf(decode(record.f));
        adopted.set(item, { item, key: keys[i]!, at: record.at });
        this.#counted.add(item); // in the last page life's count
        items.push(item);
        if (item.envelope.t === 'm') restored.push(item.value);
      } catch {
        this.#deletes.push(keys[i]!);
      }
    });
    // Restored items come first in the outbox, and in this map.
    this.#queued = new Map([...adopted, ...this.#queued]);
    this.#restored = restored;
    this.#status = 'persistent';
    this.#ready();
    this.emit('status', 'persistent', undefined, undefined);
    this.#change();
    return { session, queued: items };
  }
}

export type { Restored, SessionStore } from './store-link.js';
