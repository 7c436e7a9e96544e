/**
 * The chaos realm (sim.html, loaded in a hidden same-origin iframe by lib/chaos.ts): N
 * virtual clients, and the conditions they live in, for this realm alone:
 *
 * - a hidden tab: this realm's timers are throttled as Chromium throttles a hidden tab's
 *   (woken once a second; once a minute for "intensive" throttling), and
 *   `document.visibilityState` and `visibilitychange` say so;
 * - offline: `navigator.onLine` is false, `offline` fires, links drop, connecting fails;
 * - latency: every frame is delayed each way;
 * - a server restart: every link closes as a Lifeline server's shutdown closes it (1012 with
 *   a retry-after hint spread over a window) or as a crash does (1006, no hint), and
 *   connections are refused while it is down.
 *
 * The clients are the real `@lifeline/client` (or a naive one for comparison) running
 * unchanged on the real WebSocket, so the reconnect times measured are the client's own.
 */
import { createClient, type LifelineClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import type { SimApi, SimOptions, SimSnapshot } from './lib/sim-api';
import { tappedWebSocket, type Network, type TappedSocket } from './lib/tapped-socket';

// ---- timers: the realm's own, throttled while "hidden" ---------------------------------

const realSetTimeout = window.setTimeout.bind(window);
const realClearTimeout = window.clearTimeout.bind(window);
const later = (fn: () => void, ms: number): void => void realSetTimeout(fn, Math.max(0, ms));

interface PendingTimer {
  fn: (...args: unknown[]) => void;
  args: unknown[];
  /** When it is due unthrottled (performance.now() ms). */
  due: number;
  handle: number;
}
const timers = new Map<number, PendingTimer>();
let nextTimer = 1;
/** 0: not throttled; else timers wake only at multiples of this many ms. */
let alignment = 0;

function arm(id: number, timer: PendingTimer): void {
  const now = performance.now();
  const at = alignment ? Math.ceil(Math.max(timer.due, now) / alignment) * alignment : timer.due;
  timer.handle = realSetTimeout(() => {
    timers.delete(id);
    timer.fn(...timer.args);
  }, Math.max(0, at - now));
}

window.setTimeout = ((fn: TimerHandler, ms = 0, ...args: unknown[]) => {
  if (typeof fn !== 'function') return 0;
  const id = nextTimer++;
  const timer: PendingTimer = { fn: fn as (...a: unknown[]) => void, args, due: performance.now() + Math.max(0, Number(ms) || 0), handle: 0 };
  timers.set(id, timer);
  arm(id, timer);
  return id;
}) as typeof window.setTimeout;

window.clearTimeout = ((id?: number) => {
  const timer = id === undefined ? undefined : timers.get(id);
  if (!timer) return;
  realClearTimeout(timer.handle);
  timers.delete(id!);
}) as typeof window.clearTimeout;

function setAlignment(ms: number): void {
  alignment = ms;
  for (const [id, timer] of timers) {
    realClearTimeout(timer.handle);
    arm(id, timer);
  }
}

// ---- visibility and connectivity, as this realm's code sees them -----------------------

let hidden: false | 'throttled' | 'intensive' = false;
let online = true;
Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden !== false });
Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => online });

const network: Network = { latencyMs: 0, offline: false, serverDown: false };
let attemptMs: number[] = [];
const WebSocketClass = tappedWebSocket(
  {
    attempt: () => {
      if (scenario && attemptMs.length < 100_000) attemptMs.push(Date.now() - scenario.startedAt);
    },
  },
  network,
  later,
);
const sockets = WebSocketClass.control.sockets as ReadonlySet<TappedSocket>;

// ---- virtual clients --------------------------------------------------------------------

type Status = SimSnapshot['byStatus'] extends Record<infer K, number> ? K : never;

interface Virtual {
  id: number;
  status: Status;
  close(): void;
  send(text: string): void;
  /** When it lost its link in the current scenario (epoch ms). */
  lostAt?: number;
  sent: number;
  received: Set<number>;
  sentAt: Map<number, number>;
  duplicates: number;
}

/** Retries after a fixed second, like the seed page (and most hand-written clients): the herd's recipe. */
function naiveClient(url: string, v: Virtual, onOpen: () => void, onClose: () => void, onText: (text: string) => void): void {
  let ws: InstanceType<typeof WebSocketClass> | undefined;
  let stopped = false;
  const connect = () => {
    v.status = 'connecting';
    ws = new WebSocketClass(url);
    ws.onopen = () => {
      v.status = 'open';
      onOpen();
    };
    ws.onmessage = (event) => typeof event.data === 'string' && onText(event.data);
    ws.onclose = () => {
      if (stopped) return;
      v.status = 'reconnecting';
      onClose();
      setTimeout(connect, 1000);
    };
  };
  v.close = () => {
    stopped = true;
    ws?.close();
    v.status = 'closed';
  };
  v.send = (text) => ws?.readyState === 1 && ws.send(text);
  connect();
}

let clients: Virtual[] = [];
let options: SimOptions | undefined;
let trafficTimer: number | undefined;
let scenario: SimSnapshot['scenario'];
let reconnectMs: number[] = [];
let resumed = 0;
let reset = 0;
const events: string[] = [];

function note(text: string): void {
  const d = new Date();
  events.push(`${d.toLocaleTimeString()} ${text}`);
  if (events.length > 40) events.shift();
}

function lost(v: Virtual): void {
  if (v.lostAt === undefined && scenario) v.lostAt = Date.now();
}

function reopened(v: Virtual): void {
  if (v.lostAt !== undefined && scenario) reconnectMs.push(Date.now() - scenario.startedAt);
  v.lostAt = undefined;
}

function received(v: Virtual, value: unknown): void {
  const n = (value as { n?: unknown } | null)?.n;
  if (typeof n !== 'number' || (value as { c?: unknown }).c !== v.id) return;
  if (v.received.has(n)) v.duplicates++;
  else v.received.add(n);
}

function makeClient(id: number, o: SimOptions): Virtual {
  const v: Virtual = { id, status: 'connecting', close: () => {}, send: () => {}, sent: 0, received: new Set(), sentAt: new Map(), duplicates: 0 };
  if (o.kind === 'naive') {
    naiveClient(o.url, v, () => reopened(v), () => lost(v), (text) => {
      try {
        received(v, JSON.parse(text));
      } catch {
        // not ours
      }
    });
    return v;
  }
  let client: LifelineClient;
  try {
    client = createClient(o.url, { WebSocket: WebSocketClass, ...(o.lifeline ? { mode: lifeline() } : {}) });
  } catch (error) {
    note(`client ${id}: ${(error as Error).message}`);
    v.status = 'closed';
    return v;
  }
  client.on('state', (state) => (v.status = state.status === 'idle' ? 'connecting' : state.status));
  client.on('open', (info) => {
    reopened(v);
    if (info.session?.resumed) resumed++;
  });
  client.on('close', () => lost(v));
  client.on('reset', () => reset++);
  client.on('message', (message) => {
    if (message.error) return;
    const data = message.data;
    if (typeof data === 'string') {
      try {
        received(v, JSON.parse(data));
      } catch {
        // not ours
      }
    } else received(v, data);
  });
  v.close = () => client.close();
  v.send = (text) => void client.send(o.lifeline ? JSON.parse(text) : text);
  return v;
}

function status(): SimSnapshot['byStatus'] {
  const counts = { open: 0, connecting: 0, reconnecting: 0, closed: 0 };
  for (const v of clients) counts[v.status]++;
  return counts;
}

const api: SimApi = {
  start(o) {
    api.stop();
    options = o;
    reconnectMs = [];
    attemptMs = [];
    scenario = undefined;
    resumed = reset = 0;
    clients = Array.from({ length: Math.max(1, Math.min(1000, Math.floor(o.count))) }, (_, i) => makeClient(i + 1, o));
    note(`started ${clients.length} ${o.kind === 'naive' ? 'naive' : '@lifeline/client'} client(s)${o.lifeline && o.kind !== 'naive' ? ' in Lifeline mode' : ''} on ${o.url}`);
    if (o.messageEveryMs > 0) {
      const tick = () => {
        const now = Date.now();
        for (const v of clients) {
          const n = ++v.sent;
          v.sentAt.set(n, now);
          v.send(JSON.stringify({ c: v.id, n }));
          // A server that does not echo must not grow this without end.
          if (v.sentAt.size > 2000) v.sentAt.delete(v.sentAt.keys().next().value!);
        }
        trafficTimer = realSetTimeout(tick, o.messageEveryMs);
      };
      trafficTimer = realSetTimeout(tick, o.messageEveryMs);
    }
  },
  stop() {
    realClearTimeout(trafficTimer);
    for (const v of clients) v.close();
    if (clients.length) note(`stopped ${clients.length} client(s)`);
    clients = [];
    options = undefined;
  },
  setLatency(ms) {
    network.latencyMs = Math.max(0, ms);
    note(ms > 0 ? `latency: +${ms} ms each way` : 'latency: none added');
  },
  setHidden(mode) {
    hidden = mode;
    setAlignment(mode === 'intensive' ? 60_000 : mode === 'throttled' ? 1000 : 0);
    document.dispatchEvent(new Event('visibilitychange'));
    note(mode ? `tab hidden: timers woken once a ${mode === 'intensive' ? 'minute' : 'second'}` : 'tab visible again');
  },
  offline(ms) {
    begin('offline');
    online = false;
    network.offline = true;
    for (const socket of [...sockets]) socket.drop();
    window.dispatchEvent(new Event('offline'));
    note(`network offline for ${ms} ms`);
    later(() => {
      online = true;
      network.offline = false;
      if (scenario) scenario.restoredAt = Date.now();
      window.dispatchEvent(new Event('online'));
      note('network back');
    }, ms);
  },
  restart(kind, downMs, retryWindowMs) {
    begin(kind === 'graceful' ? 'server restart (1012, retry-after hints)' : 'server crash (1006)');
    network.serverDown = true;
    for (const socket of [...sockets]) {
      if (kind === 'graceful') socket.serverClose(1012, `server restart; retry-after=${Math.floor(Math.random() * retryWindowMs)}`);
      else socket.drop();
    }
    note(`${kind === 'graceful' ? `server restart: 1012 with retry-after hints over ${retryWindowMs} ms` : 'server crash: no close frame'}; down for ${downMs} ms`);
    later(() => {
      network.serverDown = false;
      if (scenario) scenario.restoredAt = Date.now();
      note('server up again');
    }, downMs);
  },
  snapshot() {
    const now = Date.now();
    let sent = 0;
    let echoed = 0;
    let missing = 0;
    let duplicates = 0;
    for (const v of clients) {
      sent += v.sent;
      echoed += v.received.size;
      duplicates += v.duplicates;
      // Missing: sent over 5 s ago and never echoed.
      for (const [n, at] of v.sentAt) {
        if (v.received.has(n)) v.sentAt.delete(n);
        else if (now - at > 5000) missing++;
      }
    }
    return {
      running: options !== undefined,
      count: clients.length,
      byStatus: status(),
      conditions: { hidden, online, latencyMs: network.latencyMs, serverDown: network.serverDown === true },
      scenario: scenario ? { ...scenario } : undefined,
      reconnectMs: [...reconnectMs],
      attemptMs: [...attemptMs],
      waiting: clients.filter((v) => v.lostAt !== undefined).length,
      traffic: { sent, echoed, missing, duplicates },
      sessions: { resumed, reset },
      events: [...events],
    };
  },
};

/** A new disruption: its reconnect times start from now. */
function begin(name: string): void {
  scenario = { name, startedAt: Date.now(), restoredAt: undefined };
  reconnectMs = [];
  attemptMs = [];
  for (const v of clients) v.lostAt = undefined;
}

window.lifelineSim = api;
