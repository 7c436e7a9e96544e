// Latency of a publication that crosses nodes through Redis (issue 7: p99 < 2 ms on
// loopback). Node A publishes (a @lifeline/redis broker in this process: what app.publish
// runs); Redis runs the publish script and PUBLISHes; node B, a separate `lifeline serve
// --redis` process, receives it on its subscriber connection and writes the `p` envelope
// to a Lifeline client subscribed on its /echo route; the client is in this process too,
// so one clock times the whole path: publish() called on A → envelope read at B's client.
//
// One publication in flight at a time (the next starts when the previous arrived), after
// a warm-up, in rounds; the table gives the median over rounds of each percentile, and the
// load average, since a 2-core machine shared with other work shows in the tail. Also
// reported: how long A waits for Redis to acknowledge the publish.
// redis-server (Debian's package) runs on a free 127.0.0.1 port without persistence
// (lib/redis.js) and is stopped by PID, like node B. Counts: LIFELINE_BENCH_REDIS_COUNT
// (default 5000), LIFELINE_BENCH_REDIS_WARMUP (default 500),
// LIFELINE_BENCH_REDIS_ROUNDS (default 3).
import os from 'node:os';
import WebSocket from 'ws';
import { LIFELINE_BIN, LIFELINE_NODE_FLAGS } from '../targets/index.js';
import { redisAvailability, startRedis, stopRedis } from '../lib/redis.js';
import { startUntil, stopNow } from '../lib/spawn.js';

const TARGET_P99_MS = 2;
const COUNT = Number(process.env.LIFELINE_BENCH_REDIS_COUNT ?? 5000);
const WARMUP = Number(process.env.LIFELINE_BENCH_REDIS_WARMUP ?? 500);
const ROUNDS = Number(process.env.LIFELINE_BENCH_REDIS_ROUNDS ?? 3);
const CHANNEL = 'bench:latency';

/** A Lifeline client on node B: hello, then `$subscribe`; calls `onPublication(p)` for each `p`. */
async function subscribe(url, onPublication) {
  const ws = new WebSocket(url, ['lifeline.v1']);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let subscribed;
  const answered = new Promise((resolve) => (subscribed = resolve));
  ws.on('message', (data) => {
    const e = JSON.parse(data.toString());
    if (e.t === 'p') onPublication(e);
    else if (e.t === 'welcome') ws.send(JSON.stringify({ t: 'q', s: 1, id: 1, n: '$subscribe', d: { ch: CHANNEL } }));
    else if (e.t === 'r' && e.id === 1) subscribed(e);
    else if (e.t === 'ping') ws.send(JSON.stringify({ t: 'pong', ts: e.ts }));
  });
  ws.send(JSON.stringify({ t: 'hello', v: 1 }));
  const answer = await answered;
  if (answer.e) throw new Error(`$subscribe failed: ${answer.e.code} ${answer.e.message}`);
  return ws;
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summary(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99), max: sorted.at(-1) };
}

export default {
  name: 'redis-latency',
  title: 'Cross-node publication latency through Redis (loopback)',
  once: true,
  async run() {
    const available = redisAvailability();
    if (available !== true) return { skipped: available };
    const { createRedisBroker } = await import('@lifeline/redis');
    let redis;
    let nodeB;
    let ws;
    let broker;
    try {
      redis = await startRedis(); // unpinned, like node B
      const { url } = redis;
      nodeB = await startUntil(
        process.execPath,
        [...LIFELINE_NODE_FLAGS, LIFELINE_BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--redis', url, '--log-level', 'silent'],
        (line) => /listening on http:\/\/[^\s]*:(\d+)/.exec(line)?.[1],
        'lifeline serve --redis (node B)',
      );
      // Node A: the broker app.publish would use, in this process.
      broker = createRedisBroker({ url });
      await broker.ready();

      let arrived;
      const sentAt = new Map();
      let cross = [];
      ws = await subscribe(`ws://127.0.0.1:${nodeB.match}/echo`, (p) => {
        const t0 = sentAt.get(p.d.n);
        if (t0 === undefined) return;
        sentAt.delete(p.d.n);
        cross.push(Number(process.hrtime.bigint() - t0) / 1e6);
        arrived?.();
      });
      const history = { history: { size: 100, ttl: 300_000 } };
      const rounds = [];
      let n = 0;
      for (let round = 0; round < ROUNDS; round++) {
        cross = [];
        const acks = [];
        for (let k = 0; k < WARMUP + COUNT; k++, n++) {
          const got = new Promise((resolve) => (arrived = resolve));
          const t0 = process.hrtime.bigint();
          sentAt.set(n, t0);
          await broker.publish(CHANNEL, { data: { n } }, history);
          acks.push(Number(process.hrtime.bigint() - t0) / 1e6);
          await got;
        }
        rounds.push({ cross: summary(cross.slice(WARMUP)), acked: summary(acks.slice(WARMUP)), load: os.loadavg()[0] });
      }
      const median = (pick) => rounds.map(pick).sort((a, b) => a - b)[Math.floor(rounds.length / 2)];
      const med = (key) => ({ p50: median((r) => r[key].p50), p90: median((r) => r[key].p90), p99: median((r) => r[key].p99), max: median((r) => r[key].max) });
      const crossMedian = med('cross');
      const ackedMedian = med('acked');
      const row = (label, s) => `${label.padEnd(44)}${[s.p50, s.p90, s.p99, s.max].map((x) => x.toFixed(3).padStart(10)).join('')}`;
      const p99 = crossMedian.p99;
      const table = [
        `${ROUNDS} rounds × ${COUNT} publications, one in flight, after ${WARMUP} warm-up each; medians over rounds, ms`,
        `${''.padEnd(44)}${['p50', 'p90', 'p99', 'max'].map((h) => h.padStart(10)).join('')}`,
        row('A publish() → client on node B (cross-node)', crossMedian),
        row('A publish() → Redis acknowledged', ackedMedian),
        `per round, cross-node p99: ${rounds.map((r) => r.cross.p99.toFixed(3)).join(', ')} ms (1-min load average ${rounds.map((r) => r.load.toFixed(1)).join(', ')} on ${os.cpus().length} cores)`,
        `cross-node p99 ${p99.toFixed(3)} ms; target < ${TARGET_P99_MS} ms: ${p99 < TARGET_P99_MS ? 'met' : 'NOT met'}`,
      ].join('\n   ');
      return { count: COUNT, warmup: WARMUP, rounds, cross_node_ms: crossMedian, acknowledged_ms: ackedMedian, targetP99Ms: TARGET_P99_MS, table };
    } finally {
      ws?.terminate();
      await broker?.close();
      await stopNow(nodeB);
      await stopRedis(redis);
    }
  },
};
