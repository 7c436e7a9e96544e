/**
 * Hostile values past the decoder, through Redis (issue 14): a hostile peer's value that
 * the server accepts is journaled to the shared session store and published through the
 * Redis broker; it must come back intact when another node replays the session from the
 * journal, and reach that node's subscribers, in both formats. A hostile value the server
 * refuses is never journaled nor published. Two in-process nodes on one real redis-server,
 * an honest client beside every case, no uncaught exception.
 */
import { encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { createRedisBroker, createRedisSessionStore } from '@lifeline/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptableValue, HonestBeside, HostileCounts, hostileValue, statsOf, verdict, withTimeout, type Hostile } from '../../../test/support/hostile.js';
import { HandConnection, render, SESSION_TEMPLATES, same, type Format } from '../../../test/support/hostile-frames.js';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startRedis, type RedisServer } from '../../../test/support/redis.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const counts = new HostileCounts('Redis: session journal and broker');
const encodeMp = (v: unknown) => msgpackEncode(v, { maxDepth: 1000 });
const hostile = hostileValue(encodeMp);
const acceptable = acceptableValue(encodeMp);

let redis: RedisServer;
const nodes: { running: RunningApp; close(): Promise<void> }[] = [];
let honest: LifelineTestClient;
const processErrors: unknown[] = [];
const onProcessError = (error: unknown) => processErrors.push(error);

async function startNode(name: string): Promise<RunningApp> {
  const sessionStore = createRedisSessionStore({ url: redis.url, nodeId: name });
  const broker = createRedisBroker({ url: redis.url });
  const running = await startApp(
    (app) => {
      app.channel('fz', { clientPublish: true });
      app.ws('/echo', { lifeline: true }, (socket) => socket.on('message', (m) => socket.send(m)));
    },
    { sessionStore, broker },
  );
  await sessionStore.ready();
  await broker.ready();
  nodes.push({ running, close: () => Promise.all([sessionStore.close(), broker.close()]).then(() => undefined) });
  return running;
}

beforeAll(async () => {
  process.on('uncaughtException', onProcessError);
  process.on('unhandledRejection', onProcessError);
  redis = await startRedis();
  await startNode('a');
  await startNode('b');
  honest = new LifelineTestClient(nodes[0]!.running.wsUrl('/echo'));
  await honest.connect();
  beside = new HonestBeside([honest], counts, (what) => expect(processErrors.map((e) => String((e as Error)?.stack ?? e)), what).toEqual([]));
});

afterAll(async () => {
  counts.print();
  honest?.close();
  for (const node of nodes) {
    await node.running.stop();
    await node.close();
  }
  await redis?.dispose();
  process.off('uncaughtException', onProcessError);
  process.off('unhandledRejection', onProcessError);
});

let beside: HonestBeside;
const survived = (what: string) => beside.check(what);

const url = (node: number) => nodes[node]!.running.wsUrl('/echo');

async function journalCase(h: Hostile, format: Format): Promise<void> {
  counts.cases++;
  counts.inputs++;
  const onA = new HandConnection(url(0), format, false);
  await onA.open();
  await onA.hello();
  onA.sendEnvelope({ t: 'm', s: 1, d: h.written });
  const echo = await onA.next((e) => e.t === 'm', 'the echo on a');
  onA.close();
  const onB = new HandConnection(url(1), format);
  await onB.open();
  const welcome = await onB.hello({ sid: onA.sid!, tok: onA.tok!, rx: 0 });
  expect(welcome).toMatchObject({ resumed: true });
  const replayed = await onB.next((e) => e.t === 'm' && e.s === echo.s, 'the echo replayed by b');
  expect(same(replayed.d, h.written), `${h.label} (${format})`).toBe(true);
  onB.close();
  await survived(`journal of ${h.label}`);
}

describe('accepted hostile values through the Redis journal and broker', () => {
  it('a MessagePack session is replayed by another node as the bytes it journaled (ioredis wrote a Uint8Array as "132,161,…")', async () => {
    for (const format of ['msgpack', 'json'] as const) {
      await journalCase({ label: 'a small object', json: '', msgpack: new Uint8Array(), stats: statsOf({ a: [1, 'x'] }), value: { a: [1, 'x'] }, written: { a: [1, 'x'] } }, format);
    }
  });

  it('an echo journaled on node a, never acknowledged, is replayed by node b from the store: the same value', async () => {
    await fc.assert(
      fc.asyncProperty(acceptable, fc.constantFrom<Format>('json', 'msgpack'), (h, format) => withTimeout(journalCase(h, format), `${h.label} (${format})`)),
      { numRuns: Number(process.env.RUNS1 ?? 30) },
    );
  }, 300_000);

  it('$publish on node a reaches a subscriber on node b intact; a refused one is neither journaled nor published', async () => {
    const subscriber = new HandConnection(url(1), 'msgpack');
    await subscriber.open();
    await subscriber.hello();
    await subscriber.request('$subscribe', { ch: 'fz' });
    let published = 0;
    await fc.assert(
      fc.asyncProperty(hostile, fc.constantFrom<Format>('json', 'msgpack'), async (h, format) => {
        counts.cases++;
        counts.inputs++;
        const publisher = new HandConnection(url(0), format);
        await publisher.open();
        await publisher.hello();
        const ok = verdict(h.stats, 63, 7).ok;
        const frame = SESSION_TEMPLATES.find((t) => t.name === '$publish d.d')!.frame(1);
        // lifeline serve forbids client publishing; this app allows it on fz: the answer is the offset.
        publisher.send(render(frame, h, format));
        if (ok) {
          const answer = await publisher.next((e) => e.t === 'r' && e.id === 80, `the $publish answer for ${h.label}`);
          expect(answer.d, h.label).toMatchObject({ o: ++published });
          const p = await subscriber.next((e) => e.t === 'p' && e.o === published, `publication ${published} on b`);
          if (h.written !== undefined) expect(same(p.d, h.written), `${h.label} (${format})`).toBe(true);
        } else {
          expect((await publisher.closed).code, h.label).toBe(1007);
        }
        publisher.close();
        await survived(`publication of ${h.label}`);
      }),
      { numRuns: 40 },
    );
    // Nothing refused took an offset: the subscriber saw 1..published, nothing else.
    expect(subscriber.envelopes.filter((e) => e.t === 'p').map((e) => e.o)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    subscriber.close();
  }, 300_000);
});
