/**
 * A Redis that hangs rather than refuses (issue 15): what docs/redis.md promises, each
 * checked against a real redis-server stopped with SIGSTOP (and continued with SIGCONT),
 * which keeps its connections open and answers nothing:
 *  - a session that cannot store its progress for `unreachableTimeout` closes with 1011;
 *  - a hello for a session while Redis is stopped gets 1013, and the session is still there;
 *  - `pingInterval` takes the connections of a hung Redis down (readiness says so) and
 *    brings them back when it answers again;
 *  - `rememberEnded`: a session that expired or overflowed, even while Redis was stopped, is
 *    answered `expired` / `overflow` on a late resume on another node;
 *  - `handoverTimeout: 0` loses echoes the default hand-over keeps: here only node a's link
 *    to Redis stalls (the chaos proxy's `stall`), since the point is one node that lags.
 */
import { connectionOptions, createRedisBroker, createRedisSessionStore } from '@lifeline/redis';
import { Redis } from 'ioredis';
import { describe, expect, test } from 'vitest';
import { startChaosProxy } from '../../../test/support/chaos-proxy.js';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { useRedisServer, type RedisServer } from '../../../test/support/redis.js';
import { startApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';
import { detached, metaKey, sessionNodes } from './session-nodes.js';

let redis!: RedisServer;
useRedisServer((server) => (redis = server));
const cleanup = cleanupAfterEach();
const { startNode, sessionOn, resumer } = sessionNodes(() => redis, cleanup);

describe('a Redis that hangs (SIGSTOP)', () => {
  test('a session that cannot store its progress for unreachableTimeout closes with 1011; its client resumes what was stored once Redis answers', { timeout: 30_000 }, async () => {
    const a = await startNode('a', { store: { unreachableTimeout: 1_500 } });
    const client = await sessionOn(a);
    const onA = a.sockets[0]!;
    onA.sendJson({ i: 1 });
    await waitFor(() => client.messages.length === 1, 'the first message');
    redis.pause();
    const pausedAt = Date.now();
    onA.sendJson({ i: 2 }); // cannot be stored, so it is never shown
    const closed = await client.closed();
    const after = Date.now() - pausedAt;
    expect(closed.code).toBe(1011);
    expect(closed.reason).toMatch(/^session store unreachable for \d+ ms$/);
    expect(after).toBeGreaterThanOrEqual(1_500);
    expect(client.messages).toEqual([{ i: 1 }]);
    expect(a.closes.get(onA)?.[0]).toBe(1011);
    redis.resume();
    // The session's progress is in Redis up to what the client saw: it continues from there.
    const back = resumer(a, client);
    expect(await back.connect()).toMatchObject({ resumed: true, sid: client.sid });
    console.log(`[redis-hang] 1011 after ${after} ms (unreachableTimeout 1500)`);
  });

  test('a hello while Redis is stopped gets 1013 on any node, and the session is still there when Redis answers', { timeout: 30_000 }, async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const client = await sessionOn(a);
    client.drop();
    await waitFor(() => detached(a.sockets[0]!), 'node a saw the drop');
    redis.pause();
    for (const node of [b, a]) {
      const attempt = resumer(node, client);
      await expect(attempt.connect()).rejects.toThrow(/closed before welcome: 1013 session store unavailable; try again later/);
    }
    redis.resume();
    const back = resumer(b, client);
    expect(await back.connect()).toMatchObject({ resumed: true, sid: client.sid });
  });

  test('pingInterval takes the connections of a hung Redis down, so readiness says so, and brings them back when it answers', { timeout: 30_000 }, async () => {
    const broker = createRedisBroker({ url: redis.url, pingInterval: 200, commandTimeout: 300 });
    const store = createRedisSessionStore({ url: redis.url, pingInterval: 200, commandTimeout: 300 });
    const errors: string[] = [];
    broker.on('error', (error) => errors.push(`broker: ${error.message}`));
    store.on('error', (error) => errors.push(`store: ${error.message}`));
    // Readiness of a node whose sessions are shared (its channels stay in memory here).
    const running = await startApp((app) => app.healthEndpoints(), { sessionStore: store });
    cleanup(async () => {
      redis.resume();
      await running.stop();
      await Promise.all([broker.close(), store.close()]);
    });
    const ready = async () => {
      const response = await fetch(running.httpUrl('/readyz'));
      return { status: response.status, body: (await response.json()) as { reason?: string } };
    };
    await waitFor(async () => (await ready()).status === 200 && broker.available(), 'ready');
    redis.pause();
    await waitFor(() => !broker.available() && !store.available(), 'both taken down', 10_000);
    expect(await ready()).toEqual({ status: 503, body: { status: 'not-ready', reason: 'session-store-unavailable' } });
    expect(errors.some((e) => /^broker: Redis did not answer PING within 300 ms/.test(e))).toBe(true);
    expect(errors.some((e) => /^store: Redis did not answer PING within 300 ms/.test(e))).toBe(true);
    redis.resume();
    await waitFor(() => broker.available() && store.available(), 'both back', 10_000);
    expect((await ready()).status).toBe(200);
    expect(await broker.publish('hang:after', { data: 'works' }, { history: { size: 10, ttl: 60_000 } })).toMatchObject({ offset: 1 });
  });

  test.each([
    ['expired', { resumeWindow: 300 }],
    ['overflow', { replay: { maxMessages: 5 } }],
  ] as const)('rememberEnded: a session that ended (%s) while Redis was stopped is answered so on a late resume on another node', { timeout: 30_000 }, async (why, lifeline) => {
    // Pings take the hung connection down, so that the end cannot even be sent: it waits, fails, and must be tried again.
    const a = await startNode('a', { lifeline, store: { pingInterval: 100, commandTimeout: 300, offlineQueue: { timeout: 300 } } });
    const b = await startNode('b', { lifeline });
    const failed: string[] = [];
    a.store.on('error', (error) => failed.push(error.message));
    const client = await sessionOn(a);
    const onA = a.sockets[0]!;
    redis.pause();
    await waitFor(() => !a.store.available(), 'node a’s connections to the hung Redis taken down', 10_000);
    client.drop();
    await waitFor(() => detached(onA), 'node a saw the drop');
    if (why === 'overflow') for (let i = 1; i <= 6; i++) onA.sendJson({ i });
    await waitFor(() => a.closes.has(onA), `the session ${why} on node a`, 10_000);
    await waitFor(() => failed.some((message) => message.includes(`end (${client.sid})`)), 'the end not stored while Redis hangs', 10_000);
    redis.resume();
    await waitFor(() => a.store.available(), 'node a back on Redis', 10_000);
    const late = resumer(b, client);
    expect(await late.connect()).toMatchObject({ resumed: false, reset: { reason: why } });
  });

  test.each([
    ['expired', { resumeWindow: 300 }],
    ['overflow', { replay: { maxMessages: 5 } }],
  ] as const)('rememberEnded: a session that ended (%s) with Redis answering is answered so on a late resume on another node', { timeout: 30_000 }, async (why, lifeline) => {
    const a = await startNode('a', { lifeline });
    const b = await startNode('b', { lifeline });
    const client = await sessionOn(a);
    const onA = a.sockets[0]!;
    client.drop();
    await waitFor(() => detached(onA), 'node a saw the drop');
    if (why === 'overflow') for (let i = 1; i <= 6; i++) onA.sendJson({ i });
    await waitFor(() => a.closes.has(onA), `the session ${why} on node a`, 10_000);
    await waitFor(async () => (await redis.command('GET', `${metaKey(client.sid!)}:e`)) === why, 'the end remembered in Redis');
    const late = resumer(b, client);
    expect(await late.connect()).toMatchObject({ resumed: false, reset: { reason: why } });
  });
});

describe('handoverTimeout', () => {
  /**
   * Node a's commands connection goes through a proxy that can stall it (its subscriber does
   * not). The client's message reached node a's handler; the echo is sent while node a's link
   * to Redis stalls, so that it waits to be stored when node b claims the session.
   */
  async function echoInFlightDuringAClaim(handoverTimeout: number | undefined) {
    const proxy = await startChaosProxy({ targetPort: redis.port, seed: 1 });
    proxy.chaos = false;
    cleanup(() => proxy.close());
    const options = connectionOptions(2_000);
    const a = await startNode('a', {
      echo: false,
      store: { connect: (role) => new Redis({ ...options, host: '127.0.0.1', port: role === 'commands' ? proxy.port : redis.port }) },
    });
    const b = await startNode('b', { store: handoverTimeout === undefined ? {} : { handoverTimeout } });
    const client = await sessionOn(a, { autoAck: false });
    const onA = a.sockets[0]!;
    const received: unknown[] = [];
    onA.on('message', (m) => received.push(m.json()));
    client.send({ i: 1 });
    await waitFor(() => received.length === 1, 'node a’s handler got the message (so it is stored)');
    proxy.stall = true;
    onA.sendJson({ echo: { i: 1 } }); // waits to be stored, behind the stalled link
    // The client's newer connection, on node b: node b claims the session while node a still holds the echo.
    const next = new LifelineTestClient(b.url, { autoAck: false });
    cleanup(() => next.close());
    next.continueFrom(client);
    return { a, b, proxy, client, next, onA };
  }

  test('the default hand-over stores the echo node a had sent before node b takes the session: it reaches the client', { timeout: 30_000 }, async () => {
    const { proxy, client, next } = await echoInFlightDuringAClaim(undefined);
    const welcome = next.connect();
    // Node a lets go of its connection first (4000), then stores what it holds: the link goes on.
    expect((await client.closed()).code).toBe(4000);
    proxy.stall = false;
    expect(await welcome).toMatchObject({ resumed: true, sid: client.sid });
    await waitFor(() => next.messages.length === 1, 'the echo replayed from node b');
    expect(next.messages).toEqual([{ echo: { i: 1 } }]);
  });

  test('handoverTimeout 0: node b takes the session at once and the echo node a had not stored is lost (node a reports it as a drop)', { timeout: 30_000 }, async () => {
    const { a, proxy, next, onA } = await echoInFlightDuringAClaim(0);
    expect(await next.connect()).toMatchObject({ resumed: true });
    proxy.stall = false;
    await waitFor(() => a.drops.includes('moved'), 'node a’s drop of the echo it could not store');
    expect(a.closes.get(onA)).toEqual([4000, 'session moved to another node']);
    // The next echo comes from node b as s = 1: the first never existed there.
    next.send({ i: 2 });
    await waitFor(() => next.messages.length === 1, 'node b’s echo');
    expect(next.messages).toEqual([{ echo: { i: 2 } }]);
    expect(next.rx).toBe(1);
  });
});
