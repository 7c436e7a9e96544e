// A rolling restart, measured (issue 15): Lifeline nodes sharing sessions through Redis, a
// load balancer in front of them, and @lifeline/client sessions spread over them by it.
// One node gets SIGTERM (taken out of the balancer first, as an orchestrator does with a
// terminating instance); its sessions are handed off and its clients come back through the
// balancer to the others. Measured: per client of that node, the time from the signal to
// the `open` event of its resumed session; per remaining node, the most new connections
// (each carries one hello) it got in any 100 ms after the signal.
//
// Used by the bench scenario `rolling-restart` (1,000 sessions over 3 `lifeline serve
// --redis` processes) and by test/rolling-restart.test.ts (fewer, with a bound today's
// hint would break). Starting the nodes and Redis is the caller's; this file needs only
// their ports and a way to signal one. The balancer runs in a process of its own
// (balancer.js), the clients in this one; times are wall-clock ms (epochNow), comparable
// between the two.
import { createClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { epochNow, spawnBalancer } from './balancer.js';

function percentile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Runs one rolling restart.
 *   ports     the nodes' ports (all serve `path` in Lifeline mode, sessions shared through one Redis)
 *   sessions  how many clients (sessions) the balancer spreads over them
 *   sigterm   (index) => void: sends SIGTERM to node `index` (0 is the one restarted)
 * Resolves with { victims, resumedMs (sorted), p50, p99, max, resets, closed: { p50, p99 } (SIGTERM → close seen), peakPer100ms: { port: n }, hints, connectMs }.
 */
export async function rollingRestart({ ports, sessions, sigterm, path = '/echo', timeoutMs = 60_000, stableAfter = 1000 }) {
  const balancer = await spawnBalancer(ports);
  const clients = [];
  try {
    const url = `ws://127.0.0.1:${balancer.port}${path}`;
    const started = epochNow();
    let t0 = Infinity;
    const resumedMs = [];
    const closedMs = [];
    const hints = [];
    let resets = 0;
    let opened = 0;
    let victimsSeen = 0;
    let settled = 0;
    let wake = () => {};
    for (let i = 0; i < sessions; i++) {
      const client = createClient(url, { mode: lifeline(), reconnect: { stableAfter }, connectTimeout: 20_000 });
      clients.push(client);
      let closedAfterSignal = false;
      client.on('open', (info) => {
        if (!closedAfterSignal) {
          opened++;
        } else {
          if (info.session.resumed) resumedMs.push(epochNow() - t0);
          else resets++;
          settled++;
        }
        wake();
      });
      client.on('close', (info) => {
        if (epochNow() < t0 || closedAfterSignal) return;
        closedAfterSignal = true;
        victimsSeen++;
        closedMs.push(epochNow() - t0);
        if (info.hint !== undefined) hints.push(info.hint);
      });
    }
    const until = async (condition, what) => {
      const deadline = epochNow() + timeoutMs;
      while (!condition()) {
        if (epochNow() > deadline) throw new Error(`rolling restart: timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
    };
    await until(() => opened === sessions, `${sessions} sessions to open`);
    const connectMs = epochNow() - started;
    // Links that stayed up: a close is then answered with the server's hint alone (the client's stableAfter).
    await new Promise((resolve) => setTimeout(resolve, stableAfter + 100));
    const victims = await balancer.carrying(ports[0]);
    await balancer.remove(ports[0]);
    t0 = epochNow();
    sigterm(0);
    await until(() => victimsSeen >= victims && settled >= victims, `the ${victims} clients of the stopped node to come back (${settled} so far)`);
    resumedMs.sort((a, b) => a - b);
    closedMs.sort((a, b) => a - b);
    const peakPer100ms = {};
    const arrivals = await balancer.arrivals();
    for (const port of ports.slice(1)) {
      const buckets = new Map();
      for (const { at, port: p } of arrivals) {
        if (p !== port || at < t0) continue;
        const bucket = Math.floor((at - t0) / 100);
        buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
      }
      peakPer100ms[port] = Math.max(0, ...buckets.values());
    }
    return {
      victims,
      resumedMs,
      p50: percentile(resumedMs, 0.5),
      p99: percentile(resumedMs, 0.99),
      max: resumedMs.at(-1) ?? NaN,
      resets,
      closed: { p50: percentile(closedMs, 0.5), p99: percentile(closedMs, 0.99) },
      peakPer100ms,
      hints: hints.sort((a, b) => a - b),
      connectMs,
    };
  } finally {
    for (const client of clients) client.close();
    await balancer.close();
  }
}
