// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { createSSRApp } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { createLifeline } from '@lifeline/vue';
import { waitFor } from '../../../test/support/wait.js';
import { describePending, meterListeners, meterTimers } from './meters.js';
import { ssrRoot } from './ssr-app.js';
import { serverPool } from './support.js';

/**
 * Server rendering where a DOM exists (happy-dom, as in jsdom-based test setups): `window`
 * is there, so the rule that finds the server render is Vue's own ssrContext.
 */

const servers = serverPool();
afterEach(() => servers.stopAll());

const OURS = /\/packages\/(vue|client)\/(src|dist)\//;

describe('server rendering with a DOM present', () => {
  it('renderToString connects nothing, listens to nothing, starts no timer; hydrating in the browser connects once', async () => {
    const server = await servers.start();
    const Root = ssrRoot(server.url());
    const timers = meterTimers();
    const listeners = meterListeners({ window, document });
    try {
      const serverPlugin = createLifeline({ url: server.url() });
      const html = await renderToString(createSSRApp(Root).use(serverPlugin));
      expect(html).toBe('<div><span data-allow-mismatch="text">idle</span><span data-allow-mismatch="text">idle</span><span data-allow-mismatch="text">idle</span></div>');
      // window exists here, so the plugin made its client, but only to keep it idle.
      expect(serverPlugin.client!.state.status).toBe('idle');
      expect(await server.connectionsBeforeProbe()).toBe(0);
      expect(timers.pendingFrom(OURS), describePending(timers.pendingFrom(OURS))).toEqual([]);
      expect(listeners.pending(), describePending(listeners.pending())).toEqual([]);

      // The same tree hydrated in the browser: its own URL, plus one shared connection.
      const container = document.createElement('div');
      container.innerHTML = html;
      document.body.append(container);
      const browserPlugin = createLifeline({ url: server.url() });
      const app = createSSRApp(Root).use(browserPlugin);
      app.mount(container);
      await waitFor(() => container.textContent === 'openopenopen', `all open (${container.textContent})`);
      expect(server.tcpConnections).toBe(2);
      app.unmount();
      container.remove();
      await waitFor(() => server.liveSockets === 0, 'the server to see both close');
    } finally {
      timers.stop();
      listeners.stop();
    }
  });
});
