/**
 * What the tabs of a shared connection (shared.ts) and the hub that holds it (hub.ts) say to
 * each other, over a MessagePort (SharedWorker), a BroadcastChannel (leader tab) or a plain
 * call (the leader's own tab). Everything here survives structured cloning: errors travel as
 * `{ code, message }`, never as Error objects. Internal.
 */
import type { ReconnectOptions, OutboxOptions } from './client.js';

/** The hub's settings, from the tab that started it: plain data only (a SharedWorker receives them as a message). */
export interface SharedSettings {
  connectTimeout?: number;
  reconnect?: ReconnectOptions | false;
  /** Lifeline mode's liveness check: `{ timeout }` past the server's ping interval, or `false`. */
  heartbeat?: { timeout?: number } | false;
  outbox?: OutboxOptions;
  /** `lifeline({ replay })`. */
  replay?: { maxMessages?: number; maxBytes?: number };
  /** `lifeline({ requestTimeout })`. */
  requestTimeout?: number;
  /** The persistent store's name (`persistent(name)`), or `false` for memory. */
  store?: string | false;
  /** `persistent(name, { durability })`. */
  durability?: 'relaxed' | 'strict';
  /** The tabs hold a `token()` function: the hub asks one of them before every hello. */
  token?: boolean;
}

/** An error as it travels: a `LifelineError`'s code and message, and a `RequestError`'s remote part. */
export interface WireError {
  code: string;
  message: string;
  remote?: { code: string; message: string };
  requestName?: string;
}

/** A tab's message to the hub. `id`s are the tab's own, counted per tab. */
export type ToHub =
  /** `at`: the last message this tab was handed (its session and `seq`), if any. */
  | { t: 'join'; url: string; settings: SharedSettings; at?: Position }
  /** Leader tab: every message up to `at` was handed to this tab's application. */
  | { t: 'confirm'; at: Position }
  | { t: 'leave' }
  | { t: 'send'; id: number; value: unknown; ttl?: number; queue?: boolean }
  | { t: 'request'; id: number; name: string; data: unknown; timeout?: number }
  | { t: 'handle'; name: string; on: boolean }
  /** The answer to a `serve` or `token` the hub asked for. */
  | { t: 'answer'; id: number; value?: unknown; error?: WireError }
  | { t: 'sub'; id: number; name: string; presence?: boolean; since?: { offset: number; epoch: string } }
  | { t: 'unsub'; id: number }
  | { t: 'publish'; id: number; name: string; data: unknown }
  | { t: 'presence'; id: number; sub: number }
  | { t: 'open' }
  /** `check()`: probe the link now, or try now while waiting to reconnect. */
  | { t: 'check' }
  /** Close the shared connection for every tab (`closeAll()`): the session ends. */
  | { t: 'close'; code?: number; reason?: string };

/** The hub's message to one tab, or to every tab. */
export type ToTab =
  /** The answer to `join`; `open`: the connection is open, as the last `open` event said (a tab that joins then hears it too). */
  | { t: 'joined'; state: unknown; session: unknown; rtt: number | undefined; queued: number; storage: StorageInfo; role: 'worker' | 'leader' | 'solo'; open: unknown }
  | { t: 'state'; state: unknown; session: unknown; queued: number }
  /** A client event: `open`, `close`, `error`, `heartbeat`, `reset`, `drop`. */
  | { t: 'event'; type: string; arg: unknown }
  /** A server message; `sid` tells sessions apart (`seq` starts again in a new one). */
  | { t: 'message'; sid: string | undefined; seq: number | undefined; data: unknown; bytes?: Uint8Array; receivedAt: number }
  /** Every send of this tab up to `upTo` is held by the hub (and durable, with a store). */
  | { t: 'stored'; upTo: number; queued: number }
  | { t: 'result'; id: number; value?: unknown; error?: WireError }
  /** A server request for a handler this tab registered. */
  | { t: 'serve'; id: number; name: string; data: unknown }
  /** The hub needs an access token for its next hello. */
  | { t: 'token'; id: number }
  /** An event of one of this tab's subscriptions (`subscribed`, `reset`, `presence`, `state`, `error`, `position`). */
  | { t: 'sub-event'; id: number; type: string; args: unknown[] }
  /** A publication delivered on the session, through the subscription to `via` (a channel or pattern): to every tab at once. */
  | { t: 'publication'; p: unknown; via: string }
  /** The server subscribed the session to a channel (`$subscribed`). */
  | { t: 'subscription'; name: string }
  | { t: 'storage'; storage: StorageInfo };

/** A place in a session's stream of server messages. */
export interface Position {
  sid: string | undefined;
  seq: number;
}

export interface StorageInfo {
  status: 'opening' | 'persistent' | 'memory' | 'none';
  problem?: string;
}

/** The Web Lock a tab of `url` holds while it lives: a hub granted it knows the tab is gone. */
export const tabLock = (url: string, tab: string): string => `lifeline:tab:${url}#${tab}`;
/** The Web Lock the tabs of `url` wait in line for: its holder leads. */
export const leaderLock = (url: string): string => `lifeline:leader:${url}`;

/** A message between tabs and a hub: an object with a type (anything else on the channel or port is ignored). */
export const isMessage = (m: unknown): m is { t: string } => typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';

// ---- checking what a tab sends --------------------------------------------------------------
// Tabs are this origin's pages, but one may run another version of this code (a tab left open
// across a deploy) or another script may use the channel's name: the hub holds the connection
// for every tab, so a message it cannot act on is dropped here rather than throw inside it.

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isOptional = (v: unknown, check: (v: unknown) => boolean) => v === undefined || check(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isDuration = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= 2 ** 31 - 1;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isPosition = (v: unknown) => isObject(v) && isOptional(v.sid, isString) && isId(v.seq);
const isWireError = (v: unknown) => isObject(v) && isString(v.code) && isString(v.message);
const isChannelPosition = (v: unknown) => isObject(v) && isId(v.offset) && isString(v.epoch);

/** The fields each `ToHub` type must carry, as checks on the message. */
const TO_HUB: Record<ToHub['t'], (m: Record<string, unknown>) => boolean> = {
  join: (m) => isString(m.url) && isObject(m.settings) && isOptional(m.at, isPosition),
  confirm: (m) => isPosition(m.at),
  leave: () => true,
  send: (m) => isId(m.id) && isOptional(m.ttl, isDuration) && isOptional(m.queue, isBoolean),
  request: (m) => isId(m.id) && isString(m.name) && isOptional(m.timeout, isDuration),
  handle: (m) => isString(m.name) && isBoolean(m.on),
  answer: (m) => isId(m.id) && isOptional(m.error, isWireError),
  sub: (m) => isId(m.id) && isString(m.name) && isOptional(m.presence, isBoolean) && isOptional(m.since, isChannelPosition),
  unsub: (m) => isId(m.id),
  publish: (m) => isId(m.id) && isString(m.name),
  presence: (m) => isId(m.id) && isId(m.sub),
  open: () => true,
  check: () => true,
  close: (m) => isOptional(m.code, Number.isInteger) && isOptional(m.reason, isString),
};

/** A tab's message the hub can act on: a known type with the fields it needs, of their types. */
export const isToHub = (m: unknown): m is ToHub =>
  isObject(m) && isString(m.t) && Object.prototype.hasOwnProperty.call(TO_HUB, m.t) && TO_HUB[m.t as ToHub['t']](m);
