import { afterAll, expect, test } from 'vitest';
import { createClient, type LifelineClient } from '@lifeline/client';
import { spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { afterTimersWithin, timerLateness, waitFor } from '../../../test/support/wait.js';

/**
 * 1,000 clients in this process on one `lifeline serve`, which is SIGKILLed (every client
 * sees 1006 at the same instant) and restarted on the same port. With full jitter their
 * first retries spread uniformly over the first backoff window instead of arriving as one
 * wave. Real sockets, real time. The spread is judged on the delays the clients drew (each
 * client's own `nextAttemptAt`), which a loaded machine does not change; what the server
 * then sees is judged with the timer lateness measured meanwhile.
 */

const N = 1000;
const WINDOW_MS = 5000;
const BUCKETS = WINDOW_MS / 1000;
const STABLE_MS = 500;

/**
 * The bound for the fullest one-second bucket, derived from the distribution: with full
 * jitter each retry falls in a given bucket with p = 1/BUCKETS, so a bucket's count is
 * Binomial(N, p) with mean N·p and σ = √(N·p·(1−p)). Five σ over the mean is a bound a
 * correct client exceeds about once in 3.5 million runs per bucket. For N = 1000 and
 * 5 buckets: (200 + 5 × 12.6) / 1000 ≈ 26.3 %. Without jitter one bucket holds 100 %.
 */
const p = 1 / BUCKETS;
const MAX_BUCKET_SHARE = (N * p + 5 * Math.sqrt(N * p * (1 - p))) / N;

const clients: LifelineClient[] = [];
const servers: ServeProcess[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await stopProcess(s);
});

test(`${N} clients after a server restart spread their retries over the backoff window (no 1 s bucket over ${(MAX_BUCKET_SHARE * 100).toFixed(1)} %)`, async () => {
  const first = await spawnServe(['--max-connections-per-ip', '0']); // N clients, all from 127.0.0.1
  servers.push(first);
  const port = first.port;
  const lostAt = new Array<number>(N).fill(0);
  const plannedDelay = new Array<number>(N).fill(-1);
  const retryAt = new Array<number>(N).fill(0);
  const reopenedAt = new Array<number>(N).fill(0);
  let opened = 0;
  for (let i = 0; i < N; i++) {
    const client = createClient(first.wsUrl('/echo'), { reconnect: { initialDelay: WINDOW_MS, maxDelay: 4 * WINDOW_MS, stableAfter: STABLE_MS } });
    clients.push(client);
    client.on('state', (s, previous) => {
      if (s.status === 'open') {
        if (lostAt[i]) reopenedAt[i] ||= s.since;
        else opened++;
      }
      if (s.status === 'reconnecting' && previous.status === 'open') {
        lostAt[i] = s.since;
        plannedDelay[i] = s.nextAttemptAt! - s.since;
      }
      if (s.status === 'connecting' && lostAt[i] && !retryAt[i]) retryAt[i] = s.since;
    });
    // Open in batches, so the listen backlog is not what is being measured.
    if (i % 100 === 99) await waitFor(() => opened === i + 1, `${i + 1} connections`, 30_000);
  }
  await waitFor(() => opened === N, `${N} connections`, 30_000);
  // Links that stayed up (every client's stableAfter timer has fired): the first retry uses the first window.
  await afterTimersWithin(STABLE_MS);
  const lateness = timerLateness();

  first.signal('SIGKILL');
  await first.exited;
  const killedAt = Date.now();
  const second = await spawnServe(['--port', String(port), '--max-connections-per-ip', '0']);
  servers.push(second);
  const restartMs = Date.now() - killedAt;

  await waitFor(() => retryAt.every(Boolean), 'every client to retry', WINDOW_MS + 30_000, 50);
  // What is measured is the spread of the retries; coming back may take a second window for
  // clients whose first retry beat the restarted server, and longer on a loaded machine.
  await waitFor(() => reopenedAt.every(Boolean), 'every client to be back', 4 * WINDOW_MS + restartMs + 30_000, 50);
  const late = lateness.stop();

  const lossSpread = Math.max(...lostAt) - Math.min(...lostAt);
  const delays = plannedDelay;
  const buckets = new Array<number>(BUCKETS).fill(0);
  for (const d of delays) buckets[Math.min(BUCKETS - 1, Math.floor(d / 1000))]!++;
  const reopenBuckets: Record<number, number> = {};
  for (const t of reopenedAt) {
    const b = Math.floor((t - killedAt) / 1000);
    reopenBuckets[b] = (reopenBuckets[b] ?? 0) + 1;
  }
  const report = {
    lossSpreadMs: lossSpread,
    timersLateMs: Math.round(late),
    restartMs,
    retryBuckets: buckets,
    maxBucketShare: Math.max(...buckets) / N,
    bound: MAX_BUCKET_SHARE,
    firstRetryMs: Math.min(...delays),
    lastRetryMs: Math.max(...delays),
    latestActualRetryMs: Math.max(...retryAt.map((t, i) => t - lostAt[i]!)),
    retriesInFirst100ms: delays.filter((d) => d < 100).length,
    reopenedPerSecondAfterKill: reopenBuckets,
  };
  console.log(`crowd: ${JSON.stringify(report)}`);

  // Every client drew its first retry from the first window, [0, initialDelay).
  expect(Math.max(...delays)).toBeLessThan(WINDOW_MS);
  expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
  // And kept to it: no retry before its time (late ones are the machine's doing). Node starts
  // a timer from the event loop's cached clock, which a long turn (a thousand closes at
  // once on a loaded machine) leaves behind Date.now() by as much as it delays timers: so a
  // retry may come that much before nextAttemptAt, and no more.
  const earliest = Math.min(...retryAt.map((t, i) => t - (lostAt[i]! + delays[i]!)));
  expect(earliest, `the earliest retry, in ms after its planned time (timers ran up to ${Math.round(late)} ms late)`).toBeGreaterThanOrEqual(-(late + 2));
  expect(Math.max(...buckets) / N).toBeLessThanOrEqual(MAX_BUCKET_SHARE);
  // Every bucket is used (uniform, not bunched at one end): at least mean − 5σ.
  for (const count of buckets) expect(count / N).toBeGreaterThanOrEqual(2 * p - MAX_BUCKET_SHARE);
  // No thundering herd in the first 100 ms (expected 2 %, bound 5 %).
  expect(report.retriesInFirst100ms).toBeLessThan(0.05 * N);
  // The server sees the same spread: no second of reconnects holds more than the bound plus
  // the early clients that failed while it restarted and came back on their second try,
  // plus those whose retries a stall of this process (up to `late` ms) ran together.
  expect(Math.max(...Object.values(reopenBuckets)) / N).toBeLessThan(MAX_BUCKET_SHARE + (restartMs + late) / WINDOW_MS);
}, 180_000);
