/**
 * The contract between the console and its chaos realm (sim.html, a same-origin iframe):
 * the realm runs N virtual clients under conditions it controls for itself alone (timers
 * throttled as in a hidden tab, navigator.onLine, added latency, a server that restarts),
 * and the console drives it and reads snapshots.
 */
export type ClientKind = 'lifeline-client' | 'naive';

export interface SimOptions {
  url: string;
  count: number;
  /** `@lifeline/client` (backoff with full jitter, retry-after hints, close policy), or a naive client that retries after a fixed second, like the seed page. */
  kind: ClientKind;
  /** Lifeline mode (`@lifeline/client` only): sessions that resume. */
  lifeline: boolean;
  /** Each client sends `{"c": id, "n": k}` this often (0: no traffic); an echo route sends it back. */
  messageEveryMs: number;
}

export interface SimSnapshot {
  running: boolean;
  count: number;
  byStatus: Record<'open' | 'connecting' | 'reconnecting' | 'closed', number>;
  conditions: { hidden: false | 'throttled' | 'intensive'; online: boolean; latencyMs: number; serverDown: boolean };
  /** The last disruption: what, when it began (epoch ms), when the network or server came back. */
  scenario: { name: string; startedAt: number; restoredAt: number | undefined } | undefined;
  /** Since the last disruption began: ms until each client that lost its link was open again, in the order they came back. */
  reconnectMs: number[];
  /**
   * Since the last disruption began: when each connection attempt started, ms. This, not the
   * open times, shows a herd: one browser opens connections to one host one at a time, so
   * the open times of clients sharing this page are spread by the browser itself.
   */
  attemptMs: number[];
  /** Clients of the last disruption not back yet. */
  waiting: number;
  traffic: { sent: number; echoed: number; missing: number; duplicates: number };
  sessions: { resumed: number; reset: number };
  events: string[];
}

export interface SimApi {
  start(options: SimOptions): void;
  stop(): void;
  setLatency(ms: number): void;
  /** Throttle this realm's timers as a hidden tab does (1/s; 1/min for "intensive"), or show it again. */
  setHidden(mode: false | 'throttled' | 'intensive'): void;
  /** The network goes: open links drop, `offline` fires; it comes back after `ms`. */
  offline(ms: number): void;
  /** The server restarts: every link closes (1012 with retry-after hints spread over `retryWindowMs`, or 1006 with no close frame for a crash), and connections are refused for `downMs`. */
  restart(kind: 'graceful' | 'crash', downMs: number, retryWindowMs: number): void;
  snapshot(): SimSnapshot;
}

declare global {
  interface Window {
    lifelineSim?: SimApi;
  }
}
