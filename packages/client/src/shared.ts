/**
 * One connection for all tabs, the entry point `@lifeline/client/shared`:
 *
 *   import { shared } from '@lifeline/client/shared';
 *   const client = shared('wss://example.test/chat', { store: 'chat' });
 *   client.on('message', (m) => show(m.data));          // in every tab, each message once
 *   client.send({ text: 'hi' });                          // from any tab, on the one session
 *
 * Every tab of an origin that calls `shared()` with the same URL and store uses one
 * WebSocket and one Lifeline session (PROTOCOL.md §2), held by a hub (hub.ts):
 *
 * - in a SharedWorker, when the page passes `worker` (a SharedWorker running `serveTabs()`
 *   from `@lifeline/client/shared-worker`) and the browser has SharedWorker;
 * - else in a leader tab, chosen with a Web Lock, which the others reach over a
 *   BroadcastChannel. When the leader closes or crashes, the next tab in line takes the lock
 *   and the same session, from the persistent store the leader wrote (IndexedDB);
 * - else (no Web Locks or BroadcastChannel) in each tab, as `createClient` would.
 *
 * The returned client has the API of a Lifeline-mode `LifelineClient` (state, events, send,
 * request, handle) and works with `@lifeline/client/channels` and `@lifeline/vue`.
 */
import { LifelineError, type ChannelPosition, type PresenceMember } from '@lifeline/protocol';
import { channelHosts, type ChannelHost } from './channel-link.js';
import type { Channels, ChannelsEvents, Publication, Subscription, SubscribeOptions, SubscriptionEvents, SubscriptionState } from './channels.js';
import { checkCloseArguments, type ClientEvents, type LifelineClientLike, type RequestOptions, type SendOptions } from './client.js';
import { Emitter, type Off } from './emitter.js';
import { checkSettings, fromWire, Hub, wireError, type HubWire } from './hub.js';
import type { RequestHandler, SessionInfo } from './mode.js';
import { isMessage, leaderLock, tabLock, type SharedSettings, type StorageInfo, type ToHub, type ToTab } from './shared-protocol.js';
import type { ClientState } from './state.js';
import { toWebSocketUrl } from './url.js';

/** A SharedWorker as far as this module needs one (declared here: the package's types do not depend on the DOM library). */
export interface SharedWorkerLike {
  readonly port: PortLike;
}

interface PortLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  start?(): void;
}

interface ChannelLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

interface Locks {
  request(name: string, callback: () => Promise<void> | void): Promise<unknown>;
}

interface Platform {
  SharedWorker?: unknown;
  MessageChannel?: new () => { port1: PortLike; port2: PortLike };
  BroadcastChannel?: new (name: string) => ChannelLike;
  navigator?: { locks?: Locks | null };
  addEventListener?(type: string, listener: (event: { persisted?: boolean }) => void): void;
  crypto?: { randomUUID?(): string };
}
const platform = globalThis as unknown as Platform;

/** A follower confirms to the leader at least every this many messages it was handed. */
const CONFIRM_EVERY = 64;

export interface SharedOptions extends Omit<SharedSettings, 'token' | 'store'> {
  /**
   * The persistent store (`persistent(name)` from `@lifeline/client/persist`, kept in
   * IndexedDB): the session and the outbox survive reloads and crashes. A leader tab always
   * keeps one, since that is how the next leader takes the session over: default
   * `shared:<url>`. `false`: memory (then losing the leader resets the session).
   */
  store?: string | false;
  /** Makes the SharedWorker to use: `() => new SharedWorker(new URL('./lifeline-worker.js', import.meta.url), { type: 'module' })`. */
  worker?: () => SharedWorkerLike;
  /** `auto` (default): the worker where there is one, else a leader tab, else this tab alone. */
  via?: 'auto' | 'worker' | 'leader' | 'solo';
  /** An access token for the hello (`lifeline({ token })`), asked of a tab before every connection. */
  token?: () => string | Promise<string>;
}

/** Who holds the connection, seen from this tab: `pending` before a hub answered. */
export type SharedRole = 'pending' | 'worker' | 'leader' | 'follower' | 'solo';

export interface SharedClientEvents<In = unknown, Out = unknown> extends ClientEvents<In, Out> {
  /** This tab's role changed: it became the leader, or found one, or joined a worker. */
  role: [role: SharedRole];
  /** The hub's store changed status (`persistent`, or `memory` with the problem). */
  storage: [storage: StorageInfo];
}

/** On the BroadcastChannel of a leader: to the leader (`up`), from it (`down`, to one tab or `*`), and who leads. */
type Msg = { dir: 'up'; from: string; to: string; m: ToHub } | { dir: 'down'; from: string; to: string; m: ToTab } | { dir: 'who'; from: string } | { dir: 'leader'; from: string };

const randomId = (): string =>
  platform.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;

/** The pieces of `options` a hub needs, as plain data. */
function settingsOf(url: string, options: SharedOptions, leader: boolean): SharedSettings {
  const { worker: _w, via: _v, token, store, ...rest } = options;
  return { ...rest, token: token !== undefined, store: store === false ? false : (store ?? (leader ? `shared:${url}` : false)) };
}

/**
 * `shared(url, options)`: this tab's client on the connection every tab of the origin shares
 * for `url` (see the top of this file). Throws `LL_INVALID_URL` like `createClient`.
 */
export function shared<In = unknown, Out = unknown>(url: string | { href: string }, options: SharedOptions = {}): SharedClient<In, Out> {
  return new SharedClient<In, Out>(toWebSocketUrl(url), options);
}

export class SharedClient<In = unknown, Out = unknown> extends Emitter<SharedClientEvents<In, Out>> implements LifelineClientLike<In, Out>, ChannelHost {
  readonly url: string;
  /** This tab's id among the tabs of the connection. */
  readonly tab = randomId();
  readonly #options: SharedOptions;
  #role: SharedRole = 'pending';
  #state: ClientState = { status: 'connecting', attempt: 1, since: Date.now() };
  #session: SessionInfo | undefined;
  #rtt: number | undefined;
  #queued = 0;
  #storage: StorageInfo = { status: 'none' };
  /** Where this tab's messages to the hub go; undefined while no hub answers. */
  #up: ((m: ToHub) => void) | undefined;
  /** Which hub that is (a leader's tab id, `worker`, `solo`): a new one gets this tab's state again. */
  #hubId: string | undefined;
  #left = false;

  #nextId = 1;
  /** Sends the hub has not confirmed: sent again to a new leader, which drops what it has. */
  #unconfirmed: { id: number; value: unknown; options: SendOptions | undefined }[] = [];
  /** Requests in flight: `m` until it went to a hub (then it fails if that hub goes). */
  #requests = new Map<number, { m: Extract<ToHub, { id: number }> | undefined; resolve(value: unknown): void; reject(error: unknown): void }>();
  #handlers = new Map<string, RequestHandler>();
  #subs = new Map<number, TabSubscription>();
  #channels: TabChannels | undefined;
  /** Dedup of server messages (a new leader resends what the old one may have forwarded). */
  #sid: string | undefined;
  #seq = 0;
  /** A follower: messages handed over since its last confirmation, and the task that sends the next. */
  #handed = 0;
  #tick: { port1: PortLike; port2: PortLike } | undefined;
  #ticking = false;

  // Leader mode.
  #hub: Hub | undefined;
  #bc: ChannelLike | undefined;
  #resign: (() => void) | undefined;
  /** The page is hidden (pagehide until pageshow): it neither leads nor follows. */
  #hidden = false;

  constructor(url: string, options: SharedOptions) {
    super();
    this.url = url;
    this.#options = options;
    checkSettings(url, settingsOf(url, options, false)); // bad options throw here, as createClient's do
    channelHosts.set(this, this);
    const via = options.via ?? 'auto';
    const canWorker = options.worker !== undefined && typeof platform.SharedWorker === 'function';
    const canLead = typeof platform.BroadcastChannel === 'function' && !!platform.navigator?.locks;
    if ((via === 'auto' || via === 'worker') && canWorker) this.#viaWorker();
    else if ((via === 'auto' || via === 'leader') && canLead) this.#viaLeader();
    else this.#alone();
    // A page entering the back/forward cache or closing lets go; one restored from the cache comes back.
    platform.addEventListener?.('pagehide', () => this.#away());
    platform.addEventListener?.('pageshow', (event) => event.persisted && this.#back());
  }

  get role(): SharedRole {
    return this.#role;
  }

  get state(): ClientState {
    return this.#state;
  }

  get session(): SessionInfo | undefined {
    return this.#session;
  }

  get rtt(): number | undefined {
    return this.#rtt;
  }

  /** Messages waiting: in the hub's outbox, and this tab's sends the hub has not taken yet. */
  get queued(): number {
    return this.#queued + this.#unconfirmed.length;
  }

  /** The hub's persistent store: `persistent`, `memory` (and why), `opening`, or `none`. */
  get storage(): StorageInfo {
    return this.#storage;
  }

  /** Sends on the shared session. `false` only when this tab closed its client (a `drop` event says so); the hub's outbox rules apply there. */
  send(value: Out, options?: SendOptions): boolean {
    if (this.#left) {
      this.emit('drop', { data: value, reason: 'closed', queuedAt: Date.now() });
      return false;
    }
    const id = this.#nextId++;
    this.#unconfirmed.push({ id, value, options });
    this.#up?.({ t: 'send', id, value, ...(options ?? {}) });
    return true;
  }

  request(name: string, data?: unknown, options: RequestOptions = {}): Promise<unknown> {
    if (this.#left) return Promise.reject(new LifelineError('LL_SESSION_CLOSED', `Request "${name}": this tab closed its client.`));
    return this.#call({ t: 'request', id: 0, name, data, timeout: options.timeout });
  }

  handle(name: string, handler: RequestHandler | undefined): this {
    if (name.startsWith('$')) throw new LifelineError('LL_INVALID_OPTION', `handle("${name}"): names starting with $ are reserved for the protocol (PROTOCOL.md §3.3).`);
    if (handler) this.#handlers.set(name, handler);
    else this.#handlers.delete(name);
    this.#up?.({ t: 'handle', name, on: handler !== undefined });
    return this;
  }

  /** Joins the shared connection again after `close()` (or retries now). */
  /**
   * The client's `check()` on the shared connection: the hub probes the link now (or tries now
   * while waiting to reconnect). For the events a hub does not hear itself: a SharedWorker has
   * no visibility, and only the leader tab's own `online` and visibility reach a leader.
   */
  check(): this {
    this.#up?.({ t: 'check' });
    return this;
  }

  open(): this {
    if (this.#left) {
      this.#left = false;
      this.#join();
    } else this.#up?.({ t: 'open' });
    return this;
  }

  /**
   * This tab leaves the shared connection (it goes on for the other tabs; the session is not
   * ended, so a reload resumes it). Its client becomes `closed`. `closeAll()` ends it for all.
   */
  close(code = 1000, reason = ''): void {
    if (this.#left) return;
    this.#up?.({ t: 'leave' });
    this.#left = true;
    this.#failPending('LL_SESSION_CLOSED', 'this tab closed its client');
    const previous = this.#state;
    this.#setState({ status: 'closed', attempt: previous.attempt, since: Date.now() });
    this.emit('close', { code, reason, wasClean: true, action: 'stop', at: Date.now() });
  }

  /** Closes the shared connection for every tab (`close(code)` on the hub's client): with 1000 the session ends on the server. */
  closeAll(code = 1000, reason = ''): void {
    checkCloseArguments(code, reason); // here, to the caller: the hub that closes runs in another tab or a worker
    this.#up?.({ t: 'close', code, reason });
  }

  /** @internal `@lifeline/client/channels` on this client: `channels(client)`, `subscribe(client, …)`. */
  channels<S>(): S {
    return (this.#channels ??= new TabChannels(this)) as S;
  }

  // ---- how this tab reaches a hub -------------------------------------------------------

  #viaWorker(): void {
    const port = this.#options.worker!().port;
    port.onmessage = (event) => isMessage(event.data) && this.#fromHub('worker', event.data as ToTab);
    port.start?.();
    this.#up = undefined;
    void this.#alive().then(() => {
      this.#connect('worker', (m) => port.postMessage({ tab: this.tab, m }));
    });
  }

  #viaLeader(): void {
    const bc = (this.#bc = new platform.BroadcastChannel!(`lifeline:${this.url}`));
    bc.onmessage = (event) => this.#broadcast(event.data as Msg);
    void this.#alive().then(() => {
      this.#campaign();
      bc.postMessage({ dir: 'who', from: this.tab } satisfies Msg);
    });
  }

  /** No way to share: the hub lives in this tab, for this tab. */
  #alone(): void {
    this.#lead('solo');
  }

  /** Holds this tab's lock while it lives: a hub that is granted it knows the tab is gone. */
  #alive(): Promise<void> {
    const locks = platform.navigator?.locks;
    if (!locks) return Promise.resolve();
    return new Promise((held) => {
      locks.request(tabLock(this.url, this.tab), () => new Promise<void>(() => held())).catch(() => held());
    });
  }

  /** Waits in line for the leader's lock; holds it until the page leaves. */
  #campaign(): void {
    void platform.navigator!.locks!.request(leaderLock(this.url), () => {
      if (this.#hidden) return; // hidden while waiting: the next tab leads
      return new Promise<void>((resign) => {
        this.#resign = resign;
        this.#lead('leader');
      });
    });
  }

  #lead(role: 'leader' | 'solo'): void {
    const bc = this.#bc;
    const wire: HubWire = {
      to: (tab, m) => (tab === this.tab ? this.#fromHub(this.tab, m) : bc?.postMessage({ dir: 'down', from: this.tab, to: tab, m } satisfies Msg)),
      all: (m) => {
        bc?.postMessage({ dir: 'down', from: this.tab, to: '*', m } satisfies Msg);
        this.#fromHub(this.tab, m);
      },
      remote: (m) => bc?.postMessage({ dir: 'down', from: this.tab, to: '*', m } satisfies Msg),
    };
    const hub = (this.#hub = new Hub(this.url, settingsOf(this.url, this.#options, role === 'leader'), role, wire, this.tab));
    this.#connect(this.tab, (m) => hub.receive(this.tab, m), role);
    bc?.postMessage({ dir: 'leader', from: this.tab } satisfies Msg);
  }

  #broadcast(msg: Msg): void {
    // Anything else on this channel (another script using its name) is not for us.
    if (typeof msg !== 'object' || msg === null || typeof msg.from !== 'string') return;
    if ((msg.dir === 'up' || msg.dir === 'down') && !isMessage(msg.m)) return;
    const hub = this.#hub;
    if (msg.dir === 'who') {
      if (hub && this.#role === 'leader') this.#bc!.postMessage({ dir: 'leader', from: this.tab } satisfies Msg);
    } else if (msg.dir === 'leader') {
      if (msg.from !== this.#hubId && !this.#hub) this.#connect(msg.from, (m) => this.#bc!.postMessage({ dir: 'up', from: this.tab, to: msg.from, m } satisfies Msg), 'follower');
    } else if (msg.dir === 'up') {
      if (msg.to === this.tab && hub) hub.receive(msg.from, msg.m);
    } else if (msg.to === this.tab || msg.to === '*') {
      if (!hub) this.#fromHub(msg.from, msg.m);
    }
  }

  /**
   * A (new) hub: this tab joins it and gives it what it holds. Sends it never confirmed go
   * again (the hub drops those its store already accepted), handlers and subscriptions are
   * made again (subscriptions from their last position), and requests in flight fail
   * (`LL_LEADER_LOST`): the old hub may or may not have sent them.
   */
  #connect(hubId: string, up: (m: ToHub) => void, role?: SharedRole): void {
    const changed = this.#hubId !== undefined && this.#hubId !== hubId;
    this.#hubId = hubId;
    this.#up = up;
    if (changed) {
      this.#failPending('LL_LEADER_LOST', 'the tab that held the shared connection went away before the answer came; it may or may not have run');
      // The old hub's connection is gone: until the new hub says how its own is, this tab is
      // between connections, not still `open` on one that no longer carries it (and a tab
      // that takes over must not show the old leader's state beside its new role).
      if (!this.#left && this.#state.status === 'open') this.#setState({ status: 'reconnecting', attempt: this.#state.attempt, since: Date.now(), lastClose: this.#state.lastClose });
    }
    if (role) this.#setRole(role);
    if (!this.#left) this.#join();
    else up({ t: 'leave' }); // in line for the lock still, but not on the connection: a new leader need not wait for it
  }

  #join(): void {
    const up = this.#up;
    if (!up) return;
    const at = this.#sid === undefined ? undefined : { sid: this.#sid, seq: this.#seq };
    up({ t: 'join', url: this.url, settings: settingsOf(this.url, this.#options, this.#role === 'leader'), at });
    for (const name of this.#handlers.keys()) up({ t: 'handle', name, on: true });
    for (const [id, sub] of this.#subs) up({ t: 'sub', id, name: sub.channel, presence: sub.wantsPresence, since: sub.position });
    for (const { id, value, options } of this.#unconfirmed) up({ t: 'send', id, value, ...(options ?? {}) });
    for (const request of this.#requests.values()) {
      const m = request.m;
      request.m = undefined;
      if (m) up(m);
    }
  }

  /** Fails the requests that went to a hub (all of them when this tab closes). */
  #failPending(code: 'LL_LEADER_LOST' | 'LL_SESSION_CLOSED', why: string): void {
    for (const [id, request] of this.#requests) {
      if (request.m && code === 'LL_LEADER_LOST') continue;
      this.#requests.delete(id);
      request.reject(new LifelineError(code, `Request: ${why}.`));
    }
  }

  /** The page goes away (or into the back/forward cache): a leader hands the connection over, a follower leaves. */
  #away(): void {
    this.#hidden = true;
    const hub = this.#hub;
    if (hub && this.#role === 'leader') {
      this.#hub = undefined;
      hub.resign();
      this.#resign?.();
      this.#resign = undefined;
      this.#hubId = undefined;
      this.#up = undefined;
    } else if (this.#role !== 'solo') {
      this.#up?.({ t: 'leave' });
      // A follower finds whoever leads when it comes back; a worker's port stays.
      if (this.#role !== 'worker') this.#hubId = this.#up = undefined;
    }
    if (this.#role !== 'solo') this.#failPending('LL_LEADER_LOST', 'the page was hidden before the answer came');
  }

  /** Back from the back/forward cache: in line again, and joined to whoever leads now. */
  #back(): void {
    this.#hidden = false;
    if (this.#role === 'solo' || this.#role === 'worker') return void this.#join();
    this.#campaign();
    this.#bc?.postMessage({ dir: 'who', from: this.tab } satisfies Msg);
  }

  /**
   * Confirms to the leader the last message handed over: at once every `CONFIRM_EVERY`
   * messages, else in a task of its own right after the ones queued now (a MessageChannel's,
   * which hidden tabs do not throttle as they do timers).
   */
  #confirmSoon(): void {
    if (++this.#handed >= CONFIRM_EVERY || !platform.MessageChannel) return this.#confirm();
    if (this.#ticking) return;
    this.#ticking = true;
    if (!this.#tick) {
      this.#tick = new platform.MessageChannel();
      this.#tick.port1.onmessage = () => this.#ticking && this.#confirm();
    }
    this.#tick.port2.postMessage(0);
  }

  #confirm(): void {
    this.#handed = 0;
    this.#ticking = false;
    if (this.#sid !== undefined) this.#up?.({ t: 'confirm', at: { sid: this.#sid, seq: this.#seq } });
  }

  #setRole(role: SharedRole): void {
    if (role === this.#role) return;
    this.#role = role;
    this.emit('role', role);
  }

  #setStorage(storage: StorageInfo): void {
    if (storage.status === this.#storage.status && storage.problem === this.#storage.problem) return;
    this.#storage = storage;
    this.emit('storage', storage);
  }

  #setState(state: ClientState): void {
    const previous = this.#state;
    this.#state = state;
    this.emit('state', state, previous);
  }

  // ---- what the hub says ----------------------------------------------------------------

  #fromHub(hubId: string, m: ToTab): void {
    if (hubId !== this.#hubId || this.#left) return;
    switch (m.t) {
      case 'joined':
        this.#rtt = m.rtt;
        this.#setStorage(m.storage);
        if (m.role === 'worker') this.#setRole('worker');
        this.#mirror(m.state, m.session, m.queued);
        if (m.open) this.emit('open', m.open as never);
        return;
      case 'state':
        return this.#mirror(m.state, m.session, m.queued);
      case 'event':
        return this.#event(m.type, m.arg);
      case 'message': {
        if (m.sid === this.#sid && m.seq !== undefined && m.seq <= this.#seq) return; // had it from the last leader
        this.#sid = m.sid;
        if (m.seq !== undefined) this.#seq = m.seq;
        const message = { data: m.data, receivedAt: m.receivedAt, seq: m.seq, ...(m.bytes ? { bytes: m.bytes } : {}) };
        this.emit('message', message as ClientEvents<In, Out>['message'][0]);
        // A leader's other tab says what it was handed: the leader goes no further (hub.ts).
        if (this.#role === 'follower') this.#confirmSoon();
        return;
      }
      case 'stored': {
        this.#unconfirmed = this.#unconfirmed.filter((u) => u.id > m.upTo);
        this.#queued = m.queued;
        return;
      }
      case 'result': {
        const request = this.#requests.get(m.id);
        if (!request) return;
        this.#requests.delete(m.id);
        if (m.error) request.reject(fromWire(m.error));
        else request.resolve(m.value);
        return;
      }
      case 'serve':
      case 'token':
        return void this.#serve(m);
      case 'sub-event':
        return this.#subs.get(m.id)?.hubEvent(m.type, m.args);
      case 'subscription':
        return this.#channels?.madeByServer(m.name);
      case 'publication':
        return this.#channels?.publication(m.p as Publication, m.via);
      case 'storage':
        return this.#setStorage(m.storage);
    }
  }

  #mirror(state: unknown, session: unknown, queued: number): void {
    const s = state as ClientState & { error?: { code: string; message: string } };
    this.#session = session as SessionInfo | undefined;
    this.#queued = queued;
    const next = (s.error ? { ...s, error: fromWire(s.error) } : s) as ClientState;
    if (next.status !== this.#state.status || next.since !== this.#state.since) this.#setState(next);
  }

  #event(type: string, arg: unknown): void {
    const a = arg as { code?: string; message?: string };
    switch (type) {
      case 'error':
        return this.emit('error', fromWire(a as { code: string; message: string }));
      case 'heartbeat':
        this.#rtt = arg as number;
        return this.emit('heartbeat', arg as number);
      case 'open':
      case 'close':
      case 'reset':
      case 'drop':
        return this.emit(type, arg as never);
    }
  }

  async #serve(m: Extract<ToTab, { t: 'serve' | 'token' }>): Promise<void> {
    const up = this.#up;
    let answer: ToHub;
    try {
      const work = m.t === 'token' ? this.#options.token?.() : this.#handlers.get(m.name)?.(m.data);
      answer = { t: 'answer', id: m.id, value: await work };
    } catch (error) {
      answer = { t: 'answer', id: m.id, error: wireError(error) };
    }
    if (up === this.#up) up?.(answer);
  }

  /** A request through the hub: `m.id` is filled in. */
  #call(m: Extract<ToHub, { id: number }>): Promise<unknown> {
    const id = this.#nextId++;
    const up = this.#up;
    return new Promise((resolve, reject) => {
      // Without a hub it waits for one (`#join`).
      this.#requests.set(id, { m: up ? undefined : { ...m, id }, resolve, reject });
      up?.({ ...m, id });
    });
  }

  // ---- channels -------------------------------------------------------------------------

  /** @internal */
  subscribeTab(sub: TabSubscription, since: ChannelPosition | undefined): number {
    const id = this.#nextId++;
    this.#subs.set(id, sub);
    this.#up?.({ t: 'sub', id, name: sub.channel, presence: sub.wantsPresence, since });
    return id;
  }

  /** @internal */
  unsubscribeTab(id: number): void {
    this.#subs.delete(id);
    this.#up?.({ t: 'unsub', id });
  }

  /** @internal */
  callTab(m: Extract<ToHub, { t: 'publish' | 'presence' }>): Promise<unknown> {
    return this.#call(m);
  }
}

// ---- channels through the hub -----------------------------------------------------------

/** `channels(client)` of a shared client: each subscription is held by the hub, its events forwarded here. */
class TabChannels extends Emitter<ChannelsEvents> implements Channels {
  readonly #client: SharedClient<any, any>;
  readonly #subs = new Set<TabSubscription>();

  constructor(client: SharedClient<any, any>) {
    super();
    this.#client = client;
  }

  get names(): string[] {
    return [...new Set([...this.#subs].map((s) => s.channel))];
  }

  subscribe<T = unknown>(name: string, options: SubscribeOptions = {}): Subscription<T> {
    const sub = new TabSubscription(this.#client, this, name, options);
    this.#subs.add(sub);
    return sub as Subscription<any>;
  }

  publish(name: string, data: unknown): Promise<ChannelPosition> {
    return this.#client.callTab({ t: 'publish', id: 0, name, data }) as Promise<ChannelPosition>;
  }

  /** @internal */
  ended(sub: TabSubscription): void {
    this.#subs.delete(sub);
  }

  /** @internal A subscription the server made: this tab holds it too, and says so. */
  madeByServer(name: string): void {
    if ([...this.#subs].some((s) => s.channel === name)) return;
    this.emit('subscription', this.subscribe(name));
  }

  /** @internal A publication of the session: to this tab's subscriptions to `via`, each once. */
  publication(p: Publication, via: string): void {
    let delivered = false;
    for (const sub of this.#subs) if (sub.channel === via && sub.deliver(p)) delivered = true;
    if (delivered) this.emit('publication', p, via);
  }
}

class TabSubscription extends Emitter<SubscriptionEvents<any>> implements Subscription<any> {
  readonly channel: string;
  readonly wantsPresence: boolean;
  #state: SubscriptionState = 'subscribing';
  #position: ChannelPosition | undefined;
  #members: PresenceMember[] | undefined;
  #id: number;

  constructor(
    private readonly client: SharedClient<any, any>,
    private readonly owner: TabChannels,
    name: string,
    options: SubscribeOptions,
  ) {
    super();
    this.channel = name;
    this.wantsPresence = options.presence === true;
    this.#position = options.since;
    this.#id = client.subscribeTab(this, options.since);
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  get position(): ChannelPosition | undefined {
    return this.#position;
  }

  get members(): readonly PresenceMember[] | undefined {
    return this.#members;
  }

  presence(): Promise<{ members: PresenceMember[]; count: number }> {
    return this.client.callTab({ t: 'presence', id: 0, sub: this.#id }) as Promise<{ members: PresenceMember[]; count: number }>;
  }

  publish(data: unknown): Promise<ChannelPosition> {
    return this.owner.publish(this.channel, data);
  }

  unsubscribe(): void {
    if (this.#state === 'unsubscribed') return;
    this.client.unsubscribeTab(this.#id);
    this.owner.ended(this);
    this.#setState('unsubscribed');
  }

  /** @internal An event of the hub's subscription. */
  hubEvent(type: string, args: unknown[]): void {
    if (this.#state === 'unsubscribed') return;
    switch (type) {
      case 'subscribed': {
        const info = args[0] as { position?: ChannelPosition };
        if (info.position && (!this.#position || this.#position.epoch !== info.position.epoch)) this.#position = info.position;
        return this.emit('subscribed', args[0] as never);
      }
      case 'position':
        this.#position ??= args[0] as ChannelPosition;
        return;
      case 'reset':
        this.#position = (args[0] as { position: ChannelPosition }).position;
        return this.emit('reset', args[0] as never);
      case 'presence':
        this.#members = [...(args[0] as { members: PresenceMember[] }).members];
        return this.emit('presence', args[0] as never);
      case 'state':
        return this.#setState(args[0] as SubscriptionState);
      case 'error':
        return this.emit('error', fromWire(args[0] as { code: string; message: string }));
    }
  }

  /** @internal A publication on this channel: delivered unless this tab had it (a new leader re-subscribed from a position). */
  deliver(p: Publication): boolean {
    const at = this.#position;
    if (this.#state === 'unsubscribed' || (at && p.epoch === at.epoch && p.offset <= at.offset)) return false;
    if (!this.channel.endsWith(':*')) this.#position = { offset: p.offset, epoch: p.epoch };
    this.emit('publication', p);
    return true;
  }

  #setState(state: SubscriptionState): void {
    const previous = this.#state;
    if (previous === state || previous === 'unsubscribed') return;
    this.#state = state;
    this.emit('state', state, previous);
  }
}

export type { Off };
export type { StorageInfo } from './shared-protocol.js';
