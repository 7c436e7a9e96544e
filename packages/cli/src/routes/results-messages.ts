/**
 * What `/results` (results.ts) sends and accepts. Types only and no imports, so that the
 * demo page (apps/demo/src/wire.ts) checks itself against these very definitions.
 */

/** One pushed result: the estimate of π after `samples` random points. */
export interface PiResult {
  type: 'result';
  run: number;
  /** 1, 2, 3 … within the run; a gap or a repeat would mean a lost or duplicated message. */
  step: number;
  /** Steps in the run; `null`: runs until another run starts. */
  steps: number | null;
  /** Random points per step. */
  batch: number;
  samples: number;
  pi: number;
  /** |estimate − π| */
  error: number;
  /** The run's last result. */
  done: boolean;
  /** Server time (epoch ms) when it was computed. */
  at: number;
}

/** The answer to a message: what the server received, and its place in this session's receive log. */
export interface EchoReply {
  type: 'echo';
  /** 1, 2, 3 … over what this session received. */
  index: number;
  /** The message's `seq`, or `null` when it had none. */
  seq: number | null;
  text: string;
  /** The message's `tab`, when it had one. */
  tab?: string;
}

/** Everything the route sends as a message (requests are answered separately). */
export type ResultsMessage = PiResult | EchoReply;

/** A message as the demo sends it: numbered by the page, so that the receive log can be checked. */
export interface Numbered {
  seq: number;
  text: string;
  /** Which tab sent it (1–16 characters), when several tabs share one session: each numbers its own. */
  tab?: string;
}

/** The answer to `run`. */
export interface RunInfo {
  run: number;
  steps: number | null;
  batch: number;
}

/** The answer to `history`. */
export interface ReceiveLog {
  sessionId: string | undefined;
  /** Messages this session received. */
  total: number;
  /** The last 1,000 of them, oldest first. */
  received: { index: number; seq: number | null; text: string; tab?: string }[];
}
