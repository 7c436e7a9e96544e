// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest';
import { lifeline as lifelineMode } from '@lifeline/client/lifeline';
import { useLifeline } from '@lifeline/vue';
import { waitFor } from '../../../test/support/wait.js';
import { mountWith } from './mount.js';
import { serverPool } from './support.js';

/** useLifeline in Lifeline mode against a `{ lifeline: true }` route: requests, sessions, resets. */

const servers = serverPool();
afterEach(() => servers.stopAll());

const quickRetry = { initialDelay: 20, maxDelay: 50 };

describe('Lifeline mode', () => {
  it('request() gets the handler’s answer; errors and timeouts reject with their codes', async () => {
    const server = await servers.start((socket) => {
      socket.handle('sum', (numbers) => (numbers as number[]).reduce((a, b) => a + b, 0));
      socket.handle('hang', () => new Promise(() => {}));
    });
    const { wrapper, lifeline } = mountWith(() => useLifeline(server.url('/s'), { mode: lifelineMode() }));
    // Requests queue like messages until the session is open.
    const early = lifeline.request('sum', [1, 2]);
    await expect(early).resolves.toBe(3);
    await expect(lifeline.request('sum', [1, 2, 3])).resolves.toBe(6);
    await expect(lifeline.request('nope')).rejects.toMatchObject({ code: 'LL_REQUEST_FAILED', remote: { code: 'LL_NO_HANDLER' } });
    await expect(lifeline.request('hang', null, { timeout: 50 })).rejects.toMatchObject({ code: 'LL_REQUEST_TIMEOUT' });
    wrapper.unmount();
  });

  it('messages go both ways as in raw mode', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline(server.url('/s'), { mode: lifelineMode() }));
    lifeline.send({ hello: 'session' });
    await waitFor(() => lifeline.data.value !== undefined, 'the echo');
    expect(lifeline.data.value).toEqual({ hello: 'session' });
    expect(lifeline.history.value).toHaveLength(1);
    wrapper.unmount();
  });

  it('session follows the connection: new, then resumed after a cut, then a reset after a server restart', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline(server.url('/s'), { mode: lifelineMode(), reconnect: quickRetry }));
    await waitFor(() => lifeline.status.value === 'open', 'open');
    const first = lifeline.session.value!;
    expect(first).toMatchObject({ id: expect.any(String), resumed: false });

    server.cutConnections();
    await waitFor(() => lifeline.session.value?.resumed === true && lifeline.status.value === 'open', 'a resumed session');
    expect(lifeline.session.value!.id).toBe(first.id);
    expect(lifeline.lastReset.value).toBeUndefined();

    // A restarted server has forgotten the session (in-memory store): the resume is refused.
    const { port } = server;
    await server.stop();
    await server.start(port);
    await waitFor(() => lifeline.lastReset.value !== undefined, 'the reset');
    expect(lifeline.lastReset.value).toMatchObject({ reason: 'unknown-session', unconfirmed: [] });
    await waitFor(() => lifeline.status.value === 'open', 'open on the new session');
    expect(lifeline.session.value).toMatchObject({ resumed: false });
    expect(lifeline.session.value!.id).not.toBe(first.id);
    wrapper.unmount();
  });

  it('request() in raw mode rejects LL_NOT_LIFELINE; session stays undefined', async () => {
    const server = await servers.start();
    const { wrapper, lifeline } = mountWith(() => useLifeline(server.url('/s')));
    await waitFor(() => lifeline.status.value === 'open', 'open');
    await expect(lifeline.request('sum', [1])).rejects.toMatchObject({ code: 'LL_NOT_LIFELINE' });
    expect(lifeline.session.value).toBeUndefined();
    wrapper.unmount();
  });
});
