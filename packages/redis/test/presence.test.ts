/**
 * Presence across nodes through Redis (docs/redis.md "Presence across nodes"): apps in this
 * process, each with its own Redis broker (its own two connections, its own node id), as
 * server processes would have, against a real redis-server; Lifeline clients over real
 * sockets. Join and leave on one node seen on another, one member on two nodes, coalescing
 * (one `pr` per interval per subscriber, one Redis message per interval per node), the
 * count alone past maxListed, `app.presence` on a node that follows nothing, a node that
 * stops heartbeating, a node that shuts down, and Redis coming back without its data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createApp, type App } from '@lifeline/server';
import { createRedisBroker, type RedisBroker, type RedisBrokerOptions } from '@lifeline/redis';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { useRedisServer, type RedisServer } from '../../../test/support/redis.js';
import { afterTimersWithin, timerLateness, waitFor } from '../../../test/support/wait.js';

const INTERVAL = 100;
const TTL = 600;

let redis!: RedisServer;
const stops: (() => Promise<unknown> | unknown)[] = [];

useRedisServer((server) => (redis = server));
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

interface Node {
  app: App;
  broker: RedisBroker;
  errors: Error[];
  /** A Lifeline client on this node whose presence id is `id` (the connection id when none). */
  client(id?: string, info?: unknown): Promise<LifelineTestClient>;
}

async function node(options: RedisBrokerOptions = {}, maxListed = 100): Promise<Node> {
  const broker = createRedisBroker({ url: redis.url, presenceTtl: TTL, ...options });
  const errors: Error[] = [];
  broker.on('error', (error) => errors.push(error));
  const app = createApp({ broker, logger: 'silent' });
  app.channel('room:*', { presence: { interval: INTERVAL, maxListed } });
  app.ws('/s', { lifeline: true }, (socket, request) => {
    const query = new URL(request.url ?? '/', 'http://x').searchParams;
    const id = query.get('id');
    const info = query.get('info');
    if (id !== null) socket.presence = info === null ? { id } : { id, info: JSON.parse(info) as unknown };
  });
  const { port } = await app.listen(0, '127.0.0.1');
  await broker.ready();
  stops.push(async () => {
    await app.shutdown({ drainTimeout: 200, retryWindow: 0 });
    await broker.close();
  });
  return {
    app,
    broker,
    errors,
    client: async (id, info) => {
      const query = id === undefined ? '' : `?id=${encodeURIComponent(id)}${info === undefined ? '' : `&info=${encodeURIComponent(JSON.stringify(info))}`}`;
      const c = new LifelineTestClient(`ws://127.0.0.1:${port}/s${query}`);
      stops.push(() => c.close());
      await c.connect();
      return c;
    },
  };
}

/** What a presence subscriber's application holds: the `$presence` list, then each `pr` applied. */
function membersSeen(c: LifelineTestClient, initial: { id: string }[]): () => string[] {
  return () => {
    const members = new Set(initial.map((m) => m.id));
    for (const pr of c.presence) {
      for (const id of pr.leave) members.delete(id);
      for (const m of pr.join) members.add(m.id);
    }
    return [...members].sort();
  };
}

async function join(c: LifelineTestClient, ch: string): Promise<{ id: string; info?: unknown }[]> {
  await c.request('$subscribe', { ch, presence: true });
  const listed = (await c.request('$presence', { ch })) as { members: { id: string; info?: unknown }[]; count: number };
  expect(listed.count).toBe(listed.members.length);
  return listed.members;
}

/** Presence messages (not markers) one node published on a channel, counted by a plain Redis subscriber. */
async function countPresenceMessages(channel: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const sub = new Redis(redis.url);
  stops.push(() => sub.disconnect());
  sub.on('message', (_name: string, message: string) => {
    const [p, , nodeId, kind] = message.split(' ');
    if (p === 'P' && kind !== 'm') counts.set(nodeId!, (counts.get(nodeId!) ?? 0) + 1);
  });
  await sub.subscribe(`lifeline:c:${channel}`);
  return counts;
}

describe('presence across nodes', () => {
  it('shows a member joining on A to a subscriber on B, in $presence and app.presence everywhere, and its leave', async () => {
    const a = await node();
    const b = await node();
    const c = await node(); // follows nothing: app.presence reads Redis
    const watcher = await b.client('watcher');
    const initial = await join(watcher, 'room:1');
    expect(initial.map((m) => m.id)).toEqual(['watcher']);
    const seen = membersSeen(watcher, initial);

    const ada = await a.client('ada', { name: 'Ada' });
    await join(ada, 'room:1');
    await waitFor(() => seen().includes('ada'), 'ada seen on B');
    expect(watcher.presence.flatMap((pr) => pr.join)).toContainEqual({ id: 'ada', info: { name: 'Ada' } });
    expect(watcher.presence.at(-1)!.count).toBe(2);
    // The member joined on A sees the watcher of B in its own list.
    expect(((await ada.request('$presence', { ch: 'room:1' })) as { count: number }).count).toBe(2);
    for (const n of [a, b, c]) expect((await n.app.presence('room:1')).map((m) => m.id).sort()).toEqual(['ada', 'watcher']);

    await ada.request('$unsubscribe', { ch: 'room:1' });
    await waitFor(() => !seen().includes('ada'), 'ada left on B');
    expect(watcher.presence.at(-1)).toMatchObject({ count: 1, leave: ['ada'] });
    expect((await c.app.presence('room:1')).map((m) => m.id)).toEqual(['watcher']);
    expect([...a.errors, ...b.errors, ...c.errors]).toEqual([]);
  });

  it('counts a member connected on two nodes once: present until her last connection, on any node, leaves', async () => {
    const a = await node();
    const b = await node();
    const watcher = await b.client('watcher');
    const seen = membersSeen(watcher, await join(watcher, 'room:2'));
    const onA = await a.client('ada');
    const onB = await b.client('ada');
    await join(onA, 'room:2');
    await join(onB, 'room:2');
    // Sentinels joined after ada on each node: once both are seen, whatever either node said
    // about ada's two joins has arrived before them (each node's changes travel in order).
    await join(await a.client('sentinel-a'), 'room:2');
    await join(await b.client('sentinel-b'), 'room:2');
    await waitFor(() => seen().includes('sentinel-a') && seen().includes('sentinel-b'), 'both sentinels present');
    expect(watcher.presence.flatMap((pr) => pr.join.map((m) => m.id)).filter((id) => id === 'ada')).toHaveLength(1);
    expect(watcher.presence.at(-1)!.count).toBe(4);
    // Ada leaves on B but stays on A: a sentinel joining on B after that is seen only after
    // anything B's leave caused.
    await onB.request('$unsubscribe', { ch: 'room:2' });
    await join(await b.client('sentinel-b2'), 'room:2');
    await waitFor(() => seen().includes('sentinel-b2'), 'the second sentinel present');
    expect(seen()).toContain('ada');
    expect(watcher.presence.flatMap((pr) => pr.leave)).toEqual([]);
    await onA.request('$unsubscribe', { ch: 'room:2' });
    await waitFor(() => !seen().includes('ada'), 'ada gone once both left');
  });

  it('coalesces: many joins on A reach B as one Redis message per interval from A, and one pr per interval to each subscriber', async () => {
    const a = await node();
    const b = await node();
    const counts = await countPresenceMessages('room:4');
    const watcher = await b.client('watcher');
    const seen = membersSeen(watcher, await join(watcher, 'room:4'));
    const joiners = await Promise.all(Array.from({ length: 12 }, (_, i) => a.client(`user-${i}`)));
    // One after another, each in its own turn at A: twelve joins spread over the time twelve
    // answers in a row take, which on any machine is a handful of intervals at most.
    const started = Date.now();
    for (const j of joiners) await j.request('$subscribe', { ch: 'room:4', presence: true });
    await waitFor(() => seen().length === 13, 'twelve joins seen on B');
    const elapsed = Date.now() - started;
    // At most one message from A per interval elapsed (plus the one in progress).
    const fromA = counts.get(a.broker.nodeId) ?? 0;
    // At most one message per interval that passed (by the clock, however slowly the machine
    // ran), so twelve joins in a few intervals are fewer messages than joins.
    expect(fromA).toBeGreaterThanOrEqual(1);
    expect(fromA).toBeLessThanOrEqual(Math.ceil(elapsed / INTERVAL) + 1);
    const prs = watcher.presence.filter((pr) => pr.join.length > 0 && pr.join.every((m) => m.id.startsWith('user-')));
    expect(prs.length).toBeLessThanOrEqual(Math.ceil(elapsed / INTERVAL) + 1);
    expect(watcher.presence.at(-1)!.count).toBe(13);
  });

  it('sends only the count past maxListed, whichever node the members are on', async () => {
    const a = await node({}, 2);
    const b = await node({}, 2);
    const watcher = await b.client('watcher');
    await join(watcher, 'room:5');
    for (let i = 0; i < 4; i++) await (await a.client(`a-${i}`)).request('$subscribe', { ch: 'room:5', presence: true });
    await waitFor(() => watcher.presence.at(-1)?.count === 5, 'a count of five on B');
    expect(watcher.presence.at(-1)).toMatchObject({ count: 5, join: [], leave: [] });
    // $presence still lists everyone.
    const listed = (await watcher.request('$presence', { ch: 'room:5' })) as { members: { id: string }[]; count: number };
    expect(listed.count).toBe(5);
  });

  it('removes the members of a node that stops heartbeating (its connections cut, as SIGKILL would) within the bound', async () => {
    const a = await node();
    const b = await node();
    const watcher = await b.client('watcher');
    const seen = membersSeen(watcher, await join(watcher, 'room:6'));
    const ghost = await a.client('ghost');
    await join(ghost, 'room:6');
    await waitFor(() => seen().includes('ghost'), 'ghost present on B');
    expect(await redis.command('HGET', 'lifeline:{room:6}:pm', `${a.broker.nodeId} ghost`)).toBe('');
    // Node A vanishes from Redis's point of view: no more heartbeats, no goodbye.
    const lateness = timerLateness();
    const cut = Date.now();
    a.broker.commands.disconnect();
    a.broker.subscriber.disconnect();
    await waitFor(() => !seen().includes('ghost'), 'ghost gone on B', 10_000, 5);
    const took = Date.now() - cut;
    // The documented bound: presenceTtl + presenceTtl / 3 (the next sweep) + the presence
    // interval; plus, for each of the three timers on the way (lease, sweep, flush), how late
    // this loaded process ran its timers meanwhile, and 250 ms for Redis and the sockets.
    const late = lateness.stop();
    expect(took, `timers ran up to ${Math.round(late)} ms late`).toBeLessThanOrEqual(TTL + TTL / 3 + INTERVAL + 250 + 3 * late);
    expect(watcher.presence.at(-1)).toMatchObject({ count: 1, leave: ['ghost'] });
    // Redis no longer holds it either.
    expect(await redis.command('HGET', 'lifeline:{room:6}:pm', `${a.broker.nodeId} ghost`)).toBe('$-1');
    expect(await redis.command('ZSCORE', 'lifeline:{room:6}:pn', a.broker.nodeId)).toBe('$-1');
  });

  it('lets the members of a node that shuts down leave at once, without waiting for its leases', async () => {
    const a = await node({ presenceTtl: 60_000 });
    const b = await node({ presenceTtl: 60_000 });
    const watcher = await b.client('watcher');
    const seen = membersSeen(watcher, await join(watcher, 'room:7'));
    await join(await a.client('leaving'), 'room:7');
    await waitFor(() => seen().includes('leaving'), 'present on B');
    await a.app.shutdown({ drainTimeout: 200, retryWindow: 0 });
    await a.broker.close();
    await waitFor(() => !seen().includes('leaving'), 'gone on B', 2000);
  });

  it('survives Redis going away and coming back without its data: no crash, changes made meanwhile arrive, every node announces its members again', async () => {
    const a = await node();
    const b = await node();
    const watcher = await b.client('watcher');
    const seen = membersSeen(watcher, await join(watcher, 'room:8'));
    const ada = await a.client('ada');
    await join(ada, 'room:8');
    await join(await a.client('zoe'), 'room:8');
    await waitFor(() => seen().includes('ada') && seen().includes('zoe'), 'ada and zoe present');
    await redis.stop('SIGKILL');
    // A change while Redis is unreachable: kept by A, told to the others when Redis is back.
    await ada.request('$unsubscribe', { ch: 'room:8' });
    // Past the leases and the sweep after them (by A's own timers): A still holds what it knew.
    await afterTimersWithin(TTL + TTL / 3);
    expect((await a.app.presence('room:8')).map((m) => m.id).sort()).toEqual(['watcher', 'zoe']);
    await redis.restart({ wipe: true });
    await waitFor(async () => (await redis.command('HGET', 'lifeline:{room:8}:pm', `${a.broker.nodeId} zoe`)) === '', 'A announced zoe again', 10_000);
    await waitFor(async () => (await redis.command('HGET', 'lifeline:{room:8}:pm', `${b.broker.nodeId} watcher`)) === '', 'B announced its watcher again', 10_000);
    expect(await redis.command('HGET', 'lifeline:{room:8}:pm', `${a.broker.nodeId} ada`)).toBe('$-1');
    await waitFor(() => seen().join() === 'watcher,zoe', 'B shows the watcher and zoe', 10_000);
    // Settled: members who join on each node after this are seen after anything either node
    // still had to say, and nothing else changed meanwhile.
    await join(await a.client('sentinel-a'), 'room:8');
    await join(await b.client('sentinel-b'), 'room:8');
    await waitFor(() => seen().includes('sentinel-a') && seen().includes('sentinel-b'), 'both sentinels on B', 10_000);
    expect(seen().join()).toBe('sentinel-a,sentinel-b,watcher,zoe');
    expect(a.errors.length + b.errors.length).toBeGreaterThan(0); // reported, not thrown
  });
});
