import { afterEach, describe, expect, it } from 'vitest';
import { createSSRApp, defineComponent, h } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { createClient } from '@lifeline/client';
import { channels } from '@lifeline/client/channels';
import { lifeline } from '@lifeline/client/lifeline';
import { createLifeline, useChannel, useLifeline, type UseLifelineReturn } from '@lifeline/vue';
import { waitFor } from '../../../test/support/wait.js';
import { meterSubscriptions } from './meters.js';
import { ssrRoot } from './ssr-app.js';
import { serverPool } from './support.js';

/** Server rendering in plain Node (this file runs in the node environment: no window). */

const servers = serverPool();
afterEach(() => servers.stopAll());

describe('server rendering without a DOM', () => {
  it('makes no client: the plugin has none, the refs are idle, renderToString connects nothing', async () => {
    expect(typeof window).toBe('undefined');
    const server = await servers.start();
    const plugin = createLifeline({ url: server.url() });
    expect(plugin.client).toBeUndefined();
    const html = await renderToString(createSSRApp(ssrRoot(server.url())).use(plugin));
    expect(html.match(/>idle</g)).toHaveLength(3);
    expect(await server.connectionsBeforeProbe()).toBe(0);
  });

  it('returns the same shape, inert: send is false, request rejects LL_NO_WEBSOCKET, open and close do nothing', async () => {
    const server = await servers.start();
    let lifeline: UseLifelineReturn | undefined;
    const Probe = defineComponent(() => {
      lifeline = useLifeline(server.url());
      return () => h('p', lifeline!.status.value);
    });
    await renderToString(createSSRApp(Probe));
    const l = lifeline!;
    expect(l.client).toBeUndefined();
    expect([l.status.value, l.attempt.value, l.nextAttemptAt.value, l.countdown.value]).toEqual(['idle', 0, undefined, undefined]);
    expect([l.data.value, l.history.value, l.latency.value, l.error.value, l.lastClose.value, l.queued.value]).toEqual([
      undefined,
      [],
      undefined,
      undefined,
      undefined,
      0,
    ]);
    expect([l.session.value, l.lastReset.value]).toEqual([undefined, undefined]);
    expect(l.send('x')).toBe(false);
    await expect(l.request('anything')).rejects.toMatchObject({ code: 'LL_NO_WEBSOCKET' });
    l.open();
    l.close();
    expect(await server.connectionsBeforeProbe()).toBe(0);
  });

  it('does not listen to a client passed in (a server render never unmounts, so nothing could remove the listeners)', async () => {
    const server = await servers.start();
    const client = createClient(server.url());
    const subscriptions = meterSubscriptions(client);
    try {
      const Probe = defineComponent(() => {
        const lifeline = useLifeline(client);
        return () => h('p', lifeline.status.value);
      });
      expect(await renderToString(createSSRApp(Probe))).toBe('<p>idle</p>');
      expect(subscriptions.pending()).toEqual([]);
      await waitFor(() => client.state.status === 'open', 'the client itself to open');
    } finally {
      subscriptions.stop();
      client.close();
    }
  });

  it('useChannel subscribes to nothing: on the plugin (which has no client here) or on a client passed in', async () => {
    const server = await servers.start();
    const client = createClient(server.url('/s'), { mode: lifeline() });
    try {
      const Probe = defineComponent(() => {
        const shared = useChannel('a');
        const given = useChannel('b', { client });
        return () => h('p', `${shared.status.value} ${given.status.value}`);
      });
      const html = await renderToString(createSSRApp(Probe).use(createLifeline({ url: server.url('/s'), mode: lifeline() })));
      expect(html).toBe('<p>unsubscribed unsubscribed</p>');
      await waitFor(() => client.state.status === 'open', 'the client itself to open');
      // A request answered now comes after anything the client sent when it opened (a
      // $subscribe would have gone first).
      await client.request('barrier: nobody handles this').catch(() => {});
      expect(channels(client).names).toEqual([]);
      expect(server.sockets.flatMap((socket) => socket.channels)).toEqual([]);
    } finally {
      client.close();
    }
  });
});
