// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { mount } from '@vue/test-utils';
import { createSSRApp, defineComponent, effectScope, h, nextTick, ref, watch } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { createClient, type LifelineClient } from '@lifeline/client';
import { channels } from '@lifeline/client/channels';
import { lifeline } from '@lifeline/client/lifeline';
import { createLifeline, useChannel, type UseChannelReturn } from '@lifeline/vue';
import { waitFor } from '../../../test/support/wait.js';
import { mountWith } from './mount.js';
import { serverPool, type TestServer } from './support.js';

/** useChannel against a real @lifeline/server (its `/s` route is in Lifeline mode), in happy-dom. */

const servers = serverPool();
const clients: LifelineClient<any, any>[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await servers.stopAll();
});

function lifelineClient(server: TestServer): LifelineClient {
  const client = createClient(server.url('/s'), { mode: lifeline(), reconnect: { initialDelay: 20, maxDelay: 50 } });
  clients.push(client);
  return client;
}

/** The channels the server holds for its sessions, all together. */
const serverChannels = (server: TestServer) => server.sockets.flatMap((socket) => socket.channels);

describe('useChannel(name, { client })', () => {
  it('follows the subscription: status, then each publication in data, history (bounded) and position', async () => {
    const server = await servers.start();
    const client = lifelineClient(server);
    const { wrapper, lifeline: channel } = mountWith(() => useChannel<number>('ticks', { client, historySize: 3 }));
    expect(channel.status.value).toBe('subscribing');
    await waitFor(() => channel.status.value === 'subscribed', 'subscribed');
    expect(channel.position.value).toEqual({ offset: 0, epoch: expect.any(String) });
    await nextTick();
    expect(wrapper.text()).toBe('subscribed');
    let dataChanges = 0;
    watch(channel.data, () => dataChanges++, { flush: 'sync' });
    for (const n of [1, 2, 2, 3, 4]) await server.app!.publish('ticks', n);
    await waitFor(() => dataChanges === 5, 'five publications, the repeated one included');
    expect(channel.data.value).toBe(4);
    expect(channel.history.value.map((p) => [p.data, p.offset])).toEqual([
      [2, 3],
      [3, 4],
      [4, 5],
    ]);
    expect(channel.position.value!.offset).toBe(5);
    expect(channel.subscription.value?.channel).toBe('ticks');
    expect(channel.members.value).toBeUndefined();
    wrapper.unmount();
    await waitFor(() => serverChannels(server).length === 0, 'unsubscribed on the server');
    expect(channel.status.value).toBe('unsubscribed');
    expect(client.state.status).toBe('open'); // not its client: left open
  });

  it('a ref or getter as the name: a new name unsubscribes the old channel and starts the refs again', async () => {
    const server = await servers.start();
    const client = lifelineClient(server);
    const room = ref('room:1');
    const { wrapper, lifeline: channel } = mountWith(() => useChannel(room, { client }));
    await waitFor(() => channel.status.value === 'subscribed', 'room 1');
    await server.app!.publish('room:1', 'in one');
    await waitFor(() => channel.data.value === 'in one', 'room 1 data');
    room.value = 'room:2';
    await waitFor(() => channel.status.value === 'subscribed' && channel.subscription.value?.channel === 'room:2', 'room 2');
    expect([channel.data.value, channel.history.value]).toEqual([undefined, []]);
    await waitFor(() => serverChannels(server).join() === 'room:2', 'the server moved too');
    await server.app!.publish('room:1', 'old room');
    await server.app!.publish('room:2', 'in two');
    await waitFor(() => channel.data.value === 'in two', 'room 2 data');
    expect(channel.history.value.map((p) => p.data)).toEqual(['in two']);
    wrapper.unmount();
  });

  it('presence: members follow joins and leaves', async () => {
    let n = 0;
    const server = await servers.start((socket) => {
      socket.presence = { id: `u${++n}` };
    });
    server.app!.channel('lobby', { presence: { interval: 20 } });
    const a = mountWith(() => useChannel('lobby', { client: lifelineClient(server), presence: true }));
    await waitFor(() => a.lifeline.members.value?.length === 1, 'alone');
    const b = mountWith(() => useChannel('lobby', { client: lifelineClient(server), presence: true }));
    await waitFor(() => a.lifeline.members.value?.length === 2, 'two');
    expect(a.lifeline.members.value!.map((m) => m.id).sort()).toEqual(['u1', 'u2']);
    b.wrapper.unmount();
    await waitFor(() => a.lifeline.members.value?.length === 1, 'one left');
    a.wrapper.unmount();
  });

  it('lastReset: after a server restart the channel’s epoch changed; the refs go on in the new one', async () => {
    const server = await servers.start();
    const { wrapper, lifeline: channel } = mountWith(() => useChannel('feed', { client: lifelineClient(server) }));
    await waitFor(() => channel.status.value === 'subscribed', 'subscribed');
    await server.app!.publish('feed', 'before');
    await waitFor(() => channel.data.value === 'before', 'before');
    const oldEpoch = channel.position.value!.epoch;
    const { port } = server;
    await server.stop();
    await server.start(port);
    await waitFor(() => channel.lastReset.value !== undefined, 'the reset', 10_000);
    expect(channel.lastReset.value!.reason).toBe('epoch');
    await waitFor(() => channel.status.value === 'subscribed', 'subscribed again');
    expect(channel.position.value!.epoch).not.toBe(oldEpoch);
    await server.app!.publish('feed', 'after');
    await waitFor(() => channel.data.value === 'after', 'after');
    expect(channel.history.value.map((p) => [p.data, p.offset])).toEqual([
      ['before', 1],
      ['after', 1],
    ]);
    wrapper.unmount();
  });

  it('a refusal shows in error and status; publish() resolves where the server allows it and rejects where not', async () => {
    const server = await servers.start();
    server.app!.channel('private:*', { authorize: () => false });
    server.app!.channel('chat', { clientPublish: true });
    const client = lifelineClient(server);
    const refused = mountWith(() => useChannel('private:x', { client }));
    await waitFor(() => refused.lifeline.error.value !== undefined, 'the refusal');
    expect(refused.lifeline.error.value).toMatchObject({ code: 'LL_FORBIDDEN' });
    expect(refused.lifeline.status.value).toBe('unsubscribed');

    const chat = mountWith(() => useChannel('chat', { client }));
    await waitFor(() => chat.lifeline.status.value === 'subscribed', 'chat');
    await expect(chat.lifeline.publish({ text: 'hi' })).resolves.toEqual({ offset: 1, epoch: expect.any(String) });
    await waitFor(() => chat.lifeline.data.value !== undefined, 'its own publication');
    expect(chat.lifeline.data.value).toEqual({ text: 'hi' });
    await expect(refused.lifeline.publish('x')).rejects.toMatchObject({ code: 'LL_FORBIDDEN' });
    refused.wrapper.unmount();
    chat.wrapper.unmount();
  });

  it('stops with an effectScope, and unsubscribe() ends it at once', async () => {
    const server = await servers.start();
    const client = lifelineClient(server);
    const scope = effectScope();
    const channel = scope.run(() => useChannel('scoped', { client }))!;
    await waitFor(() => channel.status.value === 'subscribed', 'subscribed');
    scope.stop();
    await waitFor(() => serverChannels(server).length === 0, 'unsubscribed on the server');
    expect(channel.status.value).toBe('unsubscribed');

    const loose = useChannel('loose', { client }); // outside any scope: the caller ends it
    await waitFor(() => loose.status.value === 'subscribed', 'subscribed');
    loose.unsubscribe();
    expect([loose.status.value, loose.subscription.value]).toEqual(['unsubscribed', undefined]);
    await waitFor(() => serverChannels(server).length === 0, 'unsubscribed on the server');
    expect(channels(client).names).toEqual([]);
  });

  it('needs a Lifeline-mode client: a raw one throws LL_NOT_LIFELINE; no client and no plugin throws LL_INVALID_OPTION; a bad historySize too', async () => {
    const server = await servers.start();
    const raw = createClient(server.url(), { autoOpen: false });
    clients.push(raw);
    expect(() => mountWith(() => useChannel('x', { client: raw }))).toThrow(expect.objectContaining({ code: 'LL_NOT_LIFELINE' }));
    expect(() => useChannel('x')).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION', message: expect.stringMatching(/createLifeline/) }));
    expect(() => useChannel('x', { client: lifelineClient(server), historySize: -1 })).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION' }));
  });
});

describe('useChannel(name) on the shared connection', () => {
  it('components share the app’s Lifeline-mode client and one server subscription per channel', async () => {
    const server = await servers.start();
    const plugin = createLifeline({ url: server.url('/s'), mode: lifeline() });
    const used: UseChannelReturn<string>[] = [];
    const show = ref(true);
    const User = defineComponent(() => {
      used.push(useChannel<string>('news'));
      return () => h('i');
    });
    const wrapper = mount(
      defineComponent(() => () => h('div', [h(User), show.value ? h(User) : null])),
      { global: { plugins: [plugin] } },
    );
    await waitFor(() => used.every((c) => c.status.value === 'subscribed'), 'both subscribed');
    expect(plugin.client!.state.status).toBe('open');
    expect(serverChannels(server)).toEqual(['news']);
    await server.app!.publish('news', 'extra');
    await waitFor(() => used.every((c) => c.data.value === 'extra'), 'both got it');
    show.value = false; // one of them unmounts: the other keeps the subscription
    await nextTick();
    expect(used[1]!.status.value).toBe('unsubscribed');
    await server.app!.publish('news', 'more');
    await waitFor(() => used[0]!.data.value === 'more', 'the other still gets them');
    expect(serverChannels(server)).toEqual(['news']);
    wrapper.unmount();
    await waitFor(() => server.liveSockets === 0, 'the app’s connection closed with the app');
  });

  it('server rendering subscribes to nothing and connects nothing; the refs are inert', async () => {
    const server = await servers.start();
    let channel: UseChannelReturn | undefined;
    const Probe = defineComponent(() => {
      channel = useChannel('ssr');
      return () => h('p', channel!.status.value);
    });
    const plugin = createLifeline({ url: server.url('/s'), mode: lifeline() });
    const html = await renderToString(createSSRApp(Probe).use(plugin));
    expect(html).toBe('<p>unsubscribed</p>');
    const c = channel!;
    expect([c.subscription.value, c.data.value, c.history.value, c.position.value, c.lastReset.value, c.members.value, c.error.value]).toEqual([
      undefined,
      undefined,
      [],
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    await expect(c.publish('x')).rejects.toMatchObject({ code: 'LL_NO_WEBSOCKET' });
    c.unsubscribe();
    expect(await server.connectionsBeforeProbe()).toBe(0);
    expect(plugin.client!.state.status).toBe('idle');
  });
});
