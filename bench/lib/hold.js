// Drives a generator in idle mode: open N connections, hold them (answering
// pings), let the caller sample the server, then end the hold.
import { runGenerator } from './generator.js';

/**
 * Returns { ready, stats(), finish() }:
 *   ready     resolves with the generator's "ready" event once every
 *             connection is open (or failed);
 *   stats()   asks the generator (SIGUSR1) for its ping/open counters;
 *   finish()  ends the hold (SIGTERM) and resolves with the final result.
 * `onEvent(name, data, child)` additionally sees every generator event.
 */
export function holdConnections(target, params, timeoutMs, onEvent) {
  let child = null;
  let readyResolve;
  let statsWaiters = [];
  const ready = new Promise((resolve) => (readyResolve = resolve));
  const done = runGenerator(target, { mode: 'idle', ...params }, {
    timeoutMs,
    onEvent(name, data, c) {
      child = c;
      onEvent?.(name, data, c);
      if (name === 'ready') readyResolve({ ...data, genPid: c.pid });
      if (name === 'stats') {
        const waiters = statsWaiters;
        statsWaiters = [];
        for (const w of waiters) w(data);
      }
    },
  });
  // If the generator dies before "ready", surface its error through `ready`.
  const readyOrFail = Promise.race([ready, done.then((r) => Promise.reject(new Error(`generator ended before ready: ${JSON.stringify(r.errors)} ${r.diagnostics.join(' | ')}`)))]);
  readyOrFail.catch(() => {});
  return {
    ready: readyOrFail,
    stats() {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no stats event from generator')), 5000);
        statsWaiters.push((data) => {
          clearTimeout(timer);
          resolve(data);
        });
        try {
          process.kill(child.pid, 'SIGUSR1');
        } catch (err) {
          clearTimeout(timer);
          reject(err);
        }
      });
    },
    async finish() {
      try {
        if (child) process.kill(child.pid, 'SIGTERM');
      } catch {}
      return done;
    },
  };
}
