/**
 * `shared()` and `persistent()` where there is no browser (Node): options are checked at once
 * as `createClient` checks them, and a store without IndexedDB works in memory and says so.
 * What they do in browsers is proven in Chromium (shared-chromium.test.ts, persist-chromium.test.ts).
 */
import { createClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { persistent } from '@lifeline/client/persist';
import { shared } from '@lifeline/client/shared';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { startApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const cleanup = cleanupAfterEach();

describe('shared() and persistent() in Node', () => {
  it('shared() refuses a bad URL or option at once, as createClient does', () => {
    expect(() => shared('localhost:5000/echo')).toThrow(expect.objectContaining({ code: 'LL_INVALID_URL' }));
    expect(() => shared('ws://127.0.0.1:1/echo', { reconnect: { initialDelay: -1 } })).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION' }));
    expect(() => shared('ws://127.0.0.1:1/echo', { replay: { maxMessages: 0 } })).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION' }));
  });

  it('closeAll() refuses a close code or reason the connection could not send, to its caller (the hub that closes may run in another tab)', () => {
    const c = shared('ws://127.0.0.1:1/echo', { reconnect: false });
    cleanup(() => c.closeAll());
    expect(() => c.closeAll(1006)).toThrow(expect.objectContaining({ code: 'LL_INVALID_CLOSE_CODE' }));
    expect(() => c.closeAll(2999)).toThrow(expect.objectContaining({ code: 'LL_INVALID_CLOSE_CODE' }));
    expect(() => c.closeAll(4000, 'x'.repeat(124))).toThrow(expect.objectContaining({ code: 'LL_CLOSE_REASON_TOO_LONG' }));
    expect(c.state.status).not.toBe('closed');
  });

  it('a store without IndexedDB works in memory, says why, and the client works as without one', async () => {
    const running = await startApp((app) => app.ws('/s', { lifeline: true }, async (socket) => {
      for await (const message of socket) socket.send(message);
    }));
    cleanup(() => running.stop());
    const store = persistent('node');
    const statuses: unknown[] = [];
    store.on('status', (status, problem) => statuses.push([status, problem]));
    const client = createClient(running.wsUrl('/s'), { mode: lifeline({ store }) });
    cleanup(() => client.close());
    const seqs: number[] = [];
    client.on('message', (m) => seqs.push(m.seq!));
    for (let i = 0; i < 3; i++) client.send(i);
    await waitFor(() => seqs.length === 3, 'three echoes');
    expect(seqs).toEqual([1, 2, 3]);
    expect(statuses).toEqual([['memory', 'unavailable']]);
    expect([store.status, store.problem, store.received, store.accepted]).toEqual(['memory', 'unavailable', 3, 3]);
    expect(await store.durable()).toBe(false);
  });

  it('check() on a shared client probes the one connection now: the probe is answered (a heartbeat event in the tab) long before the server would ping', async () => {
    const running = await startApp((app) => app.ws('/s', { lifeline: true }, async (socket) => {
      for await (const message of socket) socket.send(message);
    }));
    cleanup(() => running.stop());
    const c = shared(running.wsUrl('/s'));
    cleanup(() => c.closeAll());
    await waitFor(() => c.state.status === 'open', 'the shared connection to open', 30_000);
    const beats: number[] = [];
    c.on('heartbeat', (rtt) => beats.push(rtt));
    // The server pings a link silent for 25 s: within this wait, only an answered probe is a heartbeat.
    c.check();
    await waitFor(() => beats.length === 1, 'the answer to the probe', 10_000);
    expect(beats[0]).toBeGreaterThanOrEqual(0);
  });
});
