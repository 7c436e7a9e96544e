import { invalidOption, positiveOption } from '../leaves/option-checks.js';

/** Lifeline mode's defaults, per route (`app.ws(path, { lifeline: true }, handler)`); `DEFAULTS.lifeline`. */
export const LIFELINE_DEFAULTS = {
  /** How long a session waits for its client to come back after the connection dropped, in ms. */
  resumeWindow: 120_000,
  /** Bounds on the unacknowledged envelopes a session holds for replay; `maxAge` defaults to `resumeWindow`. */
  replay: { maxMessages: 10_000, maxBytes: 8 * 1024 * 1024 },
  /** Wire formats offered, in order of preference. */
  formats: ['json', 'msgpack'],
  /** Default timeout of `socket.request()`, in ms. */
  requestTimeout: 30_000,
} as const;

/** A Lifeline-mode wire format: `json` is subprotocol `lifeline.v1`, `msgpack` is `lifeline.v1.msgpack`. */
export type LifelineFormat = 'json' | 'msgpack';

/** `app.ws(path, { lifeline: true | LifelineOptions }, handler)`. Every field has a default (DEFAULTS.lifeline). */
export interface LifelineOptions {
  /** How long a session outlives a dropped connection, waiting to be resumed, in ms. Default 120,000 (2 min). */
  resumeWindow?: number;
  /** Bounds on the envelopes the session holds until the client acknowledges them. Over any bound, the session ends ('overflow'). */
  replay?: {
    /** Default 10,000 envelopes. */
    maxMessages?: number;
    /** Default 8 MiB of encoded frames. */
    maxBytes?: number;
    /** Oldest unacknowledged envelope, in ms. Default: `resumeWindow`. */
    maxAge?: number;
  };
  /** Formats the route offers, in order of preference. Default `['json', 'msgpack']`. */
  formats?: readonly LifelineFormat[];
  /** Default timeout of `socket.request()`, in ms. Default 30,000. */
  requestTimeout?: number;
}

export interface ResolvedLifelineOptions {
  resumeWindow: number;
  replay: { maxMessages: number; maxBytes: number; maxAge: number };
  formats: readonly LifelineFormat[];
  requestTimeout: number;
}

export function resolveLifelineOptions(path: string, value: true | LifelineOptions): ResolvedLifelineOptions {
  const o = value === true ? {} : value;
  if (typeof o !== 'object' || o === null) throw invalidOption(`${path}: lifeline`, o, 'true or an object of Lifeline options');
  const d = LIFELINE_DEFAULTS;
  const resumeWindow = positiveOption(`${path}: lifeline.resumeWindow`, o.resumeWindow, d.resumeWindow);
  const formats = o.formats ?? d.formats;
  if (!Array.isArray(formats) || formats.length === 0 || formats.some((f) => f !== 'json' && f !== 'msgpack') || new Set(formats).size !== formats.length) {
    throw invalidOption(`${path}: lifeline.formats`, formats, 'a non-empty list of "json" and/or "msgpack"');
  }
  return {
    resumeWindow,
    replay: {
      maxMessages: positiveOption(`${path}: lifeline.replay.maxMessages`, o.replay?.maxMessages, d.replay.maxMessages),
      maxBytes: positiveOption(`${path}: lifeline.replay.maxBytes`, o.replay?.maxBytes, d.replay.maxBytes),
      maxAge: positiveOption(`${path}: lifeline.replay.maxAge`, o.replay?.maxAge, resumeWindow),
    },
    formats,
    requestTimeout: positiveOption(`${path}: lifeline.requestTimeout`, o.requestTimeout, d.requestTimeout),
  };
}
