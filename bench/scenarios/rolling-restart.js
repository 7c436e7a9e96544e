// A rolling restart of Lifeline nodes that share sessions through Redis (issue 15): three
// `lifeline serve --redis` processes on the bench's own redis-server, behind a TCP load
// balancer in this process; 1,000 @lifeline/client sessions spread over them by it. One
// node gets SIGTERM (after the balancer took it out of rotation, as an orchestrator does);
// it hands its sessions off, and its clients come back through the balancer to the other
// two (bench/lib/rolling-restart.js).
//
// Reported, per round and as medians over rounds: the time from SIGTERM to each of its
// clients' resumed session (p50, p99, max; target p99 < 1 s), and the most new connections
// (each one hello) any remaining node got in a 100 ms window after the signal: a thundering
// herd would put the whole hand-off into one window. Resets must be 0.
//
// Counts: LIFELINE_BENCH_ROLLING_SESSIONS (default 1000), LIFELINE_BENCH_ROLLING_ROUNDS
// (default 3). Nothing is pinned: the nodes, Redis and the clients share the machine.
import os from 'node:os';
import { LIFELINE_BENCH_LIMITS, LIFELINE_BIN } from '../targets/index.js';
import { redisAvailability, startRedis, stopRedis } from '../lib/redis.js';
import { startUntil, stopNow } from '../lib/spawn.js';

const TARGET_P99_MS = 1000;
const SESSIONS = Number(process.env.LIFELINE_BENCH_ROLLING_SESSIONS ?? 1000);
const ROUNDS = Number(process.env.LIFELINE_BENCH_ROLLING_ROUNDS ?? 3);
const NODES = 3;

export default {
  name: 'rolling-restart',
  title: `Rolling restart: SIGTERM to 1 of ${NODES} nodes sharing ${SESSIONS} sessions through Redis`,
  once: true,
  async run() {
    const available = redisAvailability();
    if (available !== true) return { skipped: available };
    const { rollingRestart } = await import('../lib/rolling-restart.js');
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      let redis;
      const nodes = [];
      try {
        redis = await startRedis();
        for (let i = 0; i < NODES; i++) {
          nodes.push(
            await startUntil(
              process.execPath,
              [LIFELINE_BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--redis', redis.url, '--log-level', 'silent', ...LIFELINE_BENCH_LIMITS],
              (line) => /listening on http:\/\/[^\s]*:(\d+)/.exec(line)?.[1],
              `lifeline serve --redis (node ${i + 1})`,
            ),
          );
        }
        const result = await rollingRestart({
          ports: nodes.map((n) => Number(n.match)),
          sessions: SESSIONS,
          sigterm: (i) => nodes[i].child.kill('SIGTERM'),
          stableAfter: 1000,
        });
        const peak = Math.max(...Object.values(result.peakPer100ms));
        rounds.push({ ...result, resumedMs: undefined, peak, load: os.loadavg()[0] });
        console.error(
          `[rolling-restart ${round + 1}/${ROUNDS}] ${result.victims} handed off: closed p50 ${result.closed.p50.toFixed(0)} ms, p99 ${result.closed.p99.toFixed(0)} ms; resumed p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms, ` +
            `max ${result.max.toFixed(0)} ms, resets ${result.resets}, peak hellos/100 ms per node ${JSON.stringify(Object.values(result.peakPer100ms))}, ` +
            `hints ≤ ${result.hints.at(-1)} ms, load ${os.loadavg()[0].toFixed(1)}`,
        );
      } finally {
        await Promise.all(nodes.map((n) => stopNow(n)));
        await stopRedis(redis);
      }
    }
    const median = (pick) => rounds.map(pick).sort((a, b) => a - b)[Math.floor(rounds.length / 2)];
    const p99 = median((r) => r.p99);
    const table = [
      `${ROUNDS} rounds; ${SESSIONS} sessions over ${NODES} nodes; medians over rounds (1-min load average ${rounds.map((r) => r.load.toFixed(1)).join(', ')} on ${os.cpus().length} cores)`,
      `sessions handed off            ${median((r) => r.victims)}`,
      `SIGTERM → close, ms            p50 ${median((r) => r.closed.p50).toFixed(0)}   p99 ${median((r) => r.closed.p99).toFixed(0)}`,
      `SIGTERM → resumed, ms          p50 ${median((r) => r.p50).toFixed(0)}   p99 ${p99.toFixed(0)}   max ${median((r) => r.max).toFixed(0)}`,
      `peak hellos per 100 ms, node   ${median((r) => r.peak)} (per round: ${rounds.map((r) => Object.values(r.peakPer100ms).join('/')).join(', ')})`,
      `largest retry-after hint, ms   ${median((r) => r.hints.at(-1) ?? NaN)}`,
      `resets                         ${rounds.map((r) => r.resets).join(', ')}`,
      `p99 ${p99.toFixed(0)} ms; target < ${TARGET_P99_MS} ms: ${p99 < TARGET_P99_MS ? 'met' : 'NOT met'}`,
    ].join('\n   ');
    return { sessions: SESSIONS, nodes: NODES, rounds, p99Ms: p99, targetP99Ms: TARGET_P99_MS, table };
  },
};
