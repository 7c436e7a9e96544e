// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { effectScope, nextTick, watch } from 'vue';
import { createClient, type LifelineClient } from '@lifeline/client';
import { useLifeline } from '@lifeline/vue';
import { sleep, timerLateness, waitFor } from '../../../test/support/wait.js';
import { describePending, meterSubscriptions, meterTimers } from './meters.js';
import { mountWith } from './mount.js';
import { serverPool } from './support.js';

/** useLifeline against a real @lifeline/server, in happy-dom with its WebSocket. */

const servers = serverPool();
/** Code of @lifeline/vue itself (built, or its sources through source maps), not these tests. */
const VUE_PACKAGE = /\/packages\/vue\/(src|dist)\//;
const clients: LifelineClient<any, any>[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await servers.stopAll();
});

describe('useLifeline(url)', () => {
  it('follows the connection: connecting, then open, and the component renders it', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline(server.url()));
    const seen = [lifeline.status.value];
    watch(lifeline.status, (status) => seen.push(status), { flush: 'sync' });
    expect(lifeline.client?.url).toBe(server.url());
    await waitFor(() => lifeline.status.value === 'open', 'open');
    expect(seen).toEqual(['connecting', 'open']);
    expect(lifeline.state.value.status).toBe('open');
    expect(lifeline.attempt.value).toBe(1);
    await nextTick();
    expect(wrapper.text()).toBe('open');
    wrapper.unmount();
  });

  it('messages: data is the last one, history keeps historySize, a repeated value still triggers', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline<string, string>(server.url(), { historySize: 3 }));
    let dataChanges = 0;
    watch(lifeline.data, () => dataChanges++, { flush: 'sync' });
    for (const text of ['a', 'b', 'b', 'c', 'd']) expect(lifeline.send(text)).toBe(true);
    await waitFor(() => dataChanges === 5, 'five echoes');
    expect(lifeline.data.value).toBe('d');
    expect(lifeline.history.value.map((m) => m.data)).toEqual(['b', 'c', 'd']);
    expect(lifeline.history.value.every((m) => typeof m.receivedAt === 'number')).toBe(true);
    wrapper.unmount();
  });

  it('a message the codec cannot decode goes to history with its error and leaves data alone', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline<unknown, unknown>(server.url(), { codec: 'json' }));
    await waitFor(() => lifeline.status.value === 'open', 'open');
    lifeline.send({ ok: 1 });
    await waitFor(() => lifeline.history.value.length === 1, 'the JSON echo');
    server.broadcast('not json');
    await waitFor(() => lifeline.history.value.length === 2, 'the broken message');
    expect(lifeline.data.value).toEqual({ ok: 1 });
    expect(lifeline.history.value[1]).toMatchObject({ text: 'not json', data: undefined, error: { code: 'LL_INVALID_JSON' } });
    expect(lifeline.error.value).toBeUndefined();
    wrapper.unmount();
  });

  it('historySize 0 keeps no history; a bad historySize throws LL_INVALID_OPTION', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline(server.url(), { historySize: 0 }));
    lifeline.send('x');
    await waitFor(() => lifeline.data.value === 'x', 'the echo');
    expect(lifeline.history.value).toEqual([]);
    wrapper.unmount();
    for (const historySize of [-1, 1.5, Number.NaN]) {
      expect(() => useLifeline(server.url(), { historySize })).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION' }));
    }
  });

  it('send while not open queues (queued counts it), open() sends it', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline(server.url(), { autoOpen: false }));
    expect(lifeline.status.value).toBe('idle');
    expect(lifeline.send('early')).toBe(true);
    expect(lifeline.queued.value).toBe(1);
    lifeline.open();
    await waitFor(() => lifeline.data.value === 'early', 'the queued message to come back');
    expect(lifeline.queued.value).toBe(0);
    wrapper.unmount();
  });

  it('unmounting closes the client it made: the server sees the socket go', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline(server.url()));
    await waitFor(() => lifeline.status.value === 'open', 'open');
    expect(server.liveSockets).toBe(1);
    wrapper.unmount();
    expect(lifeline.status.value).toBe('closed');
    expect(lifeline.lastClose.value).toMatchObject({ code: 1000, action: 'stop' });
    await waitFor(() => server.liveSockets === 0, 'the server to see the close');
  });

  it('close() and open() act on the connection', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline(server.url()));
    await waitFor(() => lifeline.status.value === 'open', 'open');
    lifeline.close(4000, 'done here');
    expect(lifeline.status.value).toBe('closed');
    expect(lifeline.lastClose.value).toMatchObject({ code: 4000, reason: 'done here' });
    lifeline.open();
    await waitFor(() => lifeline.status.value === 'open', 'open again');
    expect(server.tcpConnections).toBe(2);
    wrapper.unmount();
  });

  it('stops with an effectScope, outside any component', async () => {
    const server = await servers.start();
    const scope = effectScope();
    const lifeline = scope.run(() => useLifeline(server.url()))!;
    await waitFor(() => lifeline.status.value === 'open', 'open');
    scope.stop();
    expect(lifeline.status.value).toBe('closed');
    await waitFor(() => server.liveSockets === 0, 'the server to see the close');
  });
});

describe('useLifeline(client)', () => {
  it('leaves the client open on unmount and removes every listener it added', async () => {
    const server = await servers.start();
    const client = createClient(server.url());
    clients.push(client);
    const subscriptions = meterSubscriptions(client);
    try {
      const { wrapper, lifeline } = mountWith(() => useLifeline(client));
      expect(lifeline.client).toBe(client);
      await waitFor(() => lifeline.status.value === 'open', 'open');
      expect(subscriptions.pending().length).toBeGreaterThan(0);
      wrapper.unmount();
      expect(subscriptions.pending(), describePending(subscriptions.pending())).toEqual([]);
      expect(client.state.status).toBe('open');
      expect(server.liveSockets).toBe(1);
    } finally {
      subscriptions.stop();
    }
  });

  it('picks up the state the client is in', async () => {
    const server = await servers.start();
    const client = createClient(server.url(), { heartbeat: { message: 'ping', reply: 'ping', interval: 30 } });
    clients.push(client);
    await waitFor(() => client.rtt !== undefined, 'a heartbeat answer');
    const { wrapper, lifeline } = mountWith(() => useLifeline(client));
    expect(lifeline.status.value).toBe('open');
    expect(lifeline.latency.value).toBe(client.rtt);
    const before = lifeline.latency.value;
    await waitFor(() => lifeline.latency.value !== before || client.rtt !== before, 'another heartbeat');
    expect(lifeline.latency.value).toBe(client.rtt);
    wrapper.unmount();
  });
});

describe('reconnecting', () => {
  it('counts down to the next attempt while the server is down, with a timer only then', async () => {
    const server = await servers.start();
    const timers = meterTimers();
    try {
      const { wrapper, lifeline } = mountWith(() =>
        // retry-slow waits in [maxDelay/2, maxDelay): at least two whole seconds to count.
        useLifeline(server.url(), { reconnect: { maxDelay: 4000 }, closePolicy: () => 'retry-slow' }),
      );
      await waitFor(() => lifeline.status.value === 'open', 'open');
      expect(lifeline.countdown.value).toBeUndefined();
      expect(timers.pendingFrom(VUE_PACKAGE), describePending(timers.pendingFrom(VUE_PACKAGE))).toEqual([]);

      const counted: { seconds: number; at: number }[] = [];
      watch(lifeline.countdown, (seconds) => seconds !== undefined && counted.push({ seconds, at: Date.now() }), { flush: 'sync' });
      await server.stop();
      await waitFor(() => lifeline.status.value === 'reconnecting', 'reconnecting');
      expect(lifeline.lastClose.value).toMatchObject({ code: 1012, action: 'retry-slow' });
      // The first value, as the synchronous watcher saw it set: by the time waitFor looks, a
      // loaded machine may have let the countdown tick on already.
      expect(counted.length).toBeGreaterThanOrEqual(1);
      const first = counted[0]!.seconds;
      expect(first).toBeGreaterThanOrEqual(2);
      expect(first).toBeLessThanOrEqual(4);
      // The whole seconds left when it was set (counted[0].at, the same synchronous run).
      const left = (lifeline.nextAttemptAt.value! - counted[0]!.at) / 1000;
      expect([Math.ceil(left), Math.ceil(left + 0.005)]).toContain(first);
      expect(timers.pendingFrom(VUE_PACKAGE), describePending(timers.pending())).toHaveLength(1);
      // The first value came with the state change; then each tick lands when the number
      // changes (n seconds before the attempt), not on a free-running one-second interval.
      const nextAttemptAt = lifeline.nextAttemptAt.value!;
      const lateness = timerLateness();
      await waitFor(() => counted.length >= 3 || lifeline.status.value !== 'reconnecting', 'the countdown to tick twice', 10_000);
      const late = lateness.stop();
      // Counting down (a stall longer than a second may skip a number, never go back) ...
      const seconds = counted.slice(0, 3).map((c) => c.seconds);
      expect(seconds).toHaveLength(3);
      expect(seconds.every((n, i) => i === 0 || n < seconds[i - 1]!)).toBe(true);
      // ... each tick when its number became true, not on a free-running one-second interval:
      // never early, and late only by as much as this process ran its timers late.
      for (const { seconds: n, at } of counted.slice(1, 3)) {
        const due = nextAttemptAt - n * 1000;
        expect(at).toBeGreaterThanOrEqual(due - 2);
        expect(at, `timers ran up to ${Math.round(late)} ms late`).toBeLessThan(due + 100 + late);
      }
      // open() retries now instead of waiting out the countdown.
      await server.start();
      lifeline.open();
      await waitFor(() => lifeline.status.value === 'open', 'open again');
      expect(lifeline.countdown.value).toBeUndefined();
      expect(timers.pendingFrom(VUE_PACKAGE), describePending(timers.pendingFrom(VUE_PACKAGE))).toEqual([]);
      wrapper.unmount();
    } finally {
      timers.stop();
    }
  });

  it('error holds what stopped the client and clears when a connection opens', async () => {
    const server = await servers.start();
    const { port } = server;
    await server.stop();
    const { wrapper, lifeline } = mountWith(() => useLifeline(`ws://127.0.0.1:${port}/echo`, { reconnect: { maxAttempts: 1 } }));
    await waitFor(() => lifeline.status.value === 'closed', 'closed');
    expect(lifeline.error.value).toMatchObject({ code: 'LL_RETRIES_EXHAUSTED' });
    await server.start(port);
    lifeline.open();
    await waitFor(() => lifeline.status.value === 'open', 'open');
    expect(lifeline.error.value).toBeUndefined();
    wrapper.unmount();
  });
});

describe('without a URL or a client', () => {
  it('throws LL_INVALID_OPTION naming both ways to fix it, in a component and outside', async () => {
    const message = /useLifeline\(url\).*createLifeline\(\{ url \}\)/;
    expect(() => useLifeline()).toThrow(message);
    // (The warning that the failed component has no render function is expected.)
    const quiet = { global: { config: { warnHandler: () => {} } } };
    expect(() => mountWith(() => useLifeline(), quiet)).toThrow(
      expect.objectContaining({ code: 'LL_INVALID_OPTION', message: expect.stringMatching(message) }),
    );
    await sleep(0);
  });
});
