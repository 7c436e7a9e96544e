/**
 * JSON mode's binary form (PROTOCOL.md §2.8 R7) with sessions shared through Redis: a session
 * whose envelopes went out in the binary form is stored as text (the store holds text frames)
 * and resumes on another node, its replay the same envelopes with the same bytes. Two
 * in-process nodes on one real redis-server, a raw `ws` client that reads frames by hand.
 */
import { createRedisSessionStore } from '@lifeline/redis';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { binaryForm, RawLifeline } from '../../../test/support/raw-lifeline.js';
import { useRedisServer, type RedisServer } from '../../../test/support/redis.js';
import { startApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

let redis!: RedisServer;
useRedisServer((server) => (redis = server));
const cleanup = cleanupAfterEach();

/** A node whose route /s echoes every message. */
async function node(name: string): Promise<string> {
  const store = createRedisSessionStore({ url: redis.url, nodeId: name });
  const running = await startApp((app) => app.ws('/s', { lifeline: { resumeWindow: 30_000 } }, (socket) => socket.on('message', (m) => socket.send(m))), { sessionStore: store });
  await store.ready();
  cleanup(async () => {
    await running.stop();
    await store.close();
  });
  return running.wsUrl('/s');
}

describe('the binary form with a shared session store', () => {
  it('echoes in the binary form, then replays them from the store on another node, same s and bytes', async () => {
    const [a, b] = [await node('a'), await node('b')];
    const payloads = [Buffer.from([0]), Buffer.from([1, 0, 2]), Buffer.alloc(3000, 0x5a), Buffer.alloc(0)];
    const first = await RawLifeline.open(a, cleanup);
    first.send({ t: 'hello', v: 1, bin: true });
    await first.frame(0);
    const { sid, tok, bin } = first.json(0) as { sid: string; tok: string; bin: boolean };
    expect(bin).toBe(true);
    payloads.forEach((p, i) => first.send(binaryForm({ t: 'm', s: i + 1 }, p)));
    // With a shared store a node writes what it numbered only once stored: these are stored.
    await waitFor(() => first.envelopes('m').length === payloads.length, 'the echoes', 10_000);
    expect(first.envelopes('m').map((e) => [e.head.s, e.b, e.binary])).toEqual(payloads.map((p, i) => [i + 1, p, true]));
    first.ws.terminate();
    await first.closed;
    // Node b claims the session from Redis, never acknowledged: it replays every echo.
    const second = await RawLifeline.open(b, cleanup);
    second.send({ t: 'hello', v: 1, sid, tok, rx: 0, bin: true });
    await waitFor(() => second.envelopes('m').length === payloads.length, 'the replay on node b', 20_000);
    expect(second.json(0)).toMatchObject({ t: 'welcome', sid, resumed: true, bin: true });
    expect(second.envelopes('m').map((e) => [e.head.s, e.b])).toEqual(payloads.map((p, i) => [i + 1, p]));
  });
});
