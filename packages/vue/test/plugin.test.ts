// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { mount } from '@vue/test-utils';
import { defineComponent, h, nextTick, ref } from 'vue';
import { createLifeline, useLifeline, type UseLifelineReturn } from '@lifeline/vue';
import { waitFor } from '../../../test/support/wait.js';
import { serverPool } from './support.js';

/** app.use(createLifeline({ url })): one connection shared by the app's components. */

const servers = serverPool();
afterEach(() => servers.stopAll());

/** Two components that each call useLifeline() with no URL, the second behind a v-if. */
function twoComponents() {
  const used: UseLifelineReturn<string, string>[] = [];
  const User = defineComponent({
    setup() {
      const lifeline = useLifeline<string, string>(undefined, { historySize: 10 });
      used.push(lifeline);
      return () => h('span', `${lifeline.status.value}:${lifeline.data.value ?? ''}`);
    },
  });
  const showSecond = ref(true);
  const Root = defineComponent(() => () => h('div', [h(User), showSecond.value ? h(User) : null]));
  return { Root, used, showSecond };
}

describe('createLifeline', () => {
  it('gives every component the same connection', async () => {
    const server = await servers.start();
    const plugin = createLifeline<string, string>({ url: server.url() });
    const { Root, used } = twoComponents();
    const wrapper = mount(Root, { global: { plugins: [plugin] } });
    const [first, second] = used;
    expect(first!.client).toBe(plugin.client);
    expect(second!.client).toBe(plugin.client);
    await waitFor(() => first!.status.value === 'open' && second!.status.value === 'open', 'both open');
    expect(server.tcpConnections).toBe(1);

    first!.send('from the first');
    await waitFor(() => second!.data.value === 'from the first', 'the echo in the second component');
    expect(first!.data.value).toBe('from the first');
    server.broadcast('to all');
    await waitFor(() => first!.data.value === 'to all' && second!.data.value === 'to all', 'the broadcast in both');
    await nextTick();
    expect(wrapper.text()).toBe('open:to allopen:to all');
    expect(server.tcpConnections).toBe(1);
    wrapper.unmount();
  });

  it('a component unmounting leaves the shared connection open; the app unmounting closes it', async () => {
    const server = await servers.start();
    const plugin = createLifeline({ url: server.url() });
    const { Root, used, showSecond } = twoComponents();
    const wrapper = mount(Root, { global: { plugins: [plugin] } });
    await waitFor(() => plugin.client!.state.status === 'open', 'open');
    showSecond.value = false;
    await nextTick();
    expect(plugin.client!.state.status).toBe('open');
    used[0]!.send('still here');
    await waitFor(() => used[0]!.data.value === 'still here', 'the echo');
    // The unmounted component's refs no longer follow the client.
    expect(used[1]!.data.value).toBeUndefined();
    wrapper.unmount();
    expect(plugin.client!.state.status).toBe('closed');
    await waitFor(() => server.liveSockets === 0, 'the server to see the close');
  });

  it('connects when the first component uses it, not at install; autoOpen: false waits for open()', async () => {
    const server = await servers.start();
    const plugin = createLifeline({ url: server.url() });
    const show = ref(false);
    const User = defineComponent(() => {
      const lifeline = useLifeline();
      return () => h('p', lifeline.status.value);
    });
    const Root = defineComponent(() => () => h('div', show.value ? [h(User)] : []));
    const lazy = mount(Root, { global: { plugins: [plugin] } });
    expect(plugin.client!.state.status).toBe('idle');
    show.value = true;
    await nextTick();
    await waitFor(() => plugin.client!.state.status === 'open', 'open on first use');
    expect(server.tcpConnections).toBe(1);
    lazy.unmount();

    const manual = createLifeline({ url: server.url(), autoOpen: false });
    const { Root: Two, used } = twoComponents();
    const wrapper = mount(Two, { global: { plugins: [manual] } });
    expect(used[0]!.status.value).toBe('idle');
    used[0]!.open();
    await waitFor(() => used[1]!.status.value === 'open', 'open after open()');
    expect(server.tcpConnections).toBe(2);
    wrapper.unmount();
  });
});
