/**
 * Channels on one process (PROTOCOL.md §3) with the in-memory broker: raw and Lifeline
 * subscribers, recovery from history, epochs, patterns, authorisation, presence, and the
 * slow-subscriber policies, all over real sockets.
 */
import { connect, type Socket as TcpSocket } from 'node:net';
import type { Socket } from '@lifeline/server';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { sleep, waitFor } from '../../../test/support/wait.js';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';

const running: RunningApp[] = [];
const cleanup = { push: cleanupAfterEach() };
afterEach(async () => {
  for (const app of running.splice(0)) await app.stop();
});

async function start(setup: (app: RunningApp['app']) => void = () => {}, options = {}): Promise<{ app: RunningApp['app']; url: (path: string) => string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const running_ = await startApp((a) => {
    a.ws('/s', { lifeline: true }, (socket) => void sockets.push(socket));
    a.ws('/raw/:channel', (socket) => {
      sockets.push(socket);
      void socket.subscribe(socket.params.channel!);
    });
    setup(a);
  }, options);
  running.push(running_);
  return { app: running_.app, url: running_.wsUrl, sockets };
}

async function lifelineClient(url: string): Promise<LifelineTestClient> {
  const c = new LifelineTestClient(url);
  cleanup.push(() => c.close());
  await c.connect();
  return c;
}

const offsets = (c: LifelineTestClient, ch?: string) => c.publications.filter((p) => ch === undefined || p.ch === ch).map((p) => p.o);

describe('channels', () => {
  it('fans out to raw and Lifeline subscribers: raw get the payload itself, Lifeline clients p envelopes with offsets', async () => {
    const { app, url } = await start();
    const raw = new WebSocket(url('/raw/news'));
    const rawGot: (string | Buffer)[] = [];
    raw.on('message', (data: Buffer, binary) => rawGot.push(binary ? data : data.toString()));
    cleanup.push(() => raw.close());
    const a = await lifelineClient(url('/s'));
    const b = await lifelineClient(url('/s'));
    for (const c of [a, b]) expect(await c.request('$subscribe', { ch: 'news' })).toEqual({ ch: 'news', ep: expect.any(String), o: 0 });
    await waitFor(() => app.hub.subscriberCounts().find((c) => c.channel === 'news')?.subscribers === 3, 'three subscribers');
    await app.publish('news', 'plain text');
    await app.publish('news', { headline: 'x', n: 1 });
    await app.publish('news', new Uint8Array([1, 2, 3]));
    await waitFor(() => a.publications.length === 3 && b.publications.length === 3 && rawGot.length === 3, 'three publications each');
    expect(rawGot).toEqual(['plain text', '{"headline":"x","n":1}', Buffer.from([1, 2, 3])]);
    expect(a.publications.map((p) => [p.o, p.d ?? [...p.b!]])).toEqual([
      [1, 'plain text'],
      [2, { headline: 'x', n: 1 }],
      [3, [1, 2, 3]],
    ]);
    expect(b.publications).toEqual(a.publications);
    expect(app.hub.stats).toMatchObject({ publications: 3, deliveries: 9 });
  });

  it('raw subscribers get publications framed once and written as is: every length class, UTF-8, bytes, in order with send()', async () => {
    const { app, url, sockets } = await start();
    const raw = new WebSocket(url('/raw/frames'));
    const got: { data: string | Buffer; binary: boolean }[] = [];
    raw.on('message', (data: Buffer, binary) => got.push({ data: binary ? data : data.toString(), binary }));
    cleanup.push(() => raw.close());
    await waitFor(() => app.hub.subscriberCounts().some((c) => c.channel === 'frames'), 'subscribed');
    const texts = [0, 1, 125, 126, 127, 65535, 65536, 200_000].map((n) => 'x'.repeat(n));
    const sent: unknown[] = [...texts, 'ünïcödé ✓ 😀', new Uint8Array([0, 255, 128]), { a: [1, 'b'] }];
    // Publications and a plain send() in the same turn keep their order on the wire.
    for (const value of sent) void app.publish('frames', value);
    sockets[0]!.send('after');
    await waitFor(() => got.length === sent.length + 1, 'every frame', 10_000);
    expect(got.slice(0, texts.length).map((g) => (g.data as string).length)).toEqual(texts.map((t) => t.length));
    expect(got[texts.length]).toEqual({ data: 'ünïcödé ✓ 😀', binary: false });
    expect(got[texts.length + 1]).toEqual({ data: Buffer.from([0, 255, 128]), binary: true });
    expect(got[texts.length + 2]).toEqual({ data: '{"a":[1,"b"]}', binary: false });
    expect(got.at(-1)).toEqual({ data: 'after', binary: false });
  });

  it('recovers what a session missed while disconnected from history (since), then continues live, nothing twice', async () => {
    const { app, url } = await start();
    const c = await lifelineClient(url('/s'));
    const answer = (await c.request('$subscribe', { ch: 'feed' })) as { ep: string };
    for (let i = 1; i <= 5; i++) await app.publish('feed', i);
    await waitFor(() => c.publications.length === 5, 'first five');
    c.drop();
    await sleep(20);
    for (let i = 6; i <= 10; i++) await app.publish('feed', i);
    expect((await c.connect())!.resumed).toBe(true);
    const since = { o: c.publications.at(-1)!.o, ep: answer.ep };
    expect(await c.request('$subscribe', { ch: 'feed', since })).toEqual({ ch: 'feed', ep: answer.ep, o: 10, recovered: true });
    await app.publish('feed', 11);
    await waitFor(() => c.publications.length === 11, 'all eleven');
    expect(offsets(c)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(c.publications.map((p) => p.d)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('says reset "too-old" when history no longer reaches back, and "epoch" for a position of another epoch', async () => {
    const { app, url } = await start((a) => a.channel('short', { history: { size: 3 } }));
    const c = await lifelineClient(url('/s'));
    const { ep } = (await c.request('$subscribe', { ch: 'short' })) as { ep: string };
    for (let i = 1; i <= 10; i++) await app.publish('short', i);
    await waitFor(() => c.publications.length === 10, 'ten');
    expect(await c.request('$subscribe', { ch: 'short', since: { o: 2, ep } })).toEqual({ ch: 'short', ep, o: 10, recovered: false, reset: 'too-old' });
    expect(await c.request('$subscribe', { ch: 'short', since: { o: 7, ep } })).toEqual({ ch: 'short', ep, o: 10, recovered: true });
    expect(await c.request('$subscribe', { ch: 'short', since: { o: 7, ep: 'other' } })).toMatchObject({ recovered: false, reset: 'epoch' });
    // A sentinel published now arrives after anything the three subscriptions sent.
    await app.publish('short', 11);
    await waitFor(() => offsets(c).includes(11), 'the sentinel');
    // The recovery with since 7 re-sent 8..10, once; the client drops those by offset (the test client records all).
    expect(offsets(c).slice(10)).toEqual([8, 9, 10, 11]);
  });

  it('patterns deliver every channel one segment below, each publication once', async () => {
    const { app, url } = await start();
    const c = await lifelineClient(url('/s'));
    await c.request('$subscribe', { ch: 'prices:*' });
    await c.request('$subscribe', { ch: 'prices:btc' });
    await app.publish('prices:btc', 1);
    await app.publish('prices:eth', 2);
    await app.publish('prices:btc:usd', 3);
    await app.publish('other', 4);
    await app.publish('prices:eth', 5); // a sentinel: anything wrongly delivered came before it
    await waitFor(() => c.publications.some((p) => p.d === 5), 'the sentinel');
    // prices:btc reaches both subscriptions (exact and pattern); prices:btc:usd is two segments down.
    expect(c.publications.map((p) => [p.ch, p.d])).toEqual([
      ['prices:btc', 1],
      ['prices:btc', 1],
      ['prices:eth', 2],
      ['prices:eth', 5],
    ]);
  });

  it('authorises: publish needs clientPublish or an authorize hook; refusals are LL_FORBIDDEN', async () => {
    const { url } = await start((a) => {
      a.channel('chat:*', { clientPublish: true });
      a.channel('secret', { authorize: (_socket, _channel, action) => action === 'publish' });
    });
    const alice = await lifelineClient(url('/s'));
    const bob = await lifelineClient(url('/s'));
    await bob.request('$subscribe', { ch: 'chat:lobby' });
    expect(await alice.request('$publish', { ch: 'chat:lobby', d: { text: 'hi' } })).toEqual({ o: 1, ep: expect.any(String) });
    await waitFor(() => bob.publications.length === 1, 'bob gets it');
    expect(bob.publications[0]).toMatchObject({ ch: 'chat:lobby', o: 1, d: { text: 'hi' } });
    await expect(alice.request('$publish', { ch: 'news', d: 1 })).rejects.toMatchObject({ code: 'LL_FORBIDDEN' });
    await expect(alice.request('$subscribe', { ch: 'secret' })).rejects.toMatchObject({ code: 'LL_FORBIDDEN' });
    await expect(alice.request('$subscribe', { ch: 'bad name' })).rejects.toMatchObject({ code: 'LL_INVALID_CHANNEL' });
    await expect(alice.request('$subscribe', { ch: 'x', since: { o: -1, ep: 'e' } })).rejects.toMatchObject({ code: 'LL_INVALID_REQUEST' });
    await expect(alice.request('$subscribe', 'x')).rejects.toMatchObject({ code: 'LL_INVALID_REQUEST' });
    await expect(alice.request('$nonsense', { ch: 'x' })).rejects.toMatchObject({ code: 'LL_NO_HANDLER' });
  });

  it('limits channels per connection (maxChannels) with LL_TOO_MANY_CHANNELS', async () => {
    const { app, url } = await start(() => {}, { maxChannels: 2 });
    const c = await lifelineClient(url('/s'));
    // Sent back to back: the third is refused even though none is subscribed yet when it arrives.
    const results = await Promise.allSettled([c.request('$subscribe', { ch: 'a' }), c.request('$subscribe', { ch: 'b' }), c.request('$subscribe', { ch: 'c' })]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    await c.request('$subscribe', { ch: 'a' }); // a re-subscription is not a new channel
    await expect(c.request('$subscribe', { ch: 'c' })).rejects.toMatchObject({ code: 'LL_TOO_MANY_CHANNELS' });
    await c.request('$unsubscribe', { ch: 'a' });
    await c.request('$subscribe', { ch: 'c' });
    // The limit is per connection: another client still gets its own channels and their publications.
    const other = await lifelineClient(url('/s'));
    await other.request('$subscribe', { ch: 'a' });
    await other.request('$subscribe', { ch: 'd' });
    await app.publish('d', 'to the other');
    await waitFor(() => other.publications.some((p) => p.ch === 'd' && p.d === 'to the other'), 'a publication to the other client');
    expect(c.publications.filter((p) => p.ch === 'd')).toEqual([]);
  });

  it('presence: joins and leaves coalesced into one pr per interval, $presence lists members, a user with two connections is one member', async () => {
    const { url, sockets } = await start((a) => a.channel('room:*', { presence: { interval: 100 } }));
    const watcher = await lifelineClient(url('/s'));
    await watcher.request('$subscribe', { ch: 'room:1', presence: true });
    const joiners: LifelineTestClient[] = [];
    for (let i = 0; i < 7; i++) {
      const j = new LifelineTestClient(url('/s'));
      cleanup.push(() => j.close());
      await j.connect();
      joiners.push(j);
    }
    // Server code names the members: two connections of one user, one of another, three more
    // (the seventh connection is kept for later).
    sockets[1]!.presence = { id: 'ada', info: { name: 'Ada' } };
    sockets[2]!.presence = { id: 'ada', info: { name: 'Ada' } };
    sockets[3]!.presence = { id: 'bob' };
    for (const [k, name] of ['cy', 'di', 'ed'].entries()) sockets[4 + k]!.presence = { id: name };
    const members = ['ada', 'bob', 'cy', 'di', 'ed'];
    // One after another, each in its own turn at the server: five members join within the
    // time it takes to answer six requests in a row.
    const from = Date.now();
    for (const j of joiners.slice(0, 6)) await j.request('$subscribe', { ch: 'room:1', presence: true });
    const joinWindow = Date.now() - from;
    const joined = () => watcher.presence.flatMap((p) => p.join.map((m) => m.id));
    await waitFor(() => members.every((id) => joined().includes(id)), 'the five members joined');
    expect(joined().sort()).toEqual([...members, sockets[0]!.id].sort());
    // Coalesced: changes go out at most once per interval (100 ms), so the joins made within
    // that window reach the watcher in at most that many prs, not one per member.
    const withJoiners = watcher.presence.filter((p) => p.join.some((m) => members.includes(m.id)));
    expect(withJoiners.length, `joins made within ${joinWindow} ms`).toBeLessThanOrEqual(Math.ceil(joinWindow / 100) + 1);
    const listed = (await watcher.request('$presence', { ch: 'room:1' })) as { members: { id: string }[]; count: number };
    expect(listed.count).toBe(6);
    expect(listed.members).toContainEqual({ id: 'ada', info: { name: 'Ada' } });
    // Ada leaves with one tab: still present. A member who joins after that is seen after
    // anything that leave caused. Then ada leaves with the other tab: gone.
    await joiners[0]!.request('$unsubscribe', { ch: 'room:1' });
    sockets[7]!.presence = { id: 'sentinel' };
    await joiners[6]!.request('$subscribe', { ch: 'room:1', presence: true });
    await waitFor(() => joined().includes('sentinel'), 'the sentinel joined');
    expect(watcher.presence.flatMap((p) => p.leave)).toEqual([]);
    await joiners[1]!.request('$unsubscribe', { ch: 'room:1' });
    await waitFor(() => watcher.presence.some((p) => p.leave.includes('ada')), 'ada left');
    await expect(watcher.request('$presence', { ch: 'news' })).rejects.toMatchObject({ code: 'LL_FORBIDDEN' });
  });

  it('presence past maxListed sends only the count: one small pr per interval, however many join', async () => {
    const { url } = await start((a) => a.channel('big', { presence: { interval: 100, maxListed: 2 } }));
    const watcher = await lifelineClient(url('/s'));
    await watcher.request('$subscribe', { ch: 'big', presence: true });
    const joiners: LifelineTestClient[] = [];
    for (let i = 0; i < 5; i++) {
      const j = new LifelineTestClient(url('/s'));
      cleanup.push(() => j.close());
      await j.connect();
      joiners.push(j);
    }
    const from = Date.now();
    for (const j of joiners) await j.request('$subscribe', { ch: 'big', presence: true });
    const joinWindow = Date.now() - from;
    await waitFor(() => watcher.presence.at(-1)?.count === 6, 'a count of six');
    expect(watcher.presence.at(-1)).toMatchObject({ count: 6, join: [], leave: [] });
    // The watcher's own join, then at most one pr per interval for the five joins (made
    // within joinWindow), not one per join.
    expect(watcher.presence.length, `joins made within ${joinWindow} ms`).toBeLessThanOrEqual(1 + Math.ceil(joinWindow / 100) + 1);
  });

  it('a subscription the server makes for a session is announced to the client with $subscribed', async () => {
    const { app, url, sockets } = await start((a) => a.channel('room:*', { presence: true }));
    const c = await lifelineClient(url('/s'));
    const announced: unknown[] = [];
    c.handle('$subscribed', (d) => void announced.push(d));
    const position = await sockets[0]!.subscribe('alerts');
    await sockets[0]!.subscribe('room:7', { presence: true });
    await app.publish('alerts', 'fire');
    await waitFor(() => c.publications.length === 1 && announced.length === 2, 'announcements and publication');
    expect(announced[0]).toEqual({ ch: 'alerts', o: position.offset, ep: position.epoch });
    expect(announced[1]).toMatchObject({ ch: 'room:7', presence: true });
    expect(sockets[0]!.channels).toEqual(['alerts', 'room:7']);
    expect(() => sockets[0]!.handle('$subscribe', () => 1)).toThrow(/reserved/);
    await expect(sockets[0]!.subscribe('no spaces')).rejects.toMatchObject({ code: 'LL_INVALID_CHANNEL' });
  });

  describe('slow subscribers (a raw TCP peer that completes the upgrade and never reads)', () => {
    async function stalledSubscriber(app: RunningApp['app'], port: number, channel: string): Promise<TcpSocket> {
      const before = app.hub.subscriberCounts().find((c) => c.channel === channel)?.subscribers ?? 0;
      const tcp = connect(port, '127.0.0.1');
      cleanup.push(() => tcp.destroy());
      tcp.write(
        `GET /raw/${channel} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      await waitFor(() => (app.hub.subscriberCounts().find((c) => c.channel === channel)?.subscribers ?? 0) > before, 'subscribed');
      tcp.pause(); // never read again: the server's socket buffer fills
      return tcp;
    }

    const big = 'x'.repeat(64 * 1024);

    /** Publications usually come from I/O events, one turn each; a loop of awaits would put them all in one turn. */
    async function publishInItsOwnTurn(app: RunningApp['app'], channel: string, data: unknown, key?: string): Promise<void> {
      await new Promise((resolve) => setImmediate(resolve));
      await app.publish(channel, data, key === undefined ? {} : { key });
    }

    /** A subscriber that reads everything, next to one that stalls; returns how many the fast one got. */
    async function fastAndStalled(app: RunningApp['app'], channel: string): Promise<() => number> {
      const port = running[0]!.port;
      const fast = new WebSocket(`ws://127.0.0.1:${port}/raw/${channel}`);
      let got = 0;
      fast.on('message', () => got++);
      cleanup.push(() => fast.close());
      await new Promise((r) => fast.once('open', r));
      await stalledSubscriber(app, port, channel);
      return () => got;
    }

    it('close (default): the slow one is closed with 1013, the fast one gets everything', async () => {
      const { app, sockets } = await start((a) => a.channel('firehose', { slowSubscriber: { policy: 'close', maxQueued: 50, bufferedBytes: 64 * 1024 } }));
      const fastGot = await fastAndStalled(app, 'firehose');
      for (let i = 0; i < 400; i++) await publishInItsOwnTurn(app, 'firehose', big);
      await waitFor(() => app.hub.stats.closedSlow === 1, 'the slow subscriber closed', 10_000);
      await waitFor(() => fastGot() === 400, 'the fast one got all 400', 10_000);
      // The closing handshake began on the stalled one (it will not read the close frame); the fast one is open.
      expect(sockets.map((s) => s.isOpen)).toEqual([true, false]);
    });

    it.each([
      ['drop-oldest', 'droppedOldest'],
      ['drop-newest', 'droppedNewest'],
    ] as const)('%s: drops are counted, the connection stays, the fast one is unaffected', async (policy, counter) => {
      const { app } = await start((a) => a.channel('firehose', { slowSubscriber: { policy, maxQueued: 20, bufferedBytes: 64 * 1024 } }));
      const fastGot = await fastAndStalled(app, 'firehose');
      for (let i = 0; i < 300; i++) await publishInItsOwnTurn(app, 'firehose', big);
      await waitFor(() => fastGot() === 300, 'the fast one got all 300', 10_000);
      expect(app.hub.stats[counter]).toBeGreaterThan(0);
      expect(app.hub.stats.closedSlow).toBe(0);
      expect(app.hub.subscriberCounts().find((c) => c.channel === 'firehose')?.subscribers).toBe(2);
    });

    it('coalesce: only the latest publication per key waits', async () => {
      const { app } = await start((a) => a.channel('ticker', { slowSubscriber: { policy: 'coalesce', maxQueued: 1000, bufferedBytes: 64 * 1024 } }));
      const port = running[0]!.port;
      await stalledSubscriber(app, port, 'ticker');
      for (let i = 0; i < 200; i++) await publishInItsOwnTurn(app, 'ticker', big, `sym${i % 4}`);
      await waitFor(() => app.hub.stats.coalesced > 100, 'most of the 200 coalesced');
    });
  });
});
