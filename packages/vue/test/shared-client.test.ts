// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, defineComponent, h } from 'vue';
import { shared, type SharedClient } from '@lifeline/client/shared';
import { createLifeline, useChannel, useLifeline } from '@lifeline/vue';
import { waitFor } from '../../../test/support/wait.js';
import { mountWith } from './mount.js';
import { serverPool } from './support.js';

/**
 * useLifeline and useChannel on a tab's client of a shared connection (`shared()` from
 * `@lifeline/client/shared`) work as on a `LifelineClient`: the same refs, sends, requests and
 * subscriptions. happy-dom has no Web Locks, so the hub runs in this page: every call still
 * goes through the tab client and the hub, as in a tab of a browser (where the proofs with
 * several tabs run: packages/client/test/shared-chromium.test.ts, test/demo-page.test.ts).
 */

const servers = serverPool();
const clients: SharedClient<any, any>[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.closeAll();
  await servers.stopAll();
});

function sharedClient(url: string): SharedClient<any, any> {
  const client = shared(url, { reconnect: { initialDelay: 20, maxDelay: 50 } });
  clients.push(client);
  return client;
}

describe('the composables on a shared connection', () => {
  it('useLifeline(sharedClient): status, session, data and history, send and request, as on a LifelineClient', async () => {
    const server = await servers.start((socket) => socket.handle('sum', (numbers) => (numbers as number[]).reduce((a, b) => a + b, 0)));
    const client = sharedClient(server.url('/s'));
    expect(client.role).toBe('solo');
    const { wrapper, lifeline } = mountWith(() => useLifeline(client));
    await waitFor(() => lifeline.status.value === 'open', 'open');
    expect(lifeline.session.value).toMatchObject({ id: expect.any(String), resumed: false });
    lifeline.send({ hello: 'tabs' });
    await waitFor(() => lifeline.data.value !== undefined, 'the echo');
    expect(lifeline.data.value).toEqual({ hello: 'tabs' });
    expect(lifeline.history.value.map((m) => [m.data, m.seq])).toEqual([[{ hello: 'tabs' }, 1]]);
    await expect(lifeline.request('sum', [1, 2, 3])).resolves.toBe(6);
    await expect(lifeline.request('nope')).rejects.toMatchObject({ code: 'LL_REQUEST_FAILED', remote: { code: 'LL_NO_HANDLER' } });
    // The server's requests reach this tab's handler through the hub.
    client.handle('confirm', (question) => `yes to ${String(question)}`);
    await expect(server.sockets.at(-1)!.request('confirm', 'tea')).resolves.toBe('yes to tea');
    wrapper.unmount(); // not its client: left as it is
    expect(client.state.status).toBe('open');
  });

  it('useChannel on a shared client: subscribed, each publication once in order, unsubscribed on the server at unmount', async () => {
    const server = await servers.start();
    const client = sharedClient(server.url('/s'));
    const { wrapper, lifeline: channel } = mountWith(() => useChannel<number>('ticks', { client }));
    await waitFor(() => channel.status.value === 'subscribed', 'subscribed');
    for (const n of [1, 2, 3]) await server.app!.publish('ticks', n);
    await waitFor(() => channel.history.value.length === 3, 'three publications');
    expect(channel.history.value.map((p) => [p.data, p.offset])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(channel.position.value).toMatchObject({ offset: 3 });
    wrapper.unmount();
    await waitFor(() => server.sockets.flatMap((socket) => socket.channels).length === 0, 'unsubscribed on the server');
  });

  it('createLifeline({ client: () => shared(url) }): useLifeline() without arguments uses it; unmounting the app leaves the connection for other tabs', async () => {
    const server = await servers.start();
    let made: SharedClient<any, any> | undefined;
    const plugin = createLifeline({ client: () => (made = sharedClient(server.url('/s'))) });
    expect(plugin.client).toBe(made);
    let status: (() => string) | undefined;
    const app = createApp(
      defineComponent({
        setup() {
          const lifeline = useLifeline();
          status = () => lifeline.status.value;
          return () => h('p', lifeline.status.value);
        },
      }),
    );
    app.use(plugin).mount(document.createElement('div'));
    await waitFor(() => status!() === 'open', 'open');
    app.unmount();
    // This tab left (its client is closed); the connection itself stays up for other tabs.
    expect(made!.state.status).toBe('closed');
    expect(server.liveSockets).toBe(1);
  });
});
