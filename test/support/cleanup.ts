import { afterEach } from 'vitest';

/**
 * Registers an `afterEach` that runs what the test scheduled, newest first (a proxy closes
 * before the server behind it), and returns the function tests schedule with.
 */
export function cleanupAfterEach(): (stop: () => unknown) => void {
  const stops: (() => unknown)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  return (stop) => void stops.push(stop);
}
