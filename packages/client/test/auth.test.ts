/**
 * `lifeline({ token })` against a real @lifeline/server route with `auth`: the token rides in
 * every hello (PROTOCOL.md §4), is fetched again for each connection, `$auth` refreshes it
 * without reconnecting, and an expiry (4401) is survived by a resume with a fresh one.
 */
import { createClient, type LifelineClient, type LifelineError, type OpenInfo } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { shared } from '@lifeline/client/shared';
import type { AuthOptions, Socket } from '@lifeline/server';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { startApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';
import { waitForStatus } from './helpers.js';

const cleanup = cleanupAfterEach();

async function server(verify: AuthOptions['verify']) {
  const sessions: Socket[] = [];
  const running = await startApp((app) =>
    app.ws('/s', { lifeline: true, auth: { verify, sources: ['header', 'protocol', 'query', 'message'] } }, (socket) => {
      sessions.push(socket);
      socket.handle('whoami', () => socket.identity);
    }),
  );
  cleanup(() => running.stop());
  return { running, sessions };
}

function client(url: string, token: () => string | Promise<string>): { client: LifelineClient; opens: OpenInfo[]; errors: LifelineError[] } {
  const c = createClient(url, { reconnect: { initialDelay: 20, maxDelay: 100 }, mode: lifeline({ token }) });
  cleanup(() => c.close());
  const opens: OpenInfo[] = [];
  const errors: LifelineError[] = [];
  c.on('open', (info) => opens.push(info));
  c.on('error', (error) => errors.push(error));
  return { client: c, opens, errors };
}

describe('lifeline({ token })', () => {
  it('sends the token in the hello; $auth replaces the identity without reconnecting', async () => {
    const { running, sessions } = await server((token) => (token.startsWith('user:') ? { name: token.slice(5) } : false));
    let calls = 0;
    const { client: c, opens } = client(running.wsUrl('/s'), async () => `user:alice${++calls > 1 ? calls : ''}`);
    await waitForStatus(c, 'open');
    expect(await c.request('whoami')).toEqual({ name: 'alice' });
    expect(sessions[0]!.auth?.source).toBe('message');
    expect(await c.request('$auth', { token: 'user:bob' })).toEqual({ expiresAt: null });
    expect(await c.request('whoami')).toEqual({ name: 'bob' });
    await expect(c.request('$auth', { token: 'nobody' })).rejects.toMatchObject({ remote: { code: 'LL_UNAUTHORIZED' } });
    expect(await c.request('whoami')).toEqual({ name: 'bob' });
    expect(calls).toBe(1);
    expect(opens).toHaveLength(1);
  });

  it('a token that expires closes the connection with 4401; the client fetches a fresh one and resumes the same session', async () => {
    const { running, sessions } = await server((token) => {
      const [name, life] = token.split(':');
      return { identity: { name }, expiresAt: life === 'short' ? Date.now() + 300 : undefined };
    });
    const tokens = ['ann:short', 'ann:long'];
    const { client: c, opens } = client(running.wsUrl('/s'), () => tokens.shift() ?? 'ann:long');
    const closes: number[] = [];
    c.on('close', (info) => closes.push(info.code));
    await waitForStatus(c, 'open');
    await waitFor(() => opens.length === 2, 'the reconnect after the expiry', 5000);
    expect(closes).toEqual([4401]);
    expect(opens[1]!.session).toEqual({ id: opens[0]!.session!.id, resumed: true });
    expect(tokens).toEqual([]); // fetched once per connection
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.auth?.expiresAt).toBeUndefined();
    expect(await c.request('whoami')).toEqual({ name: 'ann' });
  });

  it('a token function that fails ends the attempt with 4401 and LL_AUTH_FAILED; the next attempt asks again', async () => {
    const { running } = await server((token) => (token === 'ok' ? { ok: true } : false));
    let calls = 0;
    const { client: c, errors } = client(running.wsUrl('/s'), () => {
      if (++calls === 1) throw new Error('token service down');
      return 'ok';
    });
    await waitForStatus(c, 'open');
    expect(calls).toBe(2);
    expect(errors.map((e) => e.code)).toContain('LL_AUTH_FAILED');
    expect(await c.request('whoami')).toEqual({ ok: true });
  });

  it('shared(): the hub asks a tab for the token before each hello, and resumes with a fresh one after an expiry (here the hub runs in this process: Node has no Web Locks)', async () => {
    const { running } = await server((token) => {
      const [name, life] = token.split(':');
      return { identity: { name }, expiresAt: life === 'short' ? Date.now() + 300 : undefined };
    });
    const tokens = ['dan:short', 'eve:long'];
    const c = shared(running.wsUrl('/s'), { reconnect: { initialDelay: 20, maxDelay: 100 }, token: async () => tokens.shift() ?? 'nobody:long' });
    cleanup(() => c.closeAll());
    expect(c.role).toBe('solo');
    const opens: OpenInfo[] = [];
    c.on('open', (info) => opens.push(info));
    await waitFor(() => opens.length === 2, 'the reconnect after the expiry', 5000);
    expect(opens[1]!.session).toEqual({ id: opens[0]!.session!.id, resumed: true });
    expect(tokens).toEqual([]);
    expect(await c.request('whoami')).toEqual({ name: 'eve' });
  });
});
