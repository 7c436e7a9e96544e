/**
 * The hub of a connection shared by the tabs of an origin (shared.ts): one Lifeline-mode
 * client (with its persistent store, if any) and the tabs it serves. It runs in a
 * SharedWorker (shared-worker.ts), or in the leader tab. Every tab sends, requests,
 * subscribes and answers the server's requests through it, and hears every event.
 *
 * Delivery to tabs (docs/client.md, "One connection for all tabs"): a tab in the same
 * context as the hub (the leader's own, or every tab of a SharedWorker) is handed a message
 * as the client hands it over, after the store holds its position, like a single page. The
 * other tabs of a leader get each message as it arrives, and confirm what they were handed.
 * The leader records (for the next leader to resume from) and acknowledges to the server no
 * further than the least position the other live tabs confirmed: a leader that dies with
 * messages on their way to a tab (a crashed renderer loses what it posted and had not sent
 * yet) leaves a position before them, the next leader resumes there, the server sends them
 * again, and each tab drops what it had by its `seq`.
 */
import { LifelineError, RequestError, type ChannelPosition } from '@lifeline/protocol';
import { channels, type Subscription } from './channels.js';
import { createClient, type ClientOptions, type LifelineClient } from './client.js';
import type { Off } from './emitter.js';
import { lifeline } from './lifeline.js';
import { persistent, type PersistentStore } from './persist.js';
import { isToHub, leaderLock, tabLock, type Position, type SharedSettings, type StorageInfo, type ToHub, type ToTab, type WireError } from './shared-protocol.js';

/**
 * A leader's other tab that confirmed nothing for this long while messages went to it (a
 * frozen or hung page), or that is this many messages behind the last arrival, no longer holds
 * the recorded position and the server's acknowledgements back: the server's replay buffer
 * (10,000 messages by default) must not overflow for it. Tabs that were in line when a leader
 * began and have not joined it hold the position where the last leader left it, as long (and
 * no further than as many messages).
 */
const CONFIRM_WAIT_MS = 10_000;
const CONFIRM_MAX_BEHIND = 5_000;

interface LockInfo {
  name?: string;
  clientId?: string;
}
interface Locks {
  request(name: string, callback: () => void): Promise<unknown>;
  query?(): Promise<{ held?: LockInfo[]; pending?: LockInfo[] }>;
}
const isSeq = (seq: unknown): seq is number => Number.isSafeInteger(seq) && (seq as number) >= 0;
const locks = (): Locks | undefined => (globalThis as { navigator?: { locks?: Locks } }).navigator?.locks;

/** How the hub reaches its tabs. */
export interface HubWire {
  /** One tab. */
  to(tab: string, message: ToTab): void;
  /** Every tab. */
  all(message: ToTab): void;
  /** Leader mode: every tab but the leader's own (one BroadcastChannel message). */
  remote?(message: ToTab): void;
}

interface Tab {
  readonly id: string;
  /** Its last send the hub accepted (without a store; with one, the store keeps it durably). */
  lastSend: number;
  readonly subs: Map<number, { sub: Subscription; offs: Off[] }>;
  /** A leader's other tab: the last message it confirmed it was handed (or where it joined). */
  at: Position;
  /** Since when it owes a confirmation (a message went to it past `at`), if it does. */
  owes: number | undefined;
}

interface Ask {
  tab: string;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export function wireError(error: unknown): WireError {
  const e = error as { code?: unknown; message?: unknown; remote?: WireError['remote']; requestName?: string } | null;
  const out: WireError = { code: typeof e?.code === 'string' ? e.code : 'LL_REQUEST_FAILED', message: String(e?.message ?? error) };
  if (e?.remote) out.remote = { code: e.remote.code, message: e.remote.message };
  if (e?.requestName !== undefined) out.requestName = e.requestName;
  return out;
}

/** Back to an error object: a `RequestError` where the server failed the request, else a `LifelineError`. */
export function fromWire(error: WireError): LifelineError {
  if (error.remote) return new RequestError(error.requestName ?? '', error.remote, 'server');
  return new LifelineError(error.code as LifelineError['code'], error.message);
}

/** The hub's client options from its settings (plain data) and what only the hub has. */
function clientOptions(settings: SharedSettings, store: PersistentStore | undefined, token: (() => Promise<string>) | undefined): ClientOptions {
  return {
    connectTimeout: settings.connectTimeout,
    reconnect: settings.reconnect,
    heartbeat: settings.heartbeat,
    outbox: settings.outbox,
    autoOpen: false,
    mode: lifeline({ replay: settings.replay, requestTimeout: settings.requestTimeout, store, token }),
  };
}

/** Throws what `createClient` would (LL_INVALID_URL, LL_INVALID_OPTION) for a hub with these settings, at once. */
export function checkSettings(url: string, settings: SharedSettings): void {
  createClient(url, clientOptions(settings, undefined, undefined));
}

/** A state or an event argument made cloneable: its `error` as `{ code, message }`. */
const plain = <T>(value: T): T => {
  const v = value as { error?: unknown } | undefined;
  return v && typeof v === 'object' && v.error instanceof Error ? ({ ...v, error: wireError(v.error) } as T) : value;
};

export class Hub {
  readonly client: LifelineClient;
  readonly store: PersistentStore | undefined;
  readonly #url: string;
  readonly #wire: HubWire;
  readonly #role: 'worker' | 'leader' | 'solo';
  /** The tab in this context (leader, solo): handed messages after the store holds them. */
  readonly #local: string | undefined;
  readonly #tabs = new Map<string, Tab>();
  /** Server-request names, and the tabs that handle each, first registered first. */
  readonly #handlers = new Map<string, string[]>();
  readonly #asks = new Map<number, Ask>();
  #nextAsk = 1;
  /** Sends accepted this turn, per tab: confirmed together once the store holds them. */
  #confirm = new Map<string, number>();
  #closing = false;
  /** The last `open` event's information. */
  #opened: unknown;
  /** Until the store has read what the last owner left (the marks of sends it accepted): tabs' messages wait. */
  #early: [tab: string, m: ToHub][] | undefined;
  /** Tabs whose lock the hub waits for (granted: the tab is gone). */
  readonly #watched = new Set<string>();
  /** A leader: the other tabs that were in line when it began and have not joined (undefined until known). */
  #awaited: Set<string> | undefined = new Set();
  readonly #began = Date.now();
  /** Where the store stood when it was read: the position the last owner left. */
  #from = 0;

  constructor(url: string, settings: SharedSettings, role: 'worker' | 'leader' | 'solo', wire: HubWire, local?: string) {
    this.#url = url;
    this.#wire = wire;
    this.#role = role;
    this.#local = local;
    const store = (this.store = settings.store ? persistent(settings.store, { durability: settings.durability }) : undefined);
    const token = settings.token ? () => this.#ask(undefined, 'token', undefined) as Promise<string> : undefined;
    const client = (this.client = createClient(url, clientOptions(settings, store, token)));
    const all = (message: ToTab) => this.#closing || this.#wire.all(message);
    const state = () => ({ t: 'state', state: plain(client.state), session: client.session, queued: client.queued }) as const;
    client.on('state', () => all(state()));
    client.on('open', (info) => (this.#opened = info));
    for (const type of ['open', 'close', 'error', 'heartbeat', 'reset', 'drop'] as const) {
      client.on(type, (arg: unknown) => all({ t: 'event', type, arg: arg instanceof Error ? wireError(arg) : plain(arg) }));
    }
    // Messages after the store holds them: for tabs in this context (and a worker's tabs).
    client.on('message', (m) => {
      if (this.#closing) return;
      const message: ToTab = { t: 'message', sid: client.session?.id, seq: m.seq, data: m.data, bytes: m.bytes, receivedAt: m.receivedAt };
      if (this.#role === 'worker') this.#wire.all(message);
      else if (this.#local !== undefined) this.#wire.to(this.#local, message);
    });
    // A leader's other tabs: as they arrive, held back by what they confirm (see the top of this file).
    const remote = wire.remote;
    if (role === 'leader' && remote && store) {
      store.observeArrivals((s, envelope) => {
        const e = envelope as { t: string; d?: unknown; b?: Uint8Array };
        if (this.#closing) return;
        const sid = client.session?.id;
        const now = Date.now();
        if (e.t === 'm') remote({ t: 'message', sid, seq: s, data: e.b ?? e.d, bytes: e.b, receivedAt: now });
        // (A request or an answer goes to no tab, but a tab's position passes it only with the next message.)
        for (const tab of this.#tabs.values()) if (tab.owes === undefined && tab.id !== local && !(tab.at.sid === sid && tab.at.seq >= s)) tab.owes = now;
      });
      store.holdReceived((sid, arrived) => this.#confirmedUpTo(sid, arrived));
      this.#await();
    }
    store?.on('status', () => all({ t: 'storage', storage: this.storage }));
    if (store) {
      this.#early = [];
      void store.ready.then(() => {
        this.#from = store.position().arrived;
        const early = this.#early ?? [];
        this.#early = undefined;
        for (const [tab, m] of early) this.receive(tab, m);
      });
    }
    const hub = channels(client);
    hub.on('subscription', (sub) => all({ t: 'subscription', name: sub.channel }));
    // One message to every tab (not one per tab's subscription): a leader that dies while it
    // forwards leaves all of them at the same position, which the next one re-subscribes from.
    hub.on('publication', (p, via) => all({ t: 'publication', p, via }));
  }

  get storage(): StorageInfo {
    const store = this.store;
    return store ? { status: store.status, problem: store.problem } : { status: 'none' };
  }

  /** A tab arrived (or came back): it gets the current state. `at`: the last message it was handed. */
  join(tab: string, at?: Position): void {
    if (!this.#tabs.has(tab)) {
      // Where it stands: as it says, in the session the store holds; else (a new tab) here.
      const here = this.store?.position();
      const start = at?.sid !== undefined && at.sid === here?.sid && isSeq(at.seq) ? at : { sid: here?.sid, seq: here?.arrived ?? 0 };
      this.#tabs.set(tab, { id: tab, lastSend: 0, subs: new Map(), at: { sid: start.sid, seq: start.seq }, owes: undefined });
      if (tab !== this.#local) this.#watch(tab);
    }
    const client = this.client;
    const open = client.state.status === 'open' ? this.#opened : undefined;
    this.#wire.to(tab, { t: 'joined', state: plain(client.state), session: client.session, rtt: client.rtt, queued: client.queued, storage: this.storage, role: this.#role, open });
    if (this.#awaited?.delete(tab)) this.store?.advance();
    client.open();
  }

  /** The tab holds this lock while it lives: granted to the hub, it is gone (closed, crashed). */
  #watch(tab: string): void {
    if (this.#watched.has(tab)) return;
    this.#watched.add(tab);
    locks()
      ?.request(tabLock(this.#url, tab), () => this.leave(tab))
      .catch(() => {});
  }

  /**
   * A leader: the other tabs in line for its lock when it began (each tab's own lock says which
   * tab it is, its client id which page): until they join, or go, the received position stays
   * where the last leader left it, so that one slow to hear of this leader loses nothing.
   */
  #await(): void {
    const webLocks = locks();
    if (!webLocks?.query) return;
    this.#awaited = undefined;
    const known = (awaited: Set<string>) => {
      this.#awaited = awaited;
      this.store?.advance();
    };
    webLocks.query().then(({ held = [], pending = [] }) => {
      const inLine = new Set(pending.filter((lock) => lock.name === leaderLock(this.#url)).map((lock) => lock.clientId));
      const prefix = tabLock(this.#url, '');
      const awaited = new Set<string>();
      for (const lock of held) {
        const tab = lock.name?.startsWith(prefix) ? lock.name.slice(prefix.length) : undefined;
        if (tab === undefined || tab === this.#local || this.#tabs.has(tab) || !inLine.has(lock.clientId)) continue;
        awaited.add(tab);
        this.#watch(tab);
      }
      known(awaited);
    }, () => known(new Set()));
  }

  /** How far the received position may go: the least position the other live tabs confirmed. */
  #confirmedUpTo(sid: string | undefined, arrived: number): number {
    const now = Date.now();
    const awaited = this.#awaited;
    if ((awaited === undefined || awaited.size > 0) && now - this.#began < CONFIRM_WAIT_MS && arrived - this.#from <= CONFIRM_MAX_BEHIND) return 0;
    let limit = Infinity;
    for (const tab of this.#tabs.values()) {
      if (tab.id === this.#local) continue;
      const seq = tab.at.sid === sid ? tab.at.seq : 0;
      if ((tab.owes !== undefined && now - tab.owes > CONFIRM_WAIT_MS) || arrived - seq > CONFIRM_MAX_BEHIND) continue;
      limit = Math.min(limit, seq);
    }
    return limit;
  }

  /** A tab confirmed it was handed every message up to `at`. */
  #confirmed(tab: Tab, at: Position): void {
    if (!isSeq(at?.seq)) return; // (tabs are this origin's pages, but a message on the channel is checked all the same)
    tab.at = { sid: at.sid, seq: at.seq };
    const here = this.store?.position();
    // Behind still: it owes the rest (from now: it answers).
    tab.owes = here && (at.sid !== here.sid || at.seq < here.arrived) ? Date.now() : undefined;
    this.store?.advance();
  }

  /** A tab left (or died): its subscriptions end, its handlers go, what it was asked fails. */
  leave(tab: string): void {
    if (this.#awaited?.delete(tab)) this.store?.advance();
    const record = this.#tabs.get(tab);
    if (!record) return;
    this.#tabs.delete(tab);
    this.store?.advance();
    for (const { sub, offs } of record.subs.values()) {
      offs.forEach((off) => off());
      sub.unsubscribe();
    }
    for (const [name, tabs] of this.#handlers) {
      const left = tabs.filter((t) => t !== tab);
      this.#handlers.set(name, left);
      if (left.length === 0) {
        this.#handlers.delete(name);
        this.client.handle(name, undefined);
      }
    }
    for (const [id, ask] of this.#asks) {
      if (ask.tab !== tab) continue;
      this.#asks.delete(id);
      ask.reject(Object.assign(new Error('the tab that handled it went away'), { code: 'LL_HANDLER_GONE' }));
    }
  }

  /**
   * The leader leaves (its page is hidden or closing): what the store holds is written, the
   * connection closes with 4001 so that the session stays resumable, and nothing more is
   * sent to the tabs. The next leader takes over from the store.
   */
  resign(): void {
    this.#closing = true;
    this.store?.release();
    this.client.close(4001, 'shared connection: leader leaving');
  }

  receive(tab: string, m: ToHub): void {
    if (this.#closing || !isToHub(m)) return;
    if (this.#early) return void this.#early.push([tab, m]);
    if (m.t === 'join') return this.join(tab, m.at);
    if (m.t === 'leave') return this.leave(tab); // (also from a tab that never joined: one that closed its client, in line still)
    const record = this.#tabs.get(tab);
    if (!record) return; // left already (or not joined: it will join first)
    const client = this.client;
    // What a request gives, a value or an error, goes back to the tab as its result (a call that throws at once too).
    const reply = (id: number, call: () => Promise<unknown>) =>
      new Promise((resolve) => resolve(call())).then(
        (value) => this.#closing || this.#wire.to(tab, { t: 'result', id, value }),
        (error: unknown) => this.#closing || this.#wire.to(tab, { t: 'result', id, error: wireError(error) }),
      );
    switch (m.t) {
      case 'send':
        return this.#send(record, m);
      case 'confirm':
        return this.#confirmed(record, m.at);
      case 'request':
        return void reply(m.id, () => client.request(m.name, m.data, { timeout: m.timeout }));
      case 'handle':
        return this.#handle(tab, m.name, m.on);
      case 'answer': {
        const ask = this.#asks.get(m.id);
        if (!ask || ask.tab !== tab) return;
        this.#asks.delete(m.id);
        if (m.error) ask.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
        else ask.resolve(m.value);
        return;
      }
      case 'sub':
        return this.#subscribe(record, m.id, m.name, m.presence, m.since);
      case 'unsub': {
        const held = record.subs.get(m.id);
        if (!held) return;
        record.subs.delete(m.id);
        held.offs.forEach((off) => off());
        held.sub.unsubscribe();
        return;
      }
      case 'publish':
        return void reply(m.id, () => channels(client).publish(m.name, m.data));
      case 'presence': {
        const held = record.subs.get(m.sub);
        return void reply(m.id, () => (held ? held.sub.presence() : Promise.reject(new LifelineError('LL_INVALID_OPTION', 'presence(): not subscribed'))));
      }
      case 'open':
        return void client.open();
      case 'check':
        return void client.check();
      case 'close':
        try {
          return client.close(m.code, m.reason);
        } catch {
          return; // a code or reason the client refuses (this code's tabs check them before they ask)
        }
    }
  }

  /** A tab's send, once: a send it repeats to a new leader that the store (or this hub) accepted already is confirmed, not sent again. */
  #send(tab: Tab, m: Extract<ToHub, { t: 'send' }>): void {
    const store = this.store;
    const accepted = Math.max(tab.lastSend, store?.marked(tab.id) ?? 0);
    if (m.id > accepted) {
      tab.lastSend = m.id;
      const options = m.ttl === undefined && m.queue === undefined ? undefined : { ttl: m.ttl, queue: m.queue };
      this.client.send(m.value, options);
      store?.mark(tab.id, m.id);
    }
    if (this.#confirm.size === 0) {
      // Confirmed together, once the store holds everything this turn recorded.
      queueMicrotask(() => {
        const confirm = this.#confirm;
        this.#confirm = new Map();
        const done = () => {
          for (const [id, upTo] of confirm) this.#closing || this.#wire.to(id, { t: 'stored', upTo, queued: this.client.queued });
        };
        if (store) void store.durable().then(done);
        else done();
      });
    }
    this.#confirm.set(tab.id, Math.max(this.#confirm.get(tab.id) ?? 0, m.id));
  }

  #handle(tab: string, name: string, on: boolean): void {
    const tabs = this.#handlers.get(name) ?? [];
    const rest = tabs.filter((t) => t !== tab);
    if (on) rest.push(tab);
    if (rest.length === 0) {
      this.#handlers.delete(name);
      this.client.handle(name, undefined);
      return;
    }
    if (tabs.length === 0) this.client.handle(name, (data) => this.#ask(name, 'serve', data));
    this.#handlers.set(name, rest);
  }

  /** Asks a tab: the first that handles `name` (a server request), or any tab (a token). */
  #ask(name: string | undefined, t: 'serve' | 'token', data: unknown): Promise<unknown> {
    const tab = name === undefined ? (this.#local ?? this.#tabs.keys().next().value) : this.#handlers.get(name)?.[0];
    if (tab === undefined) return Promise.reject(Object.assign(new Error('no tab is there to answer'), { code: 'LL_NO_HANDLER' }));
    const id = this.#nextAsk++;
    return new Promise((resolve, reject) => {
      this.#asks.set(id, { tab, resolve, reject });
      this.#wire.to(tab, t === 'serve' ? { t, id, name: name!, data } : { t, id });
    });
  }

  #subscribe(tab: Tab, id: number, name: string, presence?: boolean, since?: ChannelPosition): void {
    let sub: Subscription;
    const send = (type: string, ...args: unknown[]) =>
      this.#closing || this.#wire.to(tab.id, { t: 'sub-event', id, type, args: args.map((a) => (a instanceof Error ? wireError(a) : a)) });
    try {
      sub = channels(this.client).subscribe(name, { presence, since });
    } catch (error) {
      send('error', error);
      send('state', 'unsubscribed', 'subscribing');
      return;
    }
    const offs = (['subscribed', 'reset', 'presence', 'state', 'error'] as const).map((type) =>
      sub.on(type, (...args: unknown[]) => send(type, ...args)),
    );
    tab.subs.set(id, { sub, offs });
    // Where the channel stands (held by another tab already): this tab drops what it had, and
    // hears that its subscription is confirmed, as the first tab did.
    if (sub.position) send('position', sub.position);
    send('state', sub.state, 'subscribing');
    if (sub.state === 'subscribed') send('subscribed', { position: sub.position, recovered: false });
  }
}
