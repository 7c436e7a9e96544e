/**
 * The Redis broker against a real redis-server (Debian's package) on a free 127.0.0.1 port:
 * offsets, history, epochs, patterns, once-per-process delivery, unavailability bounds and
 * the catch-up after the subscriber connection comes back. Each "process" is a broker
 * instance with its own two connections, as a server process would have.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LifelineError } from '@lifeline/protocol';
import type { Publication } from '@lifeline/server';
import { createRedisBroker, type RedisBroker, type RedisBrokerOptions } from '@lifeline/redis';
import { useRedisServer, type RedisServer } from '../../../test/support/redis.js';
import { afterTimersWithin, sleep, timerLateness, waitFor } from '../../../test/support/wait.js';

const HISTORY = { history: { size: 100, ttl: 300_000 } };

let redis!: RedisServer;
const brokers: RedisBroker[] = [];

useRedisServer((server) => (redis = server));
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

/** A broker as one server process would hold it, recording what it is handed. */
async function node(options: RedisBrokerOptions = {}): Promise<{ broker: RedisBroker; received: Publication[] }> {
  const broker = createRedisBroker({ url: redis.url, ...options });
  brokers.push(broker);
  const received: Publication[] = [];
  broker.onPublication((p) => received.push(p));
  await broker.ready();
  return { broker, received };
}

const offsets = (ps: readonly Publication[], channel?: string) => ps.filter((p) => channel === undefined || p.channel === channel).map((p) => p.offset);

describe('offsets and positions', () => {
  it('numbers publications 1, 2, 3 in one epoch, seen alike from every process', async () => {
    const a = await node();
    const b = await node();
    const first = await a.broker.publish('room:1', { data: 'x' }, HISTORY);
    const second = await b.broker.publish('room:1', { data: 'y' }, HISTORY);
    const third = await a.broker.publish('room:1', { data: 'z' }, HISTORY);
    expect([first.offset, second.offset, third.offset]).toEqual([1, 2, 3]);
    expect(new Set([first.epoch, second.epoch, third.epoch]).size).toBe(1);
    expect(first.epoch).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(await b.broker.position('room:1')).toEqual({ offset: 3, epoch: first.epoch });
  });

  it('gives a channel that was never published on offset 0 and an epoch that its first publication keeps', async () => {
    const a = await node();
    const before = await a.broker.position('fresh');
    expect(before.offset).toBe(0);
    expect(await a.broker.position('fresh')).toEqual(before);
    const published = await a.broker.publish('fresh', { data: 1 }, HISTORY);
    expect(published).toEqual({ offset: 1, epoch: before.epoch });
  });

  it('keeps offsets counting with history size 0, and keeps no history', async () => {
    const a = await node();
    const options = { history: { size: 0, ttl: 300_000 } };
    await a.broker.publish('nohistory', { data: 1 }, options);
    const p = await a.broker.publish('nohistory', { data: 2 }, options);
    expect(p.offset).toBe(2);
    expect(await a.broker.history('nohistory', 1, p.epoch)).toMatchObject({ complete: false, reason: 'too-old' });
    expect(await a.broker.history('nohistory', 2, p.epoch)).toMatchObject({ complete: true, publications: [] });
  });
});

describe('history', () => {
  it('returns every publication after since, JSON and bytes, with their keys', async () => {
    const a = await node();
    const { epoch } = await a.broker.publish('h', { data: { n: 1, s: 'é ☃' } }, HISTORY);
    await a.broker.publish('h', { bytes: new Uint8Array([0, 32, 255, 10]) }, { ...HISTORY, key: 'a key with spaces ☃' });
    await a.broker.publish('h', { data: null }, { ...HISTORY, key: '' });
    const result = await a.broker.history('h', 0, epoch);
    expect(result.complete).toBe(true);
    if (!result.complete) return;
    expect(result.position).toEqual({ offset: 3, epoch });
    expect(result.publications).toEqual([
      { channel: 'h', offset: 1, epoch, data: { n: 1, s: 'é ☃' } },
      { channel: 'h', offset: 2, epoch, key: 'a key with spaces ☃', bytes: new Uint8Array([0, 32, 255, 10]) },
      { channel: 'h', offset: 3, epoch, key: '', data: null },
    ]);
    expect(await a.broker.history('h', 2, epoch)).toMatchObject({ complete: true, publications: [{ offset: 3 }] });
    expect(await a.broker.history('h', 3, epoch)).toMatchObject({ complete: true, publications: [] });
  });

  it('says too-old once the stream no longer reaches back to since + 1 (exact MAXLEN)', async () => {
    const a = await node();
    const options = { history: { size: 5, ttl: 300_000 } };
    let epoch = '';
    for (let i = 1; i <= 12; i++) epoch = (await a.broker.publish('trim', { data: i }, options)).epoch;
    expect(await a.broker.history('trim', 6, epoch)).toMatchObject({ complete: false, reason: 'too-old', position: { offset: 12 } });
    const kept = await a.broker.history('trim', 7, epoch);
    expect(kept.complete && kept.publications.map((p) => p.data)).toEqual([8, 9, 10, 11, 12]);
  });

  it('says too-old once the publications after since are past their ttl', async () => {
    const a = await node();
    // The same publications under a ttl no test run outlasts: complete.
    const kept = { history: { size: 100, ttl: 300_000 } };
    const long = await a.broker.publish('long', { data: 1 }, kept);
    await a.broker.publish('long', { data: 2 }, kept);
    expect(await a.broker.history('long', 0, long.epoch)).toMatchObject({ complete: true, publications: [{ data: 1 }, { data: 2 }] });
    // Under a 150 ms ttl, once 150 ms have passed since they were stored (a timer set after
    // the second publish was acknowledged, so Redis's clock is past it too): too-old.
    const options = { history: { size: 100, ttl: 150 } };
    const { epoch } = await a.broker.publish('short', { data: 1 }, options);
    await a.broker.publish('short', { data: 2 }, options);
    await afterTimersWithin(150);
    expect(await a.broker.history('short', 0, epoch)).toMatchObject({ complete: false, reason: 'too-old', position: { offset: 2, epoch } });
    expect(await a.broker.history('short', 2, epoch)).toMatchObject({ complete: true, publications: [] });
  });

  it('says epoch for another epoch, or an offset the epoch never reached', async () => {
    const a = await node();
    const { epoch } = await a.broker.publish('e', { data: 1 }, HISTORY);
    expect(await a.broker.history('e', 0, 'someOtherEpoch')).toMatchObject({ complete: false, reason: 'epoch', position: { offset: 1, epoch } });
    expect(await a.broker.history('e', 5, epoch)).toMatchObject({ complete: false, reason: 'epoch' });
  });
});

describe('epochs', () => {
  it('starts a new epoch when Redis lost the channel (FLUSHALL), so an old position gets reset: epoch', async () => {
    const a = await node();
    const before = await a.broker.publish('lost', { data: 1 }, HISTORY);
    await a.broker.publish('lost', { data: 2 }, HISTORY);
    expect(await redis.command('FLUSHALL')).toBe('+OK');
    const after = await a.broker.publish('lost', { data: 3 }, HISTORY);
    expect(after.offset).toBe(1);
    expect(after.epoch).not.toBe(before.epoch);
    expect(await a.broker.history('lost', 2, before.epoch)).toMatchObject({ complete: false, reason: 'epoch', position: after });
  });

  it('starts a new epoch when Redis holds a lower offset than a subscriber saw (writes lost on failover)', async () => {
    const a = await node();
    await a.broker.subscribe('regress');
    for (let i = 1; i <= 3; i++) await a.broker.publish('regress', { data: i }, HISTORY);
    await waitFor(() => a.received.length === 3, 'three publications');
    const { epoch } = a.received[0]!;
    // As if the last two writes were lost: Redis holds offset 1 in the same epoch.
    expect(await redis.command('HSET', 'lifeline:{regress}:m', 'o', '1')).toBe(':0');
    const next = await a.broker.publish('regress', { data: 4 }, HISTORY);
    expect(next.epoch).not.toBe(epoch);
    expect(next.offset).toBe(1);
  });

  it('starts a new epoch when the stream outlived its offset (meta evicted)', async () => {
    const a = await node();
    const before = await a.broker.publish('evicted', { data: 1 }, HISTORY);
    expect(await redis.command('DEL', 'lifeline:{evicted}:m')).toBe(':1');
    const after = await a.broker.publish('evicted', { data: 2 }, HISTORY);
    expect(after.epoch).not.toBe(before.epoch);
    const history = await a.broker.history('evicted', 0, after.epoch);
    expect(history.complete && history.publications.map((p) => p.data)).toEqual([2]);
  });
});

describe('delivery between processes', () => {
  it('delivers a publication from any process to every subscribed process, in order', async () => {
    const a = await node();
    const b = await node();
    const c = await node();
    await a.broker.subscribe('news');
    await b.broker.subscribe('news');
    await b.broker.subscribe('sentinel');
    for (let i = 0; i < 30; i++) await [a, b, c][i % 3]!.broker.publish('news', { data: i }, HISTORY);
    await waitFor(() => a.received.length === 30 && b.received.length === 30, 'every publication at a and b');
    const expected = Array.from({ length: 30 }, (_, i) => i + 1);
    expect(offsets(a.received)).toEqual(expected);
    expect(offsets(b.received)).toEqual(expected);
    expect(a.received.map((p) => p.data)).toEqual(expected.map((o) => o - 1));
    expect(c.received).toEqual([]);
    await b.broker.unsubscribe('news');
    await c.broker.publish('news', { data: 'after' }, HISTORY);
    // A sentinel b still subscribes to, published after: b reads it after anything before it.
    await c.broker.publish('sentinel', { data: 'sentinel' }, HISTORY);
    await waitFor(() => a.received.length === 31 && b.received.some((p) => p.channel === 'sentinel'), 'the 31st at a, the sentinel at b');
    expect(b.received.filter((p) => p.channel === 'news')).toHaveLength(30);
  });

  it('delivers a pattern one segment deep: prices:* gets prices:btc, not prices:btc:eur or other:btc', async () => {
    const a = await node();
    const b = await node();
    await a.broker.subscribe('prices:*');
    await b.broker.publish('prices:btc:eur', { data: 0 }, HISTORY);
    await b.broker.publish('other:btc', { data: 0 }, HISTORY);
    await b.broker.publish('prices:btc', { data: 1 }, HISTORY);
    await b.broker.publish('prices:eth', { data: 2 }, HISTORY);
    await b.broker.publish('prices:sol', { data: 'sentinel' }, HISTORY); // anything wrongly delivered came before it
    await waitFor(() => a.received.length >= 3 && a.received.some((p) => p.data === 'sentinel'), 'the pattern publications and the sentinel');
    expect(a.received.map((p) => [p.channel, p.data])).toEqual([
      ['prices:btc', 1],
      ['prices:eth', 2],
      ['prices:sol', 'sentinel'],
    ]);
  });

  it('hands a process each publication once when it subscribes to the channel and its pattern', async () => {
    const a = await node();
    const b = await node();
    await a.broker.subscribe('prices:*');
    await a.broker.subscribe('prices:btc');
    for (let i = 1; i <= 20; i++) await b.broker.publish('prices:btc', { data: i }, HISTORY);
    await b.broker.publish('prices:eth', { data: 'eth' }, HISTORY);
    // The eth publication is the sentinel: a second copy of any btc one came before it.
    await waitFor(() => offsets(a.received, 'prices:eth').length >= 1, 'the publications');
    expect(offsets(a.received, 'prices:btc')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(offsets(a.received, 'prices:eth')).toEqual([1]);
    // Either subscription alone still delivers once.
    await a.broker.unsubscribe('prices:btc');
    await b.broker.publish('prices:btc', { data: 21 }, HISTORY);
    await a.broker.subscribe('prices:btc');
    await a.broker.unsubscribe('prices:*');
    await b.broker.publish('prices:btc', { data: 22 }, HISTORY);
    await a.broker.subscribe('sentinel');
    await b.broker.publish('sentinel', { data: 'sentinel' }, HISTORY);
    await waitFor(() => a.received.some((p) => p.channel === 'sentinel'), 'two more, then the sentinel');
    expect(offsets(a.received, 'prices:btc')).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
  });

  it('stays once-per-process while subscriptions to a channel and its pattern change under a stream of publications', async () => {
    const a = await node();
    const b = await node();
    await a.broker.subscribe('ticks:*');
    let publishing = true;
    const publisher = (async () => {
      for (let i = 1; publishing; i++) await b.broker.publish('ticks:x', { data: i }, HISTORY);
    })();
    for (let round = 0; round < 10; round++) {
      await a.broker.subscribe('ticks:x');
      await sleep(5);
      await a.broker.unsubscribe('ticks:x');
    }
    publishing = false;
    await publisher;
    const last = (await b.broker.position('ticks:x')).offset;
    await waitFor(() => a.received.at(-1)?.offset === last, 'the last publication');
    expect(offsets(a.received)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  });
});

describe('while Redis is unreachable', () => {
  it('rejects a publish with LL_UNAVAILABLE after offlineQueue.timeout, and never sends it', async () => {
    const a = await node({ offlineQueue: { timeout: 300, maxQueued: 100 } });
    await redis.stop();
    const lateness = timerLateness();
    const started = Date.now();
    const error = (await a.broker.publish('down', { data: 1 }, HISTORY).catch((e: unknown) => e)) as LifelineError;
    const waited = Date.now() - started;
    const late = lateness.stop();
    expect(error.code).toBe('LL_UNAVAILABLE');
    expect(error.message).toMatch(/not been reachable for 300 ms/);
    expect(waited).toBeGreaterThanOrEqual(250);
    // The timeout, plus how late this process ran its timers meanwhile, plus a second.
    expect(waited, `timers ran up to ${Math.round(late)} ms late`).toBeLessThan(300 + 1000 + 2 * late);
    await redis.restart();
    // ready() is bounded by this broker's 300 ms; ioredis's reconnect backoff may be longer.
    await waitFor(() => a.broker.commands.status === 'ready', 'the reconnect', 5000);
    expect((await a.broker.publish('down', { data: 2 }, HISTORY)).offset).toBe(1); // the first was never sent
  });

  it('refuses at once past offlineQueue.maxQueued', async () => {
    const a = await node({ offlineQueue: { timeout: 5000, maxQueued: 2 } });
    await redis.stop();
    await waitFor(() => a.broker.commands.status !== 'ready', 'the connection to notice');
    const waiting = [a.broker.publish('q', { data: 1 }, HISTORY), a.broker.publish('q', { data: 2 }, HISTORY)];
    let settled = 0;
    for (const w of waiting) void w.then(() => settled++, () => settled++);
    const error = (await a.broker.publish('q', { data: 3 }, HISTORY).catch((e: unknown) => e)) as LifelineError;
    // At once: refused while the two queued ones still wait (they would wait 5 s for Redis).
    expect(settled).toBe(0);
    expect(error.code).toBe('LL_UNAVAILABLE');
    expect(error.message).toMatch(/2 operations already wait/);
    // Redis back within the bound: the queued ones go, in order.
    await redis.restart();
    const done = await Promise.all(waiting);
    expect(done.map((p) => p.offset)).toEqual([1, 2]);
  });

  it('fails a publish to a Redis that stopped answering within commandTimeout', async () => {
    const a = await node({ commandTimeout: 300, pingInterval: 0 });
    redis.pause();
    try {
      const lateness = timerLateness();
      const started = Date.now();
      const error = (await a.broker.publish('hung', { data: 1 }, HISTORY).catch((e: unknown) => e)) as LifelineError;
      const late = lateness.stop();
      expect(error.code).toBe('LL_UNAVAILABLE');
      expect(error.message).toMatch(/timed out/i);
      expect(Date.now() - started, `timers ran up to ${Math.round(late)} ms late`).toBeLessThan(300 + 1000 + 2 * late);
    } finally {
      redis.resume();
    }
  });

  it('reads what pub/sub missed while the subscriber connection was down, and delivers it in order before live ones', async () => {
    const a = await node();
    const b = await node();
    const catchUps: { channel: string; recovered: number }[] = [];
    a.broker.on('catch-up', (event) => catchUps.push(event));
    await a.broker.subscribe('feed');
    await a.broker.subscribe('quiet');
    for (let i = 1; i <= 3; i++) await b.broker.publish('feed', { data: i }, HISTORY);
    await waitFor(() => a.received.length === 3, 'the first three');
    // Redis drops every subscriber connection; b publishes while a's is reconnecting.
    expect(await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub')).toMatch(/^:[1-9]/);
    for (let i = 4; i <= 8; i++) await b.broker.publish('feed', { data: i }, HISTORY);
    // ...and keeps publishing while a catches up.
    for (let i = 9; i <= 40; i++) {
      await b.broker.publish('feed', { data: i }, HISTORY);
      await sleep(2);
    }
    await waitFor(() => a.received.at(-1)?.offset === 40, 'all forty');
    // Each channel reports its catch-up when its own read is done; 'quiet' may finish after 'feed' delivered all.
    await waitFor(() => catchUps.some((c) => c.channel === 'quiet'), "the quiet channel's catch-up");
    expect(offsets(a.received)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(a.received.map((p) => p.data)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const feed = catchUps.find((c) => c.channel === 'feed');
    expect(feed?.recovered).toBeGreaterThanOrEqual(5);
    expect(catchUps.find((c) => c.channel === 'quiet')?.recovered).toBe(0);
  });

  it('after a Redis restart without persistence, hands over the new epoch', async () => {
    const a = await node();
    const b = await node();
    await a.broker.subscribe('restart');
    const before = await b.broker.publish('restart', { data: 1 }, HISTORY);
    await waitFor(() => a.received.length === 1, 'the first');
    await redis.restart();
    await a.broker.ready();
    await b.broker.ready();
    const after = await b.broker.publish('restart', { data: 2 }, HISTORY);
    expect(after.epoch).not.toBe(before.epoch);
    await waitFor(() => a.received.length === 2, 'the one after the restart');
    expect(a.received[1]).toMatchObject({ offset: 1, epoch: after.epoch, data: 2 });
    expect(await a.broker.history('restart', 1, before.epoch)).toMatchObject({ complete: false, reason: 'epoch' });
  });
});
