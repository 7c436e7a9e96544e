import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Polls `condition` until it is truthy or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(condition: () => T | Promise<T>, what: string, timeoutMs = 5000, everyMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Resolves once every timer this process set to fire within `ms` from now has fired, however
 * late a loaded machine runs them: Node runs timers in order of expiry, and this one expires
 * after all of them. The window of a negative check that the product itself bounds ("no
 * reconnect after a stop": its retry timer would be due within `reconnect.maxDelay`): pass
 * the configured bound, then check what the product's timer would have changed at once
 * (its state), not what a peer would see later.
 */
export function afterTimersWithin(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms + 1));
}

/** How often timerLateness() samples the event loop, in ms. */
const LATENESS_SAMPLE_MS = 10;

/**
 * Watches how late this process runs its timers, from now until `stop()`, which returns a
 * bound on the worst delay in ms. For a time bound the product documents (a member gone
 * within TTL × 4/3 plus an interval): on a loaded machine each timer on the way can run this
 * late, so the assertion adds it per timer hop instead of guessing a slack.
 *
 * The histogram sees a stall only through its own timer, due every LATENESS_SAMPLE_MS: a
 * stall that began up to one sample after that timer last ran is recorded that much short.
 * So the bound is the longest recorded delay plus one sample.
 */
export function timerLateness(): { stop(): number } {
  const histogram = monitorEventLoopDelay({ resolution: LATENESS_SAMPLE_MS });
  histogram.enable();
  return {
    stop() {
      histogram.disable();
      return histogram.max / 1e6 + LATENESS_SAMPLE_MS;
    },
  };
}

/** `p`, or a rejection naming `what` once `ms` pass: an event wait that cannot hang a test. */
export function withTimeout<T>(p: Promise<T>, what: string, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
