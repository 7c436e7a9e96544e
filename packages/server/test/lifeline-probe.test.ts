/**
 * Client probes (PROTOCOL.md §2.5): a Lifeline client may send `ping` to a server whose
 * welcome says `probe: true`, and the server answers `pong` with the same `ts` at once. A
 * client that probes in a loop is charged like any other input: the rate limit slows its
 * link down, and each probe costs the server one small frame.
 */
import type { AppOptions } from '@lifeline/server';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const schedule = cleanupAfterEach();
let running: RunningApp;

/** An echo route at /s, stopped after the test. */
async function serve(options: AppOptions = {}): Promise<void> {
  running = await startApp((app) => app.ws('/s', { lifeline: true }, (socket) => socket.on('message', (m) => socket.send(m))), options);
  schedule(() => running.stop());
}

function client(options?: ConstructorParameters<typeof LifelineTestClient>[1]): LifelineTestClient {
  const c = new LifelineTestClient(running.wsUrl('/s'), options);
  schedule(() => c.close());
  return c;
}

describe('Lifeline mode: client probes (PROTOCOL.md §2.5)', () => {
  it.each(['json', 'msgpack'] as const)('%s: every welcome says probe: true, and a ping is answered by a pong with the same ts, outside the numbered stream', async (format) => {
    await serve();
    const c = client({ format });
    const welcome = await c.connect();
    expect(welcome).toMatchObject({ resumed: false, probe: true });
    c.sendEnvelope({ t: 'ping', ts: 12.5 });
    c.sendEnvelope({ t: 'ping', ts: 1_733_000_000_000 });
    await waitFor(() => c.pongs.length === 2, 'two pongs');
    expect(c.pongs).toEqual([
      { t: 'pong', ts: 12.5 },
      { t: 'pong', ts: 1_733_000_000_000 },
    ]);
    // Not numbered: the next message is still s = 1, and its echo too.
    c.send('after the probes');
    await waitFor(() => c.messages.length === 1, 'the echo');
    expect(c.envelopes.filter((e) => e.t === 'm').map((e) => (e as { s: number }).s)).toEqual([1]);
    // A resumed welcome says so too.
    c.drop();
    const resumed = await c.connect();
    expect(resumed).toMatchObject({ resumed: true, probe: true });
    expect(c.problems).toEqual([]);
  });

  it('a ping before hello is an envelope at the wrong time: 1008', async () => {
    await serve();
    const c = client();
    await c.connect({ hello: false });
    c.sendEnvelope({ t: 'ping', ts: 1 });
    const closed = await c.closed();
    expect(closed).toEqual({ code: 1008, reason: 'ping: the first envelope must be hello' });
    expect(c.pongs).toEqual([]);
  });

  it('a client that probes in a loop is rate-limited like any sender: every ping answered, later input waits for the limit, the session unharmed', async () => {
    // 100 envelopes/s with a burst of 50. Frames TCP already delivered are read (a numbered
    // envelope cannot be dropped) and become debt that the link pays back by not reading:
    // an envelope sent after 250 pings were answered is read no sooner than about
    // (250 − 50/2) / 100 s after the first ping, however TCP cut them into chunks.
    await serve({ rateLimit: { messagesPerSecond: 100, messageBurst: 50 } });
    const c = client();
    await c.connect();
    const sentAt = Date.now();
    for (let i = 1; i <= 250; i++) c.sendEnvelope({ t: 'ping', ts: i });
    await waitFor(() => c.pongs.length === 250, 'a pong for every ping', 15_000);
    expect(c.pongs.map((p) => p.ts)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    // The answer is one small frame per probe.
    expect(Buffer.byteLength(JSON.stringify(c.pongs.at(-1)))).toBeLessThanOrEqual(32);
    c.send('still here');
    await waitFor(() => c.messages.includes('still here'), 'the message after the pings, once the debt is paid', 15_000);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1500); // the limit, not the client, set the pace
    // Throttled, not closed: the session carries on.
    expect(c.errors).toEqual([]);
  });
});
