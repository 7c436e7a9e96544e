import type { App, Socket } from '@lifeline/server';
import type { EchoReply, PiResult, ReceiveLog, RunInfo } from './results-messages.js';

export type { EchoReply, Numbered, PiResult, ReceiveLog, ResultsMessage, RunInfo } from './results-messages.js';

/**
 * `/results`: what the seed's backend was for — an algorithm whose results the server
 * pushes on its own, without the page polling — on a Lifeline route, for the demo page.
 *
 * Per session (the handler runs once per session, not per connection):
 * - **a stream**: a Monte-Carlo estimate of π, one numbered result every `intervalMs`
 *   (`{ type: 'result', run, step, … }`). It keeps computing while the connection is
 *   down; the results wait in the session's replay buffer and arrive, in order, on resume.
 * - **requests**: `run` `{ steps?, batch? }` starts a new run (answers `{ run, steps, batch }`);
 *   `history` answers what this session received (`{ sessionId, total, received }`), so a
 *   test or the page can check that every message arrived exactly once, in order;
 *   `time` answers `{ now }`, a cheap round trip for measuring RTT on a busy link (the
 *   server's heartbeat never pings a link it hears from, so it measures nothing there).
 * - **an echo with a receive log**: each message (`{ seq, text }`) is logged and answered
 *   `{ type: 'echo', index, seq, text }`, `index` counting what this session received.
 *
 * Raw clients on the same URL get the stream and the echo as JSON text (no requests).
 */
export function addResultsRoute(app: App, path = '/results', options: ResultsRouteOptions = {}): void {
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  app.ws(path, { lifeline: true }, (socket) => {
    const session = new ResultsSession(socket, intervalMs);
    socket.on('close', () => session.stop());
    socket.on('message', (message) => {
      const parsed = message.tryJson<unknown>();
      session.receive(parsed.ok ? parsed.value : message.text);
    });
    socket.handle('run', (data) => session.start(runSettings(data)));
    socket.handle('history', () => session.history());
    socket.handle('time', () => ({ now: Date.now() }));
  });
}

export interface ResultsRouteOptions {
  /** Time between two pushed results, ms. Default 500. */
  intervalMs?: number;
}

const DEFAULT_INTERVAL_MS = 500;
export const DEFAULT_BATCH = 20_000;
const MAX_BATCH = 1_000_000;
const MAX_STEPS = 100_000;
/** Longest tab label a numbered message may carry (longer ones are not echoed). */
const MAX_TAB_LABEL = 16;
/** Log entries kept per session (`ReceiveLog.received`); `total` still counts every message. */
export const HISTORY_LIMIT = 1000;
/** Characters of a message's text kept in the log (the echo carries all of it). */
const LOGGED_TEXT = 200;

class ResultsSession {
  #run: RunInfo = { run: 0, steps: null, batch: DEFAULT_BATCH };
  #step = 0;
  #samples = 0;
  #inside = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #received: ReceiveLog['received'] = [];
  #total = 0;

  constructor(
    private readonly socket: Socket,
    private readonly intervalMs: number,
  ) {
    this.start({ steps: null, batch: DEFAULT_BATCH });
  }

  start(settings: Omit<RunInfo, 'run'>): RunInfo {
    this.stop();
    this.#run = { run: this.#run.run + 1, ...settings };
    this.#step = this.#samples = this.#inside = 0;
    this.#timer = setInterval(() => this.#next(), this.intervalMs);
    return this.#run;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  receive(value: unknown): void {
    const { seq, text, tab } = asSequenced(value);
    const index = ++this.#total;
    const from = tab === undefined ? {} : { tab };
    this.#received.push({ index, seq, text: text.slice(0, LOGGED_TEXT), ...from });
    if (this.#received.length > HISTORY_LIMIT) this.#received.shift();
    this.socket.sendJson({ type: 'echo', index, seq, text, ...from } satisfies EchoReply);
  }

  history(): ReceiveLog {
    return { sessionId: this.socket.sessionId, total: this.#total, received: [...this.#received] };
  }

  #next(): void {
    const { run, steps, batch } = this.#run;
    let inside = 0;
    for (let i = 0; i < batch; i++) {
      const x = Math.random();
      const y = Math.random();
      if (x * x + y * y <= 1) inside++;
    }
    this.#inside += inside;
    this.#samples += batch;
    const step = ++this.#step;
    const pi = (4 * this.#inside) / this.#samples;
    const done = steps !== null && step >= steps;
    if (done) this.stop();
    this.socket.sendJson({ type: 'result', run, step, steps, batch, samples: this.#samples, pi, error: Math.abs(pi - Math.PI), done, at: Date.now() } satisfies PiResult);
  }
}

/** An error with a string `code`: the server answers the request with it (docs/server.md, Requests). */
class BadRequest extends Error {
  readonly code = 'BAD_REQUEST';
}

function runSettings(data: unknown): Omit<RunInfo, 'run'> {
  const { steps = null, batch = DEFAULT_BATCH } = (typeof data === 'object' && data !== null ? data : {}) as { steps?: unknown; batch?: unknown };
  if (steps !== null && !isWhole(steps, MAX_STEPS)) throw new BadRequest(`run: steps must be a whole number from 1 to ${MAX_STEPS}, or null to run until the next run.`);
  if (!isWhole(batch, MAX_BATCH)) throw new BadRequest(`run: batch must be a whole number from 1 to ${MAX_BATCH}.`);
  return { steps, batch };
}

const isWhole = (value: unknown, max: number): value is number => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max;

/** `{ seq, text }` as the demo sends it; anything else is logged with `seq: null` and its text. */
function asSequenced(value: unknown): { seq: number | null; text: string; tab?: string } {
  if (typeof value === 'object' && value !== null) {
    const { seq, text, tab } = value as { seq?: unknown; text?: unknown; tab?: unknown };
    if (Number.isSafeInteger(seq) && typeof text === 'string') {
      // The sending tab's label, when several tabs share the session (kept short: it is echoed and logged).
      return typeof tab === 'string' && tab.length > 0 && tab.length <= MAX_TAB_LABEL ? { seq: seq as number, text, tab } : { seq: seq as number, text };
    }
  }
  return { seq: null, text: typeof value === 'string' ? value : JSON.stringify(value) ?? String(value) };
}
