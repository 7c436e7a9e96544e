/**
 * Channels in @lifeline/client (`@lifeline/client/channels`, PROTOCOL.md §3) against a real
 * @lifeline/server through a TCP proxy that the tests cut, black-hole or point at a
 * restarted server; and against a scripted server for the exact wire sequences (gaps,
 * duplicates, an epoch change mid-stream, one request in flight).
 */
import type { AddressInfo } from 'node:net';
import type { Socket } from '@lifeline/server';
import { createClient, type LifelineClient } from '@lifeline/client';
import {
  channels,
  publish,
  subscribe,
  type ChannelResetInfo,
  type PresenceChange,
  type Publication,
  type SubscribedInfo,
  type Subscription,
  type SubscriptionState,
} from '@lifeline/client/channels';
import { lifeline } from '@lifeline/client/lifeline';
import { msgpackFormat } from '@lifeline/client/msgpack';
import { describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { measureBundleSize, measureChannelsBundleSize, measureLifelineBundleSize } from '../scripts/bundle-size.mjs';
import { startChaosProxy, type ChaosProxy } from '../../../test/support/chaos-proxy.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';
import { waitForStatus } from './helpers.js';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';

const cleanup = { push: cleanupAfterEach() };

interface Rig {
  app: RunningApp;
  proxy: ChaosProxy;
  /** Server-side sessions, in the order their handlers ran. */
  sessions: Socket[];
  url: string;
}

/** A Lifeline route at /s (with `handler` per session) behind a proxy that does nothing until told. */
async function rig(setup: (app: RunningApp['app']) => void = () => {}, handler: (socket: Socket) => void = () => {}, appOptions = {}): Promise<Rig> {
  const sessions: Socket[] = [];
  const app = await startApp((a) => {
    a.ws('/s', { lifeline: true }, (socket) => {
      sessions.push(socket);
      handler(socket);
    });
    setup(a);
  }, appOptions);
  cleanup.push(() => app.stop());
  const proxy = await startChaosProxy({ targetPort: app.port, seed: 1 });
  proxy.chaos = false;
  cleanup.push(() => proxy.close());
  return { app, proxy, sessions, url: `ws://127.0.0.1:${proxy.port}/s` };
}

/**
 * A Lifeline-mode client whose URL function waits while `away()` holds it: the tests keep it
 * disconnected for as long as they need (publishing meanwhile), then let it come back.
 */
function connect(url: string, options: { format?: typeof msgpackFormat } = {}) {
  let hold: Promise<void> | undefined;
  const client = createClient(async () => (await hold, url), {
    reconnect: { initialDelay: 10, maxDelay: 50 },
    mode: lifeline(options.format ? { format: options.format } : {}),
  });
  cleanup.push(() => client.close());
  return {
    client,
    /** Cuts the link and keeps the client away until the returned function is called. */
    async away(proxy: ChaosProxy): Promise<() => void> {
      let release!: () => void;
      hold = new Promise((resolve) => (release = resolve));
      proxy.cutAll();
      await waitFor(() => client.state.status !== 'open', 'the cut noticed');
      return release;
    },
  };
}

/** Everything a subscription emitted. */
function watch<T>(sub: Subscription<T>) {
  const seen = {
    publications: [] as Publication<T>[],
    subscribed: [] as SubscribedInfo[],
    resets: [] as ChannelResetInfo[],
    presence: [] as PresenceChange[],
    states: [sub.state] as SubscriptionState[],
    errors: [] as Error[],
    get data() {
      return seen.publications.map((p) => p.data);
    },
    get offsets() {
      return seen.publications.map((p) => p.offset);
    },
  };
  sub.on('publication', (p) => seen.publications.push(p));
  sub.on('subscribed', (info) => seen.subscribed.push(info));
  sub.on('reset', (info) => seen.resets.push(info));
  sub.on('presence', (change) => seen.presence.push(change));
  sub.on('state', (state) => seen.states.push(state));
  sub.on('error', (error) => seen.errors.push(error));
  return seen;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function publishAll(app: RunningApp['app'], channel: string, values: unknown[]): Promise<void> {
  for (const value of values) await app.publish(channel, value);
}

describe('channels against @lifeline/server', () => {
  it('delivers publications in order, exactly once: JSON values and bytes, with offset, epoch and channel', async () => {
    const r = await rig();
    const { client } = connect(r.url);
    const sub = subscribe(client, 'news');
    const seen = watch(sub);
    expect(sub.state).toBe('subscribing');
    await waitFor(() => sub.state === 'subscribed', 'subscribed');
    expect(seen.subscribed).toEqual([{ position: { offset: 0, epoch: expect.any(String) }, recovered: false }]);
    expect(sub.position).toEqual({ offset: 0, epoch: seen.subscribed[0]!.position!.epoch });
    await publishAll(r.app.app, 'news', [{ n: 1 }, 'two', null]);
    await r.app.app.publish('news', new Uint8Array([4, 4]));
    await waitFor(() => seen.publications.length === 4, 'four publications');
    expect(seen.data).toEqual([{ n: 1 }, 'two', null, new Uint8Array([4, 4])]);
    expect(seen.publications[3]!.bytes).toEqual(new Uint8Array([4, 4]));
    expect(seen.publications.map((p) => [p.channel, p.offset, p.epoch])).toEqual(range(1, 4).map((o) => ['news', o, sub.position!.epoch]));
    expect(sub.position!.offset).toBe(4);
    expect(channels(client).names).toEqual(['news']);
    expect(seen.errors).toEqual([]);
  });

  it('works with MessagePack too', async () => {
    const r = await rig();
    const { client } = connect(r.url, { format: msgpackFormat });
    const seen = watch(subscribe(client, 'bin'));
    await waitFor(() => seen.subscribed.length === 1, 'subscribed');
    await r.app.app.publish('bin', { a: [1, 2] });
    await r.app.app.publish('bin', new Uint8Array([9]));
    await waitFor(() => seen.publications.length === 2, 'two');
    expect(seen.data).toEqual([{ a: [1, 2] }, new Uint8Array([9])]);
  });

  it('subscribes offline and when the session opens; a subscription made before the client connects works', async () => {
    const r = await rig();
    const client = createClient(r.url, { autoOpen: false, mode: lifeline() });
    cleanup.push(() => client.close());
    const seen = watch(subscribe(client, 'early'));
    // Not opened: nothing can answer, and nothing has connected.
    expect(seen.states).toEqual(['subscribing']);
    expect(r.proxy.stats.connections).toBe(0);
    client.open();
    await waitFor(() => seen.subscribed.length === 1, 'subscribed once open');
    await r.app.app.publish('early', 1);
    await waitFor(() => seen.publications.length === 1, 'the publication');
  });

  it('subscriptions survive close() and come back with open(), on the new session', async () => {
    const r = await rig();
    const { client } = connect(r.url);
    const seen = watch(subscribe(client, 'kept'));
    await waitFor(() => seen.subscribed.length === 1, 'subscribed');
    client.close();
    await waitFor(() => r.sessions[0]!.channels.length === 0, 'the session ended on the server');
    expect(seen.states.at(-1)).toBe('subscribing');
    client.open();
    await waitFor(() => seen.subscribed.length === 2, 'subscribed on the new session');
    expect(r.sessions).toHaveLength(2);
    expect(r.sessions[1]!.channels).toEqual(['kept']);
    await r.app.app.publish('kept', 'after');
    await waitFor(() => seen.publications.length === 1, 'delivered');
  });

  it('recovers what was published while the client was away: all of it after the resume, none twice', async () => {
    const r = await rig();
    const { client, away } = connect(r.url);
    const seen = watch(subscribe(client, 'feed'));
    await waitFor(() => seen.subscribed.length === 1, 'subscribed');
    await publishAll(r.app.app, 'feed', range(1, 5));
    await waitFor(() => seen.publications.length === 5, 'first five');
    for (let round = 0; round < 3; round++) {
      const release = await away(r.proxy);
      expect(seen.states.at(-1)).toBe('subscribing');
      await publishAll(r.app.app, 'feed', range(6 + round * 10, 15 + round * 10));
      release();
      await waitForStatus(client, 'open');
      expect(client.session!.resumed).toBe(true);
      await waitFor(() => seen.publications.length === 15 + round * 10, `round ${round}: everything`);
      // Live again.
    }
    await r.app.app.publish('feed', 36);
    await r.app.app.publish('feed', 37); // a sentinel: a second copy of anything came before it
    await waitFor(() => seen.data.includes(37), 'the live ones');
    expect(seen.data).toEqual(range(1, 37));
    expect(seen.offsets).toEqual(range(1, 37));
    expect(seen.subscribed.slice(1).every((s) => s.recovered)).toBe(true);
    expect(seen.resets).toEqual([]);
    expect(r.sessions).toHaveLength(1);
  });

  it('recovers the tail: a publication written into a dead link (no FIN, no gap after it) comes back with the re-subscription after the welcome', async () => {
    const r = await rig();
    const { client } = connect(r.url);
    const seen = watch(subscribe(client, 'tail'));
    await waitFor(() => seen.subscribed.length === 1, 'subscribed');
    await publishAll(r.app.app, 'tail', [1, 2, 3]);
    await waitFor(() => seen.publications.length === 3, 'three');
    r.proxy.blackholeLinks();
    await r.app.app.publish('tail', 4); // the server writes it into the dead link; it never arrives
    r.proxy.cutAll();
    expect(seen.publications).toHaveLength(3);
    await waitFor(() => seen.publications.length === 4, 'the lost tail, recovered');
    expect(client.session!.resumed).toBe(true);
    expect(seen.data).toEqual([1, 2, 3, 4]);
    expect(seen.subscribed.at(-1)).toMatchObject({ recovered: true });
  });

  it('reset "too-old": history too short to fill the gap; the subscription goes on from the channel’s position', async () => {
    const r = await rig((app) => app.channel('short', { history: { size: 3 } }));
    const { client, away } = connect(r.url);
    const seen = watch(subscribe(client, 'short'));
    await waitFor(() => seen.subscribed.length === 1, 'subscribed');
    await publishAll(r.app.app, 'short', [1, 2]);
    await waitFor(() => seen.publications.length === 2, 'two');
    const release = await away(r.proxy);
    await publishAll(r.app.app, 'short', range(3, 10));
    release();
    await waitFor(() => seen.resets.length === 1, 'a reset');
    const epoch = seen.subscribed[0]!.position!.epoch;
    expect(seen.resets[0]).toEqual({ reason: 'too-old', position: { offset: 10, epoch } });
    expect(seen.subscribed.at(-1)).toEqual({ position: { offset: 10, epoch }, recovered: false });
    expect(seen.data).toEqual([1, 2]); // nothing of 3..10 was delivered: the application resynchronises
    await r.app.app.publish('short', 11);
    await waitFor(() => seen.publications.length === 3, 'the next one');
    expect(seen.publications[2]).toMatchObject({ data: 11, offset: 11 });
  });

  it('reset "epoch" after a server restart (a new in-memory broker): the session and the channel start again', async () => {
    const r = await rig();
    const { client } = connect(r.url);
    const sub = subscribe(client, 'prices:btc');
    const seen = watch(sub);
    await waitFor(() => seen.subscribed.length === 1, 'subscribed');
    await publishAll(r.app.app, 'prices:btc', [100, 101]);
    await waitFor(() => seen.publications.length === 2, 'two');
    const oldEpoch = sub.position!.epoch;
    await r.app.stop();
    const app2 = await startApp((a) => a.ws('/s', { lifeline: true }, () => {}));
    cleanup.push(() => app2.stop());
    r.proxy.targetPort = app2.port;
    r.proxy.cutAll();
    await waitFor(() => seen.resets.length === 1, 'the channel reset', 10_000);
    expect(seen.resets[0]!.reason).toBe('epoch');
    expect(seen.resets[0]!.position.epoch).not.toBe(oldEpoch);
    expect(client.session!.resumed).toBe(false); // the session was reset too (unknown-session)
    await app2.app.publish('prices:btc', 200);
    await waitFor(() => seen.publications.length === 3, 'the first publication of the new epoch');
    expect(seen.publications[2]).toMatchObject({ data: 200, offset: 1, epoch: sub.position!.epoch });
  });

  it('a request the old session acknowledged but never answered fails with LL_SESSION_RESET at the reset, not at its timeout', async () => {
    // (What a $subscribe in flight across a server restart relies on, to be sent again at once.)
    const r = await rig(undefined, (socket) => socket.handle('never', () => new Promise(() => {})));
    const { client } = connect(r.url);
    await waitForStatus(client, 'open');
    const pending = client.request('never', null, { timeout: 20_000 });
    // Acknowledged: the answer to a later request follows (or carries) the acknowledgement.
    await client.request('barrier: nobody handles this', null, { timeout: 20_000 }).catch(() => {});
    await r.app.stop();
    const app2 = await startApp((a) => a.ws('/s', { lifeline: true }, () => {}));
    cleanup.push(() => app2.stop());
    r.proxy.targetPort = app2.port;
    r.proxy.cutAll();
    const started = Date.now();
    await expect(pending).rejects.toMatchObject({ code: 'LL_SESSION_RESET' });
    expect(Date.now() - started).toBeLessThan(15_000); // the reset, not the 20 s timeout
  });

  it('patterns deliver each matching publication once, with its channel, next to an exact subscription of one of them', async () => {
    const r = await rig();
    const { client } = connect(r.url);
    const wide = watch(subscribe(client, 'prices:*'));
    const btc = watch(subscribe(client, 'prices:btc'));
    const everything: [string, string][] = [];
    channels(client).on('publication', (p, via) => everything.push([via, p.channel]));
    await waitFor(() => wide.subscribed.length === 1 && btc.subscribed.length === 1, 'both subscribed');
    expect(wide.subscribed[0]).toEqual({ position: undefined, recovered: false });
    await r.app.app.publish('prices:btc', 1);
    await r.app.app.publish('prices:eth', 2);
    await r.app.app.publish('prices:btc:usd', 3); // two segments down: not matched
    await r.app.app.publish('other', 4);
    await r.app.app.publish('prices:btc', 5);
    await r.app.app.publish('prices:sol', 6); // a sentinel: anything wrongly delivered came before it
    await waitFor(() => wide.publications.some((p) => p.data === 6), 'deliveries, then the sentinel');
    expect(wide.publications.map((p) => [p.channel, p.data])).toEqual([
      ['prices:btc', 1],
      ['prices:eth', 2],
      ['prices:btc', 5],
      ['prices:sol', 6],
    ]);
    expect(btc.data).toEqual([1, 5]);
    expect(everything).toEqual([
      ['prices:btc', 'prices:btc'],
      ['prices:*', 'prices:btc'],
      ['prices:*', 'prices:eth'],
      ['prices:btc', 'prices:btc'],
      ['prices:*', 'prices:btc'],
      ['prices:*', 'prices:sol'],
    ]);
  });

  it('presence: members from the server’s list, then joins and leaves as they come', async () => {
    let n = 0;
    const r = await rig(
      (app) => app.channel('room', { presence: { interval: 30 } }),
      (socket) => {
        n++;
        socket.presence = { id: `user-${n}`, info: { name: `User ${n}` } };
      },
    );
    const a = connect(r.url).client;
    const subA = subscribe(a, 'room', { presence: true });
    const seenA = watch(subA);
    await waitFor(() => subA.members?.length === 1, 'A sees itself');
    expect(subA.members).toEqual([{ id: 'user-1', info: { name: 'User 1' } }]);

    const b = connect(r.url).client;
    const subB = subscribe(b, 'room', { presence: true });
    await waitFor(() => subA.members?.length === 2 && subB.members?.length === 2, 'both see both');
    // (The server coalesces changes: A's own join and B's may come in one pr.)
    expect(seenA.presence.flatMap((change) => change.join.map((m) => m.id))).toContain('user-2');
    expect(seenA.presence.at(-1)!.members).toHaveLength(2);
    expect(await subA.presence()).toEqual({ members: expect.arrayContaining([{ id: 'user-1', info: { name: 'User 1' } }, { id: 'user-2', info: { name: 'User 2' } }]), count: 2 });

    subB.unsubscribe();
    await waitFor(() => subA.members?.length === 1, 'A sees B leave');
    expect(seenA.presence.at(-1)).toMatchObject({ join: [], leave: ['user-2'] });
    expect(subA.members).toEqual([{ id: 'user-1', info: { name: 'User 1' } }]);
    // A channel without presence refuses the list.
    const plain = subscribe(a, 'plain');
    await expect(plain.presence()).rejects.toMatchObject({ code: 'LL_FORBIDDEN' });
    expect(plain.members).toBeUndefined();
  });

  it('a subscription the server makes ($subscribed) is announced and delivered; the server can end it ($unsubscribed)', async () => {
    const ready: Socket[] = [];
    const r = await rig(undefined, (socket) => {
      void socket.subscribe('user:42').then(() => ready.push(socket));
    });
    const { client, away } = connect(r.url);
    const made: Subscription[] = [];
    const all: unknown[] = [];
    channels(client).on('subscription', (sub) => made.push(sub));
    channels(client).on('publication', (p) => all.push(p.data));
    await waitFor(() => made.length === 1, 'the server-made subscription');
    const sub = made[0]!;
    expect(sub.channel).toBe('user:42');
    expect(sub.state).toBe('subscribed');
    const seen = watch(sub);
    await waitFor(() => ready.length === 1, 'server side ready');
    await publishAll(r.app.app, 'user:42', ['hi', 'there']);
    await waitFor(() => seen.publications.length === 2, 'its publications');
    expect(all).toEqual(['hi', 'there']);

    // It is the client's own now: recovered after a reconnect like any other.
    const release = await away(r.proxy);
    await r.app.app.publish('user:42', 'while away');
    release();
    await waitFor(() => seen.publications.length === 3, 'recovered');
    expect(seen.data).toEqual(['hi', 'there', 'while away']);

    expect(r.sessions[0]!.unsubscribe('user:42')).toBe(true);
    await waitFor(() => sub.state === 'unsubscribed', 'ended by the server');
    expect(channels(client).names).toEqual([]);
  });

  it('server-made subscriptions that arrived before the application first used channels are reported, and what they missed is recovered', async () => {
    const r = await rig(undefined, (socket) => void socket.subscribe('inbox:7'));
    const { client } = connect(r.url);
    await waitForStatus(client, 'open');
    await waitFor(() => r.sessions[0]?.channels.includes('inbox:7'), 'the server subscribed it');
    await r.app.app.publish('inbox:7', 'before anyone listened');
    // The publication reaches the client before the answer to a request made after it.
    await client.request('barrier: nobody handles this', null).catch(() => {});
    // The first use of channels on this client: the subscription is announced right after it.
    const made: ReturnType<typeof watch>[] = [];
    channels(client).on('subscription', (sub) => made.push(watch(sub)));
    expect(made).toEqual([]);
    await waitFor(() => made.length === 1, 'announced');
    expect(channels(client).names).toEqual(['inbox:7']);
    const seen = made[0]!;
    await waitFor(() => seen.publications.length === 1, 'the missed publication, recovered from history');
    expect(seen.data).toEqual(['before anyone listened']);
    expect(seen.subscribed[0]).toMatchObject({ recovered: true });
  });

  it('…also when the application subscribes to the same channel in the same turn, without since', async () => {
    const r = await rig(undefined, (socket) => void socket.subscribe('inbox:8'));
    const { client } = connect(r.url);
    await waitForStatus(client, 'open');
    await waitFor(() => r.sessions[0]?.channels.includes('inbox:8'), 'the server subscribed it');
    await publishAll(r.app.app, 'inbox:8', ['one', 'two']);
    await client.request('barrier: nobody handles this', null).catch(() => {}); // both arrived
    const mine = watch(subscribe(client, 'inbox:8'));
    await waitFor(() => mine.publications.length === 2, 'both, recovered from where the server subscription started');
    await r.app.app.publish('inbox:8', 'three');
    await r.app.app.publish('inbox:8', 'four'); // a sentinel: a second copy of anything came before it
    await waitFor(() => mine.data.includes('four'), 'and live');
    expect(mine.data).toEqual(['one', 'two', 'three', 'four']);
  });

  it('refusals end the subscription with an error event and are not retried: LL_FORBIDDEN, LL_TOO_MANY_CHANNELS', async () => {
    const r = await rig((app) => app.channel('secret:*', { authorize: () => false }), undefined, { maxChannels: 2 });
    const { client } = connect(r.url);
    const secret = watch(subscribe(client, 'secret:plans'));
    await waitFor(() => secret.errors.length === 1, 'refused');
    expect(secret.errors[0]).toMatchObject({ code: 'LL_FORBIDDEN' });
    expect(secret.states).toEqual(['subscribing', 'unsubscribed']);

    // One at a time: the server checks its limit before the subscription takes effect, so
    // requests in flight together can all pass it (reported to the server side).
    const one = watch(subscribe(client, 'a'));
    await waitFor(() => one.subscribed.length === 1, 'a');
    const two = watch(subscribe(client, 'b'));
    await waitFor(() => two.subscribed.length === 1, 'b');
    const three = watch(subscribe(client, 'c'));
    await waitFor(() => three.errors.length === 1, 'over the limit');
    expect(three.errors[0]).toMatchObject({ code: 'LL_TOO_MANY_CHANNELS' });
    expect([one.states.at(-1), two.states.at(-1), three.states.at(-1)]).toEqual(['subscribed', 'subscribed', 'unsubscribed']);
    expect(channels(client).names).toEqual(['a', 'b']);
    // Not retried after a reconnect either.
    r.proxy.cutAll();
    await waitFor(() => one.subscribed.length === 2, 'a re-subscribed after the reconnect');
    expect(three.errors).toHaveLength(1);
    expect(() => subscribe(client, 'no spaces')).toThrow(expect.objectContaining({ code: 'LL_INVALID_CHANNEL' }));
    expect(() => subscribe(client, '$reserved')).toThrow(expect.objectContaining({ code: 'LL_INVALID_CHANNEL' }));
    expect(() => subscribe(client, 'x', { since: { offset: -1, epoch: 'e' } })).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION' }));
  });

  it('publishes from the client where clientPublish allows it, and is refused elsewhere', async () => {
    const r = await rig((app) => app.channel('chat:*', { clientPublish: true }));
    const alice = connect(r.url).client;
    const bob = connect(r.url).client;
    const bobSees = watch(subscribe(bob, 'chat:lobby'));
    await waitFor(() => bobSees.subscribed.length === 1, 'bob subscribed');
    const position = await publish(alice, 'chat:lobby', { from: 'alice', text: 'hi' });
    expect(position).toEqual({ offset: 1, epoch: expect.any(String) });
    await waitFor(() => bobSees.publications.length === 1, 'bob gets it');
    expect(bobSees.publications[0]).toMatchObject({ data: { from: 'alice', text: 'hi' }, offset: 1, epoch: position.epoch });
    const viaSub = await subscribe(alice, 'chat:lobby').publish('again');
    expect(viaSub.offset).toBe(2);
    await expect(publish(alice, 'news', 'x')).rejects.toMatchObject({ code: 'LL_FORBIDDEN' });
    await expect(publish(alice, 'chat:*', 'x')).rejects.toMatchObject({ code: 'LL_INVALID_CHANNEL' });
    await expect(publish(alice, 'chat:lobby', new Uint8Array([1]))).rejects.toMatchObject({ code: 'LL_INVALID_OPTION' });
  });

  it('several holds on one channel share one server subscription; the last unsubscribe() ends it with $unsubscribe', async () => {
    const r = await rig();
    const { client } = connect(r.url);
    const first = subscribe(client, 'shared');
    const second = subscribe(client, 'shared');
    const one = watch(first);
    const two = watch(second);
    await waitFor(() => one.subscribed.length === 1 && two.subscribed.length === 1, 'both subscribed');
    expect(r.sessions[0]!.channels).toEqual(['shared']);
    await r.app.app.publish('shared', 1);
    await waitFor(() => one.publications.length === 1 && two.publications.length === 1, 'both got it');
    first.unsubscribe();
    first.unsubscribe(); // idempotent
    expect(first.state).toBe('unsubscribed');
    expect(one.states.at(-1)).toBe('unsubscribed');
    await r.app.app.publish('shared', 2);
    await waitFor(() => two.publications.length === 2, 'the other still gets them');
    expect(one.publications).toHaveLength(1);
    expect(r.sessions[0]!.channels).toEqual(['shared']);
    second.unsubscribe();
    await waitFor(() => r.sessions[0]!.channels.length === 0, 'the server subscription gone');
    expect(channels(client).names).toEqual([]);
  });

  it('a later subscribe({ since }) resumes a saved position; names starting with $ cannot be handled by the application', async () => {
    const r = await rig();
    const { client } = connect(r.url);
    const first = subscribe(client, 'log');
    await waitFor(() => first.state === 'subscribed', 'subscribed');
    await publishAll(r.app.app, 'log', [1, 2, 3]);
    await waitFor(() => first.position?.offset === 3, 'three');
    const saved = { offset: 1, epoch: first.position!.epoch };
    first.unsubscribe();
    await waitFor(() => r.sessions[0]!.channels.length === 0, 'unsubscribed on the server');
    const again = watch(subscribe(client, 'log', { since: saved }));
    await waitFor(() => again.publications.length === 2, 'the two after the saved position');
    expect(again.data).toEqual([2, 3]);
    expect(again.subscribed[0]).toMatchObject({ recovered: true });
    expect(() => client.handle('$subscribed', () => null)).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION' }));
  });

  it('channels are their own entry point: neither the raw nor the Lifeline-mode bundle contains them', async () => {
    const [raw, withMode, withChannels] = await Promise.all([measureBundleSize(), measureLifelineBundleSize(), measureChannelsBundleSize()]);
    console.log(`with channels: ${withChannels.gzipBytes} B min+gz (Lifeline mode alone: ${withMode.gzipBytes} B)`);
    for (const marker of ['"$publish"', '"$presence"', 'LL_TOO_MANY_CHANNELS']) {
      expect(raw.code).not.toContain(marker);
      expect(withMode.code).not.toContain(marker);
      expect(withChannels.code).toContain(marker);
    }
  });

  it('channels() needs Lifeline mode', () => {
    const raw = createClient('ws://127.0.0.1:1', { autoOpen: false });
    expect(() => channels(raw)).toThrow(expect.objectContaining({ code: 'LL_NOT_LIFELINE' }));
    expect(() => subscribe(raw, 'x')).toThrow(expect.objectContaining({ code: 'LL_NOT_LIFELINE' }));
  });
});

// ---- a scripted server: exact wire sequences ------------------------------------------

interface Scripted {
  url: string;
  /** Requests the client sent, in order. */
  requests: { id: number; n: string; d: unknown }[];
  /** Sends envelopes as one TCP write (so the client reads them in one chunk). */
  send(...envelopes: object[]): void;
  /** Answers request `id` with `d` (a sequenced `r`), followed in the same chunk by `then`. */
  answer(id: number, d: unknown, ...then: object[]): void;
  /**
   * Pings the client and resolves on its pong: the client handled everything sent before
   * the ping first, so whatever it sent in answer to that came before the pong.
   */
  barrier(): Promise<void>;
}

/** A Lifeline peer written out by hand: welcome, then whatever the test sends. */
async function scripted(): Promise<Scripted> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'lifeline.v1' });
  cleanup.push(() => new Promise((resolve) => wss.close(resolve)));
  await new Promise((resolve) => wss.once('listening', resolve));
  let ws: WebSocket | undefined;
  let s = 0;
  const requests: Scripted['requests'] = [];
  const pongs: number[] = [];
  wss.on('connection', (socket) => {
    ws = socket;
    socket.on('message', (data) => {
      const e = JSON.parse(String(data)) as { t: string; id: number; n: string; d: unknown; ts: number };
      if (e.t === 'hello') socket.send(JSON.stringify({ t: 'welcome', sid: 'sid', tok: 'tok', rx: 0, resumed: false, hb: 25_000 }));
      if (e.t === 'q') requests.push({ id: e.id, n: e.n, d: e.d });
      if (e.t === 'pong') pongs.push(e.ts);
    });
  });
  let pings = 0;
  const send = (...envelopes: object[]) => {
    const raw = (ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    raw.cork();
    for (const e of envelopes) ws!.send(JSON.stringify(e));
    process.nextTick(() => raw.uncork());
  };
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    requests,
    send,
    answer: (id, d, ...then) => send({ t: 'r', s: ++s, id, d }, ...then),
    async barrier() {
      const ts = ++pings;
      send({ t: 'ping', ts });
      await waitFor(() => pongs.includes(ts), 'the pong to the barrier ping');
    },
  };
}

const p = (o: number, ep = 'E1', d: unknown = o) => ({ t: 'p', ch: 'c', o, ep, d });

describe('channels on the wire (scripted server)', () => {
  it('drops duplicates, stops at a gap, re-subscribes once with since, and the recovered publications fill it in order', async () => {
    const server = await scripted();
    const client: LifelineClient = createClient(server.url, { mode: lifeline() });
    cleanup.push(() => client.close());
    const seen = watch(subscribe(client, 'c'));
    await waitFor(() => server.requests.length === 1, '$subscribe');
    expect(server.requests[0]).toMatchObject({ n: '$subscribe', d: { ch: 'c' } });
    // The answer and the first publications in one chunk: the answer is applied first.
    server.answer(server.requests[0]!.id, { ch: 'c', o: 0, ep: 'E1' }, p(1), p(2), p(2), p(1));
    await waitFor(() => seen.publications.length === 2, 'one and two');
    // A gap: 3 is missing. Nothing after it is delivered, and one re-subscription goes out.
    server.send(p(4), p(5), p(6));
    await waitFor(() => server.requests.length === 2, 'the re-subscription');
    await server.barrier();
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]).toMatchObject({ n: '$subscribe', d: { ch: 'c', since: { o: 2, ep: 'E1' } } });
    expect(seen.offsets).toEqual([1, 2]);
    expect(seen.states.at(-1)).toBe('subscribing');
    // Before its answer more publications arrive, with another gap: still no second request.
    server.send(p(8));
    await server.barrier();
    expect(server.requests).toHaveLength(2);
    server.answer(server.requests[1]!.id, { ch: 'c', o: 8, ep: 'E1', recovered: true }, p(3), p(4), p(5), p(6), p(7), p(8), p(9));
    await waitFor(() => seen.publications.length === 9, 'filled');
    expect(seen.offsets).toEqual(range(1, 9));
    expect(seen.subscribed.at(-1)).toEqual({ position: { offset: 8, epoch: 'E1' }, recovered: true });
    expect(seen.states.at(-1)).toBe('subscribed');
  });

  it('another epoch mid-stream: re-subscribes from the last position, reports the reset, and goes on in the new epoch', async () => {
    const server = await scripted();
    const client = createClient(server.url, { mode: lifeline() });
    cleanup.push(() => client.close());
    const sub = subscribe(client, 'c');
    const seen = watch(sub);
    await waitFor(() => server.requests.length === 1, '$subscribe');
    server.answer(server.requests[0]!.id, { ch: 'c', o: 5, ep: 'E1' }, p(6), p(7));
    await waitFor(() => seen.publications.length === 2, 'six and seven');
    server.send(p(1, 'E2'));
    await waitFor(() => server.requests.length === 2, 'the re-subscription');
    expect(server.requests[1]!.d).toEqual({ ch: 'c', since: { o: 7, ep: 'E1' } });
    server.answer(server.requests[1]!.id, { ch: 'c', o: 1, ep: 'E2', recovered: false, reset: 'epoch' }, p(1, 'E2'), p(2, 'E2'));
    await waitFor(() => seen.resets.length === 1, 'the reset');
    expect(seen.resets[0]).toEqual({ reason: 'epoch', position: { offset: 1, epoch: 'E2' } });
    await waitFor(() => seen.publications.length === 3, 'two of E2');
    // 1 of E2 is the position the reset starts from: only 2 is new.
    expect(seen.publications.map((x) => [x.offset, x.epoch])).toEqual([
      [6, 'E1'],
      [7, 'E1'],
      [2, 'E2'],
    ]);
    expect(sub.position).toEqual({ offset: 2, epoch: 'E2' });
  });

  it('a $subscribed from the server starts delivery at its position; publications of unknown channels are ignored', async () => {
    const server = await scripted();
    const client = createClient(server.url, { mode: lifeline() });
    cleanup.push(() => client.close());
    const made: Subscription[] = [];
    channels(client).on('subscription', (sub) => made.push(sub));
    await waitForStatus(client, 'open');
    server.send({ t: 'p', ch: 'nobody', o: 1, ep: 'E1', d: 'ignored' }, { t: 'q', s: 1, id: 1, n: '$subscribed', d: { ch: 'c', o: 3, ep: 'E1' } }, p(4));
    await waitFor(() => made.length === 1, 'announced');
    const seen = watch(made[0]!);
    server.send(p(5));
    await waitFor(() => seen.publications.length === 1, 'five');
    expect(made[0]!.position).toEqual({ offset: 5, epoch: 'E1' });
    // (4 came in the same chunk as the request, before this test's listener: it was delivered to the client-wide event.)
    expect(server.requests).toEqual([]); // a fresh session: no re-subscription needed
  });
});
