/**
 * Redis killed and restarted empty mid-stream, ten times in a row (issue 15): two
 * in-process nodes sharing sessions through one real redis-server, six @lifeline/client
 * clients (the product) streaming through the chaos proxy, which cuts every connection
 * 50–500 ms after it opened and sends each new one to the other node. Nobody may be left
 * stranded, and nothing lost silently: every message a client sent is echoed to it, or
 * handed back to it as unconfirmed by a reset. A message the server acknowledged whose
 * echo never came, with or without a reset, is a silent loss.
 *
 * The proxy's seed is printed; CHAOS_SEED=<seed> replays its cuts. Every wait is on a
 * condition. The runtime follows the machine: 5–15 s on a quiet one; on a loaded one a
 * resume (connect, hello, claim, welcome) can take longer than a cut leaves it, and the
 * clients then need several tries per outage (100 s seen at load 12 with two `yes` beside).
 */
import { createClient, type LifelineClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { describe, expect, test } from 'vitest';
import { chaosSeed, startChaosProxy } from '../../../test/support/chaos-proxy.js';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { useRedisServer, type RedisServer } from '../../../test/support/redis.js';
import { sleep, waitFor } from '../../../test/support/wait.js';
import { sessionNodes } from './session-nodes.js';

let redis!: RedisServer;
useRedisServer((server) => (redis = server));
const cleanup = cleanupAfterEach();
const { startNode } = sessionNodes(() => redis, cleanup);

const CLIENTS = 6;
const ROUNDS = 10;
const PER_ROUND = 60; // messages per client per round, the Redis restart after the first half

interface Tracked {
  client: LifelineClient<{ echo: { c: number; i: number } }, { c: number; i: number }>;
  sent: number;
  echoed: Set<number>;
  /** Handed back by resets as unconfirmed. */
  unconfirmed: Set<number>;
  resets: string[];
  duplicates: number;
}

describe('Redis killed and restarted empty mid-stream', () => {
  test(`${ROUNDS} times in a row, ${CLIENTS} clients through cuts: nobody stranded, every message echoed or handed back by a reset`, { timeout: 300_000 }, async () => {
    const nodes = [await startNode('a'), await startNode('b')];
    const seed = chaosSeed();
    console.log(`[redis-wipe] seed ${seed} (CHAOS_SEED=${seed} replays these cuts)`);
    const proxy = await startChaosProxy({ targetPort: nodes[0]!.running.port, seed });
    cleanup(() => proxy.close());
    let next = 0;
    const rotate = setInterval(() => {
      next = 1 - next;
      proxy.targetPort = nodes[next]!.running.port;
    }, 120);
    cleanup(() => clearInterval(rotate));

    const tracked: Tracked[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      const client = createClient<{ echo: { c: number; i: number } }, { c: number; i: number }>(`ws://127.0.0.1:${proxy.port}/s`, {
        reconnect: { initialDelay: 20, maxDelay: 200 },
        outbox: { maxMessages: 10_000 },
        mode: lifeline(),
      });
      cleanup(() => client.close());
      const t: Tracked = { client, sent: 0, echoed: new Set(), unconfirmed: new Set(), resets: [], duplicates: 0 };
      client.on('message', (m) => {
        const i = m.data!.echo.i;
        if (t.echoed.has(i)) t.duplicates++;
        t.echoed.add(i);
      });
      client.on('reset', (r) => {
        t.resets.push(r.reason);
        for (const value of r.unconfirmed) t.unconfirmed.add((value as { i: number }).i);
      });
      tracked.push(t);
    }
    await waitFor(() => tracked.every((t) => t.client.state.status === 'open'), 'every client open', 20_000);

    const accounted = (t: Tracked, upTo: number) => {
      for (let i = 1; i <= upTo; i++) if (!t.echoed.has(i) && !t.unconfirmed.has(i)) return false;
      return true;
    };
    const started = Date.now();
    for (let round = 1; round <= ROUNDS; round++) {
      const sendSome = async (count: number) => {
        for (let k = 0; k < count; k += 5) {
          for (const t of tracked) for (let j = 0; j < 5; j++) t.client.send({ c: tracked.indexOf(t), i: ++t.sent });
          await sleep(10);
        }
      };
      await sendSome(PER_ROUND / 2);
      await redis.restart({ signal: 'SIGKILL', wipe: true });
      await sendSome(PER_ROUND / 2);
      await waitFor(() => tracked.every((t) => accounted(t, t.sent)), `round ${round}: every message echoed or handed back`, 60_000).catch((error: Error) => {
        const open = tracked.map((t, c) => `client ${c}: ${t.client.state.status}, ${t.sent} sent, ${t.echoed.size} echoed, ${t.unconfirmed.size} unconfirmed, resets ${t.resets.join('/') || 'none'}`);
        throw new Error(`${error.message}\n${open.join('\n')}`);
      });
    }
    const ms = Date.now() - started;
    // Nobody stranded: with the cuts over, every client's session carries one more message there and back.
    proxy.chaos = false;
    for (const [c, t] of tracked.entries()) t.client.send({ c, i: ++t.sent });
    await waitFor(() => tracked.every((t) => t.echoed.has(t.sent)), 'a last echo on every client', 30_000);
    const resets = tracked.flatMap((t) => t.resets);
    console.log(
      `[redis-wipe] ${ROUNDS} rounds in ${ms} ms: ${CLIENTS} × ${ROUNDS * PER_ROUND} messages, proxy ${proxy.stats.connections} connections, ${proxy.stats.cuts} cuts; ` +
        `resets ${resets.length} (${[...new Set(resets)].join(', ') || 'none'}), handed back ${tracked.reduce((n, t) => n + t.unconfirmed.size, 0)}`,
    );
    for (const [c, t] of tracked.entries()) {
      expect(t.sent, `client ${c}`).toBe(ROUNDS * PER_ROUND + 1);
      const missing = Array.from({ length: t.sent }, (_, k) => k + 1).filter((i) => !t.echoed.has(i) && !t.unconfirmed.has(i));
      expect(missing, `client ${c}: neither echoed nor handed back`).toEqual([]);
      expect(t.duplicates, `client ${c}: echoes delivered twice`).toBe(0);
    }
    expect(proxy.stats.cuts).toBeGreaterThanOrEqual(ROUNDS);
  });
});
