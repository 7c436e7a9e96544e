/**
 * Reconnect backoff with full jitter: the delay before retry number `attempt` (1 = the
 * first retry) is drawn uniformly from [0, min(maxDelay, initialDelay × factor^(attempt − 1))).
 * Drawing from the whole window (not ±20 % around a point) is what spreads a crowd of
 * clients that lost the same server at the same instant over the window instead of
 * bringing them back as one wave.
 */
export interface BackoffOptions {
  /** Window of the first retry, in ms. */
  initialDelay: number;
  /** Growth of the window per retry. */
  factor: number;
  /** Largest window, in ms. */
  maxDelay: number;
}

/** The capped window for retry number `attempt` (≥ 1), before jitter. */
export function backoffWindow(attempt: number, options: BackoffOptions): number {
  return Math.min(options.maxDelay, options.initialDelay * options.factor ** Math.max(0, attempt - 1));
}

/** A full-jitter delay in whole ms for retry number `attempt` (≥ 1). */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  return Math.floor(random() * backoffWindow(attempt, options));
}
