// @vitest-environment happy-dom
import { afterEach, expect, it } from 'vitest';
import { mount } from '@vue/test-utils';
import { defineComponent, h, ref, watch } from 'vue';
import { createClient, type LifelineClient } from '@lifeline/client';
import { channels } from '@lifeline/client/channels';
import { lifeline } from '@lifeline/client/lifeline';
import { createLifeline, useChannel, useLifeline, type UseChannelReturn, type UseLifelineReturn } from '@lifeline/vue';
import { waitFor } from '../../../test/support/wait.js';
import { describePending, meterListeners, meterSubscriptions, meterTimers } from './meters.js';
import { mountWith } from './mount.js';
import { serverPool } from './support.js';

const servers = serverPool();
const passed: LifelineClient[] = [];
afterEach(async () => {
  for (const client of passed.splice(0)) client.close();
  await servers.stopAll();
});

const MOUNTS = 1000;
const PATHS = 5;
const VUE = /\/packages\/vue\/(src|dist)\//;
const CLIENT = /\/packages\/client\/(src|dist)\//;
/**
 * Resolves as soon as a reactive condition holds: a watcher, not polling, because a thousand
 * rounds of waiting for a poll's next tick add up to many seconds.
 */
function until(condition: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out after 20000 ms waiting for ${what}`));
    }, 20_000);
    const stop = watch(
      condition,
      (holds) => {
        if (!holds) return;
        clearTimeout(timer);
        queueMicrotask(() => stop());
        resolve();
      },
      { flush: 'sync', immediate: true },
    );
  });
}

it(`${MOUNTS} mounts and unmounts leave no timer, client listener or window listener behind`, async () => {
  const server = await servers.start();
  // A port nobody listens on: attempts fail at once and the client waits to retry.
  const downServer = await servers.start();
  const downUrl = downServer.url();
  await downServer.stop();
  // retry-slow waits in [maxDelay/2, maxDelay): no retry comes while the rounds run, however
  // slowly a loaded machine runs them (the test gives up long before 5 minutes).
  const slowRetry = { reconnect: { maxDelay: 600_000 }, closePolicy: () => 'retry-slow' as const };

  const openClient = createClient(server.url());
  const waitingClient = createClient(downUrl, slowRetry);
  passed.push(openClient, waitingClient);
  await waitFor(() => openClient.state.status === 'open', 'the passed-in client to open');
  await waitFor(() => waitingClient.state.status === 'reconnecting', 'the other passed-in client to wait for a retry');

  const timers = meterTimers();
  const listeners = meterListeners({ window, document });
  const subscriptions = [meterSubscriptions(openClient), meterSubscriptions(waitingClient)];
  try {
    // Each round takes one of five paths, so that every kind of resource is live at unmount:
    // listeners on a client passed in (open, or waiting to retry with the countdown ticking);
    // an owned open socket and the client's window listeners; an owned client waiting to
    // retry, with its retry timer and the countdown's tick; the plugin's shared client,
    // closed by the app's unmount.
    for (let round = 0; round < MOUNTS; round++) {
      const path = round % PATHS;
      if (path === 0) {
        const { wrapper, lifeline } = mountWith(() => useLifeline(openClient));
        expect(lifeline.status.value).toBe('open');
        wrapper.unmount();
      } else if (path === 1) {
        const { wrapper, lifeline } = mountWith(() => useLifeline(waitingClient));
        expect(lifeline.countdown.value).toBeGreaterThan(0);
        wrapper.unmount();
      } else if (path === 2) {
        const { wrapper, lifeline } = mountWith(() => useLifeline(server.url()));
        await until(() => lifeline.status.value === 'open', `round ${round} open`);
        lifeline.send('ping');
        await until(() => lifeline.data.value === 'ping', `round ${round} echo`);
        wrapper.unmount();
      } else if (path === 3) {
        const { wrapper, lifeline } = mountWith(() => useLifeline(downUrl, slowRetry));
        await until(() => lifeline.countdown.value !== undefined, `round ${round} countdown`);
        wrapper.unmount();
      } else {
        const used: UseLifelineReturn[] = [];
        const User = defineComponent(() => {
          used.push(useLifeline());
          return () => h('i');
        });
        const wrapper = mount(
          defineComponent(() => () => h('div', [h(User), h(User)])),
          { global: { plugins: [createLifeline({ url: server.url() })] } },
        );
        await until(() => used.every((lifeline) => lifeline.status.value === 'open'), `round ${round} shared open`);
        wrapper.unmount();
      }
    }
    await waitFor(() => server.liveSockets === 1, 'the server to see every owned socket close', 10_000);
    expect(timers.pendingFrom(VUE), describePending(timers.pendingFrom(VUE))).toEqual([]);
    // (waitingClient's own retry timer predates the meter.)
    expect(timers.pendingFrom(CLIENT), describePending(timers.pendingFrom(CLIENT))).toEqual([]);
    expect(listeners.pending(), describePending(listeners.pending())).toEqual([]);
    for (const meter of subscriptions) expect(meter.pending(), describePending(meter.pending())).toEqual([]);
    expect([openClient.state.status, waitingClient.state.status]).toEqual(['open', 'reconnecting']);
    expect(server.tcpConnections).toBe(1 + (MOUNTS / PATHS) * 2);
  } finally {
    timers.stop();
    listeners.stop();
    for (const meter of subscriptions) meter.stop();
  }
}, 400_000);

it(`${MOUNTS} mounts and unmounts of useChannel leave no subscription, timer or listener behind`, async () => {
  const server = await servers.start();
  server.app!.channel('leak:c', { presence: { interval: 20 } });
  // No liveness timer of its own (it would be re-armed every server ping interval, 25 s, and
  // count as pending whenever a loaded machine takes longer than that over the rounds).
  const passedClient = createClient(server.url('/s'), { mode: lifeline(), heartbeat: false });
  passed.push(passedClient);
  await waitFor(() => passedClient.state.status === 'open', 'the passed-in client to open');
  const serverChannels = () => server.sockets.flatMap((socket) => socket.channels);

  const timers = meterTimers();
  const listeners = meterListeners({ window, document });
  const subscriptions = meterSubscriptions(passedClient);
  const CHANNEL_PATHS = 3;
  let sharedRounds = 0;
  try {
    // Three paths: a client passed in, with a publication delivered each round; a name that
    // changes while mounted (one channel left, another joined); the plugin's shared client in
    // Lifeline mode with presence, closed by the app's unmount.
    for (let round = 0; round < MOUNTS; round++) {
      const path = round % CHANNEL_PATHS;
      if (path === 0) {
        const { wrapper, lifeline: channel } = mountWith(() => useChannel('leak:a', { client: passedClient }));
        await until(() => channel.status.value === 'subscribed', `round ${round} subscribed`);
        void server.app!.publish('leak:a', round);
        await until(() => channel.data.value === round, `round ${round} publication`);
        wrapper.unmount();
      } else if (path === 1) {
        const name = ref('leak:b1');
        const { wrapper, lifeline: channel } = mountWith(() => useChannel(name, { client: passedClient }));
        await until(() => channel.status.value === 'subscribed', `round ${round} first name`);
        name.value = 'leak:b2';
        await until(() => channel.status.value === 'subscribed' && channel.subscription.value?.channel === 'leak:b2', `round ${round} second name`);
        wrapper.unmount();
      } else {
        sharedRounds++;
        let used: UseChannelReturn | undefined;
        const User = defineComponent(() => {
          used = useChannel('leak:c', { presence: true });
          return () => h('i');
        });
        const wrapper = mount(User, { global: { plugins: [createLifeline({ url: server.url('/s'), mode: lifeline() })] } });
        await until(() => used!.members.value?.length === 1, `round ${round} present`);
        wrapper.unmount();
      }
    }
    // The last $unsubscribe goes out at the last unmount; its answer clears the request's timer.
    await waitFor(() => serverChannels().length === 0 && server.liveSockets === 1, 'the server to hold no subscription and one socket', 10_000);
    // (If some stay, the expectation below names them, with the line that made each.)
    await waitFor(() => timers.pendingFrom(CLIENT).length === 0, 'the last answers', 10_000).catch(() => {});
    expect(channels(passedClient).names).toEqual([]);
    expect(timers.pendingFrom(VUE), describePending(timers.pendingFrom(VUE))).toEqual([]);
    expect(timers.pendingFrom(CLIENT), describePending(timers.pendingFrom(CLIENT))).toEqual([]);
    expect(listeners.pending(), describePending(listeners.pending())).toEqual([]);
    expect(subscriptions.pending(), describePending(subscriptions.pending())).toEqual([]);
    expect(passedClient.state.status).toBe('open');
    expect(server.tcpConnections).toBe(1 + sharedRounds);
  } finally {
    timers.stop();
    listeners.stop();
    subscriptions.stop();
  }
}, 400_000);

it('the subscription meter passes everything through: what subscribes through it hears the client, and stops hearing it when unsubscribed', async () => {
  const server = await servers.start();
  const client = createClient(server.url());
  passed.push(client);
  const meter = meterSubscriptions(client);
  try {
    const heard: unknown[] = [];
    const off = client.on('message', (m) => heard.push(m.data));
    expect(meter.pending()).toHaveLength(1);
    await waitFor(() => client.state.status === 'open', 'the client to open');
    client.send('one');
    await waitFor(() => heard.length === 1, 'the echo through the metered subscription');
    off();
    expect(meter.pending()).toEqual([]);
    // Unsubscribed for real: a second echo reaches a listener added now, not the removed one.
    const after: unknown[] = [];
    client.on('message', (m) => after.push(m.data));
    client.send('two');
    await waitFor(() => after.length === 1, 'the second echo');
    expect(heard).toEqual(['one']);
  } finally {
    meter.stop();
  }
});
