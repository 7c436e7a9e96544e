/**
 * Channels in Lifeline mode (PROTOCOL.md §3), the entry point `@lifeline/client/channels`:
 * named streams of publications that survive reconnects. Each subscription delivers every
 * publication once, in offset order, or says that it cannot (a `reset`): never a silent gap.
 *
 *   import { subscribe, publish } from '@lifeline/client/channels';
 *   const prices = subscribe(client, 'prices:btc');   // client: createClient(url, { mode: lifeline() })
 *   prices.on('publication', (p) => show(p.data));
 *
 * A separate entry point, like `@lifeline/client/msgpack`: an application that uses Lifeline
 * mode without channels does not bundle them. The session (lifeline.ts) hands this module
 * the unsequenced `p`/`pr` envelopes, the server's `$subscribed`/`$unsubscribed` requests and
 * every welcome through channel-link.ts, once the first call here attached it.
 */
import { channelHosts, type ChannelLink, type ChannelSink } from './channel-link.js';
import { Emitter, type Off } from './emitter.js';
import {
  isChannelName,
  isChannelPattern,
  isEpoch,
  LifelineError,
  patternOf,
  RequestError,
  type ChannelPosition,
  type LifelineErrorCode,
  type PresenceEnvelope,
  type PresenceMember,
  type PublicationEnvelope,
  type ResponseError,
} from '@lifeline/protocol';

/** A publication as a subscription delivers it. */
export interface Publication<T = unknown> {
  /** The channel it was published on (for a pattern subscription, the matching channel). */
  readonly channel: string;
  /** The JSON value published, or a `Uint8Array` for bytes (also in `bytes`). */
  readonly data: T;
  readonly bytes?: Uint8Array;
  /** Its offset in the channel: 1, 2, 3 … within one epoch. */
  readonly offset: number;
  readonly epoch: string;
}

export interface SubscribeOptions {
  /** Join the channel's presence and keep `members` (the server must enable presence on it). */
  presence?: boolean;
  /**
   * Start after this position (one saved from `subscription.position`): the publications
   * after it are recovered from the channel's history, or a `reset` says they cannot be.
   * Applies when this call creates the subscription; a channel already subscribed goes on
   * from where it is. Ignored for patterns.
   */
  since?: ChannelPosition;
}

/**
 * `subscribing`: a `$subscribe` is on its way, or waits for the connection; publications
 * that continue the stream are still delivered. `subscribed`: the server confirmed it.
 * `unsubscribed`: final (`unsubscribe()`, a refusal, or the server ended it).
 */
export type SubscriptionState = 'subscribing' | 'subscribed' | 'unsubscribed';

export type ChannelResetReason = 'epoch' | 'too-old';

export interface SubscribedInfo {
  /** Where the channel stood when the subscription took effect; undefined for a pattern. */
  readonly position: ChannelPosition | undefined;
  /** true: the publications missed since the last position follow; false on a first subscription or a reset. */
  readonly recovered: boolean;
}

export interface ChannelResetInfo {
  /** `epoch`: the channel's engine may have lost publications; `too-old`: its history no longer reaches back. */
  readonly reason: ChannelResetReason;
  /** Where the channel stands: delivery goes on from here. */
  readonly position: ChannelPosition;
}

export interface PresenceChange {
  /** Who arrived (or changed `info`) since the last event. */
  readonly join: readonly PresenceMember[];
  /** The ids of who left. */
  readonly leave: readonly string[];
  /** Everyone present now, as far as this client knows. */
  readonly members: readonly PresenceMember[];
}

export interface SubscriptionEvents<T = unknown> {
  /** The next publication: each exactly once, in offset order. */
  publication: [publication: Publication<T>];
  /** The server confirmed the subscription: the first time, and after every re-subscription (reconnects, gaps). */
  subscribed: [info: SubscribedInfo];
  /** Publications were lost and cannot be recovered: resynchronise (fetch the current state). Delivery goes on after `position`. */
  reset: [info: ChannelResetInfo];
  /** Presence changed (with `presence: true`). */
  presence: [change: PresenceChange];
  state: [state: SubscriptionState, previous: SubscriptionState];
  /** The server refused the subscription (`LL_FORBIDDEN`, `LL_TOO_MANY_CHANNELS`, `LL_INVALID_CHANNEL`…): it is `unsubscribed` now, and not retried. */
  error: [error: LifelineError];
}

export interface ChannelsEvents {
  /** The server subscribed this client to a channel (`$subscribed`): listen to it here. */
  subscription: [subscription: Subscription];
  /**
   * Every publication delivered on this client, once per subscription it came through: the
   * channel or pattern (`prices:*`) in `via`. Server-made subscriptions included.
   */
  publication: [publication: Publication, via: string];
}

/**
 * One hold on a channel or pattern: `subscribe(client, name)`. Several may hold the same
 * channel (two components, say); it stays subscribed on the server until the last one
 * unsubscribes, and each gets every event.
 */
export interface Subscription<T = unknown> {
  /** The channel or pattern. */
  readonly channel: string;
  readonly state: SubscriptionState;
  /**
   * The last publication delivered (offset 0 before the first): save it to subscribe later
   * with `since`. Undefined until the server gave a position, and for patterns.
   */
  readonly position: ChannelPosition | undefined;
  /** With presence: who is present, kept from the server's list and its changes; else undefined. */
  readonly members: readonly PresenceMember[] | undefined;
  on<K extends keyof SubscriptionEvents<T>>(type: K, listener: (...args: SubscriptionEvents<T>[K]) => void): Off;
  off<K extends keyof SubscriptionEvents<T>>(type: K, listener: (...args: SubscriptionEvents<T>[K]) => void): void;
  /** Asks the server who is present now (`$presence`). Rejects `LL_FORBIDDEN` where presence is off. */
  presence(): Promise<{ members: PresenceMember[]; count: number }>;
  /** `publish(client, channel, data)` on this channel. */
  publish(data: unknown): Promise<ChannelPosition>;
  /** Ends this hold (state `unsubscribed`, no more events); the last one unsubscribes on the server. Idempotent. */
  unsubscribe(): void;
}

/** A client's channels: `channels(client)`. */
export interface Channels {
  /** The channels and patterns subscribed now, by the application or the server. */
  readonly names: string[];
  /** See {@link subscribe}. */
  subscribe<T = unknown>(name: string, options?: SubscribeOptions): Subscription<T>;
  /** See {@link publish}. */
  publish(name: string, data: unknown): Promise<ChannelPosition>;
  on<K extends keyof ChannelsEvents>(type: K, listener: (...args: ChannelsEvents[K]) => void): Off;
  off<K extends keyof ChannelsEvents>(type: K, listener: (...args: ChannelsEvents[K]) => void): void;
}

/** The server's refusals that name the reason (PROTOCOL.md §3.3): rethrown with that code. */
const CHANNEL_CODES: readonly string[] = ['LL_INVALID_CHANNEL', 'LL_FORBIDDEN', 'LL_TOO_MANY_CHANNELS', 'LL_UNAVAILABLE', 'LL_INVALID_REQUEST'];

/** A refusal as the application sees it: `error.code` is the server's channel code where it has one. */
function channelError(error: Error): Error {
  if (!(error instanceof RequestError) || !CHANNEL_CODES.includes(error.remote.code)) return error;
  return new LifelineError(error.remote.code as LifelineErrorCode, `${error.requestName}: ${error.remote.message}`, { cause: error });
}

// ---- one channel on the wire ---------------------------------------------------------

/**
 * One channel (or pattern) this client subscribes to. Any number of handles share it: the
 * session holds one subscription per channel on the server.
 */
interface Entry {
  readonly name: string;
  readonly pattern: boolean;
  readonly handles: Set<Handle>;
  state: 'subscribing' | 'subscribed';
  /** The last offset delivered, in `epoch`; `epoch` is undefined until a position is known. */
  offset: number;
  epoch: string | undefined;
  /** The wire subscription asks for presence; `members` is kept once it does. */
  presence: boolean;
  members: Map<string, PresenceMember> | undefined;
  /** A `$subscribe` is on its way: no second one is sent until it settles (one in flight per channel). */
  inflight: boolean;
  /** Send another `$subscribe` when the one in flight settles (a welcome or a `$subscribed` came meanwhile). */
  again: boolean;
  /** The server confirmed it at least once: a later refusal must also end what the session holds. */
  confirmed: boolean;
  /**
   * Patterns: the last offset delivered per channel. A publication reaches a session once
   * per subscription it matches (`prices:btc` and `prices:*`), as identical frames.
   */
  seen: Map<string, { offset: number; epoch: string }> | undefined;
}

function newEntry(name: string, presence: boolean): Entry {
  const pattern = isChannelPattern(name);
  return {
    name,
    pattern,
    handles: new Set(),
    state: 'subscribing',
    offset: 0,
    epoch: undefined,
    presence,
    members: presence ? new Map() : undefined,
    inflight: false,
    again: false,
    confirmed: false,
    seen: pattern ? new Map() : undefined,
  };
}

interface SubscribeAnswer {
  o: number;
  ep: string;
  recovered?: boolean;
  reset?: ChannelResetReason;
}

const isAnswer = (value: unknown): value is SubscribeAnswer =>
  typeof value === 'object' && value !== null && Number.isSafeInteger((value as SubscribeAnswer).o) && typeof (value as SubscribeAnswer).ep === 'string';

const noop = () => {};

/** The channels of one Lifeline session: what `channels(client)` returns, and what the session feeds. */
class ChannelRouter extends Emitter<ChannelsEvents> implements Channels, ChannelSink {
  readonly #link: ChannelLink;
  readonly #entries = new Map<string, Entry>();

  constructor(link: ChannelLink) {
    super();
    this.#link = link;
  }

  get names(): string[] {
    return [...this.#entries.keys()];
  }

  subscribe<T = unknown>(name: string, options: SubscribeOptions = {}): Subscription<T> {
    if (!isChannelName(name)) {
      throw new LifelineError('LL_INVALID_CHANNEL', `subscribe("${String(name)}"): a channel name is 1-255 characters of A-Z a-z 0-9 _ - : . @ / = +, or a pattern ending in ":*".`);
    }
    const since = options.since;
    if (since !== undefined && !(Number.isSafeInteger(since.offset) && since.offset >= 0 && isEpoch(since.epoch))) {
      throw new LifelineError('LL_INVALID_OPTION', `subscribe("${name}"): since must be { offset: integer ≥ 0, epoch } (a saved subscription.position).`);
    }
    const presence = options.presence === true;
    let entry = this.#entries.get(name);
    const fresh = entry === undefined;
    if (entry === undefined) {
      entry = newEntry(name, presence);
      if (since !== undefined && !entry.pattern) {
        entry.offset = since.offset;
        entry.epoch = since.epoch;
      }
      this.#entries.set(name, entry);
    }
    const handle = new Handle(this, entry);
    if (fresh) this.#subscribe(entry);
    else if (presence && !entry.presence) {
      // The wire subscription gains presence by being replaced (with since: nothing is lost).
      entry.presence = true;
      entry.members ??= new Map();
      this.#subscribe(entry);
    }
    return handle as Subscription<any>;
  }

  publish(name: string, data: unknown): Promise<ChannelPosition> {
    if (!isChannelName(name) || isChannelPattern(name)) {
      return Promise.reject(new LifelineError('LL_INVALID_CHANNEL', `publish("${String(name)}"): not a channel name (patterns cannot be published to).`));
    }
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      return Promise.reject(new LifelineError('LL_INVALID_OPTION', `publish("${name}"): a client publishes JSON values (bytes only from the server).`));
    }
    return this.request('$publish', { ch: name, d: data === undefined ? null : data }).then((a) => {
      const answer = a as { o: number; ep: string };
      return { offset: answer.o, epoch: answer.ep };
    });
  }

  // ---- from the session ----------------------------------------------------------------

  /** A welcome: every channel is subscribed again from its position (PROTOCOL.md §3.3, "Keeping up"). */
  welcome(): void {
    for (const entry of this.#entries.values()) this.#subscribe(entry);
  }

  /** The transport is gone: every channel waits for the next welcome. */
  detached(): void {
    for (const entry of this.#entries.values()) this.#setState(entry, 'subscribing');
  }

  /** A `p` envelope. */
  publication(p: PublicationEnvelope): void {
    const exact = this.#entries.get(p.ch);
    if (exact) this.#inOrder(exact, p);
    const pattern = patternOf(p.ch);
    const wide = pattern === undefined ? undefined : this.#entries.get(pattern);
    if (wide) this.#once(wide, p);
  }

  /** A `pr` envelope. */
  presence(pr: PresenceEnvelope): void {
    const entry = this.#entries.get(pr.ch);
    if (!entry) return;
    if (!entry.presence) {
      // Presence the server turned on (its own socket.subscribe with presence): keep it
      // across re-subscriptions, and start from the full list.
      entry.presence = true;
      entry.members = new Map();
      this.#fetchMembers(entry);
    }
    const members = entry.members!;
    for (const id of pr.leave) members.delete(id);
    for (const member of pr.join) members.set(member.id, member);
    this.#toHandles(entry, 'presence', { join: pr.join, leave: pr.leave, members: [...members.values()] });
  }

  /** A request from the server with a reserved name: the error to answer with, or undefined to answer `null`. */
  reserved(name: string, data: unknown, stale = false): ResponseError | undefined {
    const d = (typeof data === 'object' && data !== null ? data : {}) as { ch?: unknown; o?: unknown; ep?: unknown; presence?: unknown };
    if (name === '$subscribed' && isChannelName(d.ch) && Number.isSafeInteger(d.o) && isEpoch(d.ep)) {
      this.#subscribedByServer(d.ch, d.o as number, d.ep, d.presence === true, stale);
      return undefined;
    }
    if (name === '$unsubscribed' && isChannelName(d.ch)) {
      const entry = this.#entries.get(d.ch);
      if (entry) this.#end(entry);
      return undefined;
    }
    return name === '$subscribed' || name === '$unsubscribed'
      ? { code: 'LL_INVALID_REQUEST', message: `${name}: d must be { ch, o, ep } (PROTOCOL.md §3.3)` }
      : { code: 'LL_NO_HANDLER', message: `no handler for request "${name}"` };
  }

  // ---- delivery ------------------------------------------------------------------------

  /** Exact channels: deliver o = last + 1, drop what is at or below it, re-subscribe on anything else. */
  #inOrder(entry: Entry, p: PublicationEnvelope): void {
    if (entry.epoch === undefined) return; // no position yet: the answer that gives one is on its way
    if (p.ep === entry.epoch) {
      if (p.o <= entry.offset) return;
      if (p.o === entry.offset + 1) {
        entry.offset = p.o;
        return this.#deliver(entry, p);
      }
    }
    // A gap or another epoch: nothing more is delivered on this channel until the answer to a
    // re-subscription from the last position, and the publications after it, fill the gap or
    // report a reset. A request already in flight does that too: the publications it
    // recovers start at or before the last one delivered.
    if (!entry.inflight) this.#subscribe(entry);
  }

  /** Patterns: no order or recovery, only no publication twice. */
  #once(entry: Entry, p: PublicationEnvelope): void {
    const seen = entry.seen!;
    const last = seen.get(p.ch);
    if (last !== undefined && last.epoch === p.ep && p.o <= last.offset) return;
    seen.set(p.ch, { offset: p.o, epoch: p.ep });
    this.#deliver(entry, p);
  }

  #deliver(entry: Entry, p: PublicationEnvelope): void {
    const publication: Publication =
      p.b !== undefined ? { channel: p.ch, data: p.b, bytes: p.b, offset: p.o, epoch: p.ep } : { channel: p.ch, data: p.d, offset: p.o, epoch: p.ep };
    for (const handle of [...entry.handles]) handle.emit('publication', publication);
    this.emit('publication', publication, entry.name);
  }

  // ---- subscribing ---------------------------------------------------------------------

  /** Sends `$subscribe` (with `since` once a position is known), one per channel at a time; offline, the next welcome sends it. */
  #subscribe(entry: Entry): void {
    if (entry.inflight) {
      entry.again = true;
      return;
    }
    this.#setState(entry, 'subscribing');
    if (!this.#link.connected) return;
    entry.inflight = true;
    entry.again = false;
    const d: { ch: string; since?: { o: number; ep: string }; presence?: true } = { ch: entry.name };
    if (entry.epoch !== undefined && !entry.pattern) d.since = { o: entry.offset, ep: entry.epoch };
    if (entry.presence) d.presence = true;
    this.#link.call('$subscribe', d, (error, answer) => {
      if (this.#entries.get(entry.name) !== entry) return; // unsubscribed meanwhile
      entry.inflight = false;
      if (error === undefined && isAnswer(answer)) return this.#answered(entry, answer, d.since !== undefined);
      if (error === undefined || error instanceof RequestError) return this.#refused(entry, error);
      // Not answered: the session was reset or closed (the next welcome subscribes again), or
      // the request was not sent (the outbox dropped it). A timeout on a live link is retried.
      if (this.#link.connected && (entry.again || (error as LifelineError).code === 'LL_REQUEST_TIMEOUT')) this.#subscribe(entry);
    });
  }

  #answered(entry: Entry, a: SubscribeAnswer, sentSince: boolean): void {
    if (!entry.pattern) {
      if (entry.epoch !== a.ep) {
        entry.epoch = a.ep;
        entry.offset = a.o;
      } else if (!a.recovered && (sentSince || !entry.again)) {
        // Never back: what was delivered in this epoch stays delivered.
        entry.offset = Math.max(entry.offset, a.o);
      }
      // recovered: the missed publications follow the answer on the wire. Sent without since
      // while a position was learned meanwhile (a `$subscribed`): the re-subscription that
      // `again` sends recovers from that position, so do not jump past it.
    }
    entry.confirmed = true;
    this.#setState(entry, 'subscribed');
    const position = entry.pattern ? undefined : { offset: a.o, epoch: a.ep };
    if (a.reset !== undefined && position) this.#toHandles(entry, 'reset', { reason: a.reset, position });
    this.#toHandles(entry, 'subscribed', { position, recovered: a.recovered === true });
    if (this.#entries.get(entry.name) !== entry) return; // a listener unsubscribed
    // A welcome came while this was in flight: what followed the answer may have died with a link.
    if (entry.again) this.#subscribe(entry);
    else if (entry.presence) this.#fetchMembers(entry);
  }

  /** The server said no: final, for every handle. A re-subscription refused also ends what the session may still hold. */
  #refused(entry: Entry, error: RequestError | undefined): void {
    const e = error ? channelError(error) : new LifelineError('LL_INVALID_ENVELOPE', `$subscribe "${entry.name}": the server's answer is not { o, ep }.`);
    if (entry.confirmed) this.#link.call('$unsubscribe', { ch: entry.name }, noop);
    this.#end(entry, e as LifelineError);
  }

  #subscribedByServer(name: string, o: number, ep: string, presence: boolean, stale: boolean): void {
    let entry = this.#entries.get(name);
    const fresh = entry === undefined;
    if (entry === undefined) {
      entry = newEntry(name, presence);
      entry.confirmed = true;
      entry.state = 'subscribed';
      this.#entries.set(name, entry);
    } else if (presence && !entry.presence) {
      entry.presence = true;
      entry.members ??= new Map();
    }
    const known = entry.epoch !== undefined;
    if (!known && !entry.pattern) {
      entry.epoch = ep;
      entry.offset = o;
    }
    this.emit('subscription', new Handle(this, entry));
    if (this.#entries.get(name) !== entry) return; // a listener unsubscribed
    // Re-subscribe with since when the positions disagree; when this request may be a replay
    // after a resume (the publications that followed it on the dead link are lost, and the
    // welcome's re-subscriptions went out before it arrived); and when it came before these
    // channels were attached (the publications that followed it were not seen).
    const behind = known && !entry.pattern && (entry.epoch !== ep || o > entry.offset);
    if (behind || stale || this.#link.resumed) this.#subscribe(entry);
    else if (fresh && presence) this.#fetchMembers(entry);
  }

  /** Replaces `members` with the server's list; the difference goes out as one `presence` event. */
  #fetchMembers(entry: Entry): void {
    if (!this.#link.connected) return; // the next welcome's subscription fetches them
    this.#link.call('$presence', { ch: entry.name }, (error, answer) => {
      if (this.#entries.get(entry.name) !== entry) return;
      if (error !== undefined) {
        if (error instanceof RequestError) this.#toHandles(entry, 'error', channelError(error) as LifelineError);
        return;
      }
      const list = (answer as { members?: unknown } | null)?.members;
      if (!Array.isArray(list)) return;
      const before = entry.members ?? new Map<string, PresenceMember>();
      const now = new Map<string, PresenceMember>();
      for (const m of list as PresenceMember[]) if (typeof m?.id === 'string') now.set(m.id, m);
      entry.members = now;
      const join = [...now.values()].filter((m) => !before.has(m.id));
      const leave = [...before.keys()].filter((id) => !now.has(id));
      if (join.length > 0 || leave.length > 0) this.#toHandles(entry, 'presence', { join, leave, members: [...now.values()] });
    });
  }

  // ---- handles -------------------------------------------------------------------------

  /** A handle's `unsubscribe()`: the last one ends the subscription on the server. */
  leave(handle: Handle, entry: Entry): void {
    entry.handles.delete(handle);
    if (entry.handles.size > 0 || this.#entries.get(entry.name) !== entry) return;
    this.#entries.delete(entry.name);
    // In order behind a $subscribe in flight; queued while offline (a resumed session still has it).
    if (entry.inflight || entry.confirmed) this.#link.call('$unsubscribe', { ch: entry.name }, noop);
  }

  /** Ends a channel for every handle (refused, or `$unsubscribed`). */
  #end(entry: Entry, error?: LifelineError): void {
    if (this.#entries.get(entry.name) === entry) this.#entries.delete(entry.name);
    for (const handle of [...entry.handles]) {
      if (error) handle.emit('error', error);
      handle.end();
    }
    entry.handles.clear();
  }

  #setState(entry: Entry, state: Entry['state']): void {
    const previous = entry.state;
    if (previous === state) return;
    entry.state = state;
    this.#toHandles(entry, 'state', state, previous);
  }

  #toHandles<K extends keyof SubscriptionEvents>(entry: Entry, type: K, ...args: SubscriptionEvents[K]): void {
    for (const handle of [...entry.handles]) handle.emit(type, ...args);
  }

  /** A request whose failure carries the server's channel code. */
  request(name: string, data: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => this.#link.call(name, data, (error, value) => (error ? reject(channelError(error)) : resolve(value))));
  }
}

/** What `subscribe()` returns: one hold on an entry. */
class Handle extends Emitter<SubscriptionEvents<any>> implements Subscription<any> {
  readonly channel: string;
  #ended = false;

  constructor(
    private readonly router: ChannelRouter,
    private readonly entry: Entry,
  ) {
    super();
    this.channel = entry.name;
    entry.handles.add(this);
  }

  get state(): SubscriptionState {
    return this.#ended ? 'unsubscribed' : this.entry.state;
  }

  get position(): ChannelPosition | undefined {
    const { epoch, offset } = this.entry;
    return epoch === undefined ? undefined : { offset, epoch };
  }

  get members(): readonly PresenceMember[] | undefined {
    const members = this.entry.members;
    return members && [...members.values()];
  }

  presence(): Promise<{ members: PresenceMember[]; count: number }> {
    return this.router.request('$presence', { ch: this.channel }) as Promise<{ members: PresenceMember[]; count: number }>;
  }

  publish(data: unknown): Promise<ChannelPosition> {
    return this.router.publish(this.channel, data);
  }

  unsubscribe(): void {
    if (this.#ended) return;
    this.router.leave(this, this.entry);
    this.end();
  }

  /** The hold is over: state `unsubscribed`, no more events. */
  end(): void {
    if (this.#ended) return;
    const previous = this.entry.state;
    this.#ended = true;
    this.emit('state', 'unsubscribed', previous);
  }
}

/**
 * A client's channels: `subscribe`, `publish`, the names subscribed, and the events for
 * subscriptions the server makes. Call it (or `subscribe`) before the client connects to
 * see those from the start; the ones made earlier are reported, and recovered, on the first
 * call. Throws `LL_NOT_LIFELINE` for a client without `mode: lifeline()`.
 */
export function channels(client: object): Channels {
  const host = channelHosts.get(client);
  if (!host) throw new LifelineError('LL_NOT_LIFELINE', 'Channels need Lifeline mode: createClient(url, { mode: lifeline() }).');
  return host.channels((link) => new ChannelRouter(link));
}

/**
 * Subscribes `client` to a channel or a pattern (`prices:*`): each publication is
 * delivered once, in order, across reconnects, or a `reset` says what could not be
 * recovered. Works offline (the subscription is made once the session is open).
 * Throws `LL_INVALID_CHANNEL`, `LL_INVALID_OPTION`, `LL_NOT_LIFELINE`.
 */
export function subscribe<T = unknown>(client: object, name: string, options?: SubscribeOptions): Subscription<T> {
  return channels(client).subscribe<T>(name, options);
}

/**
 * Publishes `data` (a JSON value) on a channel that allows client publications
 * (`clientPublish` or its `authorize` hook on the server). Resolves with the publication's
 * position; rejects `LL_FORBIDDEN`, `LL_INVALID_CHANNEL`, `LL_UNAVAILABLE`, or as
 * `client.request()` does. Queued like a request while offline.
 */
export function publish(client: object, name: string, data: unknown): Promise<ChannelPosition> {
  return channels(client).publish(name, data);
}

export type { ChannelPosition, PresenceMember } from '@lifeline/protocol';
