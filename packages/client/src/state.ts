import { LifelineError, type CloseAction } from '@lifeline/protocol';

/**
 * The client's lifecycle:
 *
 * ```
 *  idle ──open()──▶ connecting ──socket open──▶ open
 *                      │  ▲                       │
 *            failed /  │  │ timer, online,        │ link lost (policy: retry)
 *            timed out ▼  │ visible, pageshow     ▼
 *                    reconnecting ◀───────────────┘
 *  any state ──close(), policy stop, attempts exhausted──▶ closed ──open()──▶ connecting
 * ```
 */
export type Status = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Every allowed transition; anything else cannot be written (see `NextStatus`). */
export const TRANSITIONS = {
  idle: ['connecting', 'closed'],
  connecting: ['open', 'reconnecting', 'closed'],
  open: ['reconnecting', 'closed'],
  // reconnecting → reconnecting: what it waits for changed (went offline, page hidden).
  reconnecting: ['connecting', 'reconnecting', 'closed'],
  closed: ['connecting'],
} as const satisfies { readonly [S in Status]: readonly Status[] };

type Targets<S extends Status> = (typeof TRANSITIONS)[S][number];

/**
 * The statuses reachable from a state known only to be one of `F`: those allowed from every
 * member of `F`. For an un-narrowed state this is `never`, so code must check the current
 * status before it can name a next one.
 */
export type NextStatus<F extends Status> = (F extends Status ? (to: Targets<F>) => void : never) extends (to: infer T) => void
  ? T & Status
  : never;

export function canTransition(from: Status, to: Status): boolean {
  return (TRANSITIONS[from] as readonly Status[]).includes(to);
}

/** How one connection ended, and what the client does about it. */
export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
  /** What the close policy decided (`stop` also after `close()` and when attempts run out). */
  action: CloseAction;
  /** The server's retry-after hint from the reason, in ms, if any. */
  hint?: number;
  /** When the connection ended (epoch ms). */
  at: number;
}

/** What a reconnecting client waits for before its next attempt. */
export type WaitingFor = 'timer' | 'online' | 'pageshow';

interface StateFields {
  /**
   * The connection attempt this state is about, counted from 1 since the last link that
   * stayed up `stableAfter` ms (or since `open()`): the one in progress (`connecting`), the
   * one that succeeded (`open`), or the next one (`reconnecting`). 0 while `idle`.
   */
  attempt: number;
  /** When this status was entered (epoch ms). */
  since: number;
  /** `reconnecting`: when the next attempt starts (epoch ms); unset while waiting for an event. */
  nextAttemptAt?: number;
  /** `reconnecting`: what the next attempt waits for. */
  waitingFor?: WaitingFor;
  /** How the last connection ended. */
  lastClose?: CloseInfo;
  /** `closed`: why the client stopped for good (unset after `close()`). */
  error?: LifelineError;
}

/** The client's observable state: a status and what goes with it. */
export type ClientState = { [S in Status]: StateFields & { readonly status: S } }[Status];

/**
 * The only way to make a new state. `from` must be narrowed to the statuses it can be in;
 * `to` must be allowed from all of them, which the compiler checks. The runtime check
 * stays as a guard for JavaScript callers.
 */
export function transition<F extends Status>(
  from: StateFields & { readonly status: F },
  to: NextStatus<F>,
  fields: Partial<StateFields> = {},
  now = Date.now(),
): ClientState {
  if (!canTransition(from.status, to)) {
    throw new LifelineError('LL_INVALID_TRANSITION', `Invalid state transition ${from.status} → ${to}.`);
  }
  return { attempt: from.attempt, lastClose: from.lastClose, ...fields, status: to, since: now } as ClientState;
}
