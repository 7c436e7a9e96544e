/**
 * Claims of a shared session against a real redis-server (issue 15, items 1 and 2), with
 * two in-process nodes on one Redis and the protocol-level test client, which can send
 * exactly the hello a case needs:
 *  - a claim that timed out while Redis was stopped (SIGSTOP) must not take the session
 *    from the client's newer connection once Redis answers again (SIGCONT);
 *  - a resume whose `rx` is above the last `s` the server sent, or below what the client
 *    acknowledged, gets the same answer on the node that holds the session and on any other
 *    node, and never ends the session: the right resume still works afterwards.
 */
import { createClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { describe, expect, test } from 'vitest';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import type { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { useRedisServer, type RedisServer } from '../../../test/support/redis.js';
import { waitFor } from '../../../test/support/wait.js';
import { detached, metaKey, sessionNodes, type SessionNode } from './session-nodes.js';

let redis!: RedisServer;
useRedisServer((server) => (redis = server));
const cleanup = cleanupAfterEach();
const { startNode, sessionOn, resumer } = sessionNodes(() => redis, cleanup);

/** How a hello was answered: a welcome, or a close (with the error envelope's code, if one came). */
async function answerTo(client: LifelineTestClient): Promise<{ welcome?: { resumed: boolean; reset?: string; sid: string }; closed?: number; error?: number }> {
  try {
    const welcome = (await client.connect())!;
    return { welcome: { resumed: welcome.resumed, reset: welcome.reset?.reason, sid: welcome.sid } };
  } catch {
    return { closed: client.lastClose?.code, error: client.errors.at(-1)?.code };
  }
}

/** Resolves once everything Redis received on `node`'s connections so far has run, and what it published to `node` arrived there. */
async function settled(node: SessionNode, ...others: SessionNode[]): Promise<void> {
  for (const other of others) await other.store.commands.ping();
  const marker = `test-marker ${Math.random()}`;
  const heard = new Promise<void>((resolve) => {
    const listener = (_channel: string, message: string) => {
      if (message !== marker) return;
      node.store.subscriber.off('message', listener);
      resolve();
    };
    node.store.subscriber.on('message', listener);
  });
  await redis.command('PUBLISH', `lifeline:node:${node.store.nodeId}`, marker);
  await heard;
}

describe('a claim that timed out while Redis was stopped', () => {
  test.each([
    ['the node that held it is asked to let go', {}],
    ['the session is taken at once (handoverTimeout 0)', { handoverTimeout: 0 }],
  ])('does not take the session from the client’s newer connection when Redis answers again: %s', { timeout: 30_000 }, async (_name, claimOptions) => {
    const a = await startNode('a');
    const b = await startNode('b', { store: claimOptions });
    const first = await sessionOn(a);
    first.drop();
    await waitFor(() => detached(a.sockets[0]!), 'node a saw the drop');

    redis.pause();
    // The client tries node b: its claim reaches a stopped Redis and times out.
    const viaB = await answerTo(resumer(b, first));
    expect(viaB.closed).toBe(1013);
    // It comes back to node a, which answers at once or asks Redis (it logs either), and then Redis answers again.
    const third = resumer(a, first);
    const logged = a.events.length;
    const welcome = answerTo(third);
    await waitFor(() => a.events.slice(logged).some((event) => event === 'session-resume' || event === 'session-claim'), 'node a took the hello');
    redis.resume();
    expect((await welcome).welcome).toMatchObject({ resumed: true, sid: first.sid });

    // Whatever node b's claim left in Redis has run now, and anything it published to node a has reached it.
    await settled(a, b);
    // A round trip on the newer connection: its echo comes back, before any close node a could have written.
    third.send({ after: 'redis came back' });
    const outcome = await Promise.race([
      waitFor(() => third.messages.some((m) => JSON.stringify(m) === JSON.stringify({ echo: { after: 'redis came back' } })), 'the echo', 10_000).then(() => 'echoed'),
      third.closed().then(({ code, reason }) => `closed ${code} ${reason}`),
    ]);
    expect(outcome).toBe('echoed');
    expect(third.problems).toEqual([]);
    expect(a.sockets).toHaveLength(1);
    expect(a.sockets[0]!.isOpen).toBe(true);
    expect(b.sockets).toHaveLength(0);
    expect(await redis.command('HGET', metaKey(first.sid!), 'n')).toBe('a');
  });
});

describe('a 4000 on the client’s only connection', () => {
  test('@lifeline/client resumes: every message is echoed once, in order, and nothing is reset', { timeout: 30_000 }, async () => {
    const a = await startNode('a');
    await startNode('b');
    const client = createClient<{ echo: { i: number } }, { i: number }>(a.url, { reconnect: { initialDelay: 10, maxDelay: 100 }, mode: lifeline() });
    cleanup(() => client.close());
    const echoes: number[] = [];
    const closes: number[] = [];
    const resets: string[] = [];
    client.on('message', (m) => echoes.push(m.data!.echo.i));
    client.on('close', (info) => closes.push(info.code));
    client.on('reset', (r) => resets.push(r.reason));
    for (let i = 1; i <= 100; i++) client.send({ i });
    await waitFor(() => echoes.length === 100, 'the first hundred echoes');
    const sid = client.session!.id;
    // What a claim from another node does: node a is asked to let go of the attach it is on.
    const attach = await redis.command('HGET', metaKey(sid), 'c');
    await redis.command('PUBLISH', 'lifeline:node:a', `release ${sid} ${attach}`);
    await waitFor(() => closes.includes(4000), 'the 4000');
    for (let i = 101; i <= 200; i++) client.send({ i });
    await waitFor(() => echoes.length === 200, 'every echo');
    expect(echoes).toEqual(Array.from({ length: 200 }, (_, k) => k + 1));
    expect(resets).toEqual([]);
    expect(client.session).toMatchObject({ id: sid, resumed: true });
  });
});

describe('a resume with an rx the client cannot have', () => {
  /** A session on node a whose client received s = 1…5 and acknowledged 3, and has gone (a dropped connection). */
  async function sessionAt5Acked3(a: SessionNode, { ackStored }: { ackStored: boolean }): Promise<LifelineTestClient> {
    const client = await sessionOn(a, { autoAck: false });
    const onA = a.sockets[0]!;
    for (let i = 1; i <= 5; i++) onA.sendJson({ i });
    await waitFor(() => client.messages.length === 5, 'five messages');
    client.sendEnvelope({ t: 'a', a: 3 });
    await waitFor(() => onA.stats.replayMessages === 2, 'node a freed s = 1…3');
    // A store that must tell a resume below the acknowledged position from a good one has to know that position.
    if (ackStored) await waitFor(async () => (await redis.command('HGET', metaKey(client.sid!), 'a')) === '3', 'the store to hold the acknowledgement (a = 3)');
    client.drop();
    await waitFor(() => detached(onA), 'node a saw the drop');
    return client;
  }

  test('above the last s sent: the same answer on the holding node and on another, and the session lives on', { timeout: 30_000 }, async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const client = await sessionAt5Acked3(a, { ackStored: false });
    // PROTOCOL.md §2.4: the server cannot continue without a gap, so it starts a new session and says so; the old one stays as it was.
    const newSession = { welcome: { resumed: false, reset: 'unknown-session', sid: expect.not.stringMatching(`^${client.sid}$`) } };
    expect(await answerTo(resumer(a, client, 8))).toEqual(newSession);
    expect(await answerTo(resumer(b, client, 8))).toEqual(newSession);
    // Nothing was taken or ended: node a still holds it, and the right resume continues it on either node.
    expect(await redis.command('HGET', metaKey(client.sid!), 'n')).toBe('a');
    expect(a.sockets[0]!.isOpen).toBe(true);
    const right = await answerTo(resumer(b, client, 5));
    expect(right.welcome).toMatchObject({ resumed: true, sid: client.sid });
  });

  test('below what the client acknowledged: 1002 on the holding node and on another, and the session lives on', { timeout: 30_000 }, async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const client = await sessionAt5Acked3(a, { ackStored: true });
    const onHolder = await answerTo(resumer(a, client, 1));
    const onOther = await answerTo(resumer(b, client, 1));
    expect(onHolder).toEqual({ closed: 1002, error: 1002 });
    expect(onOther).toEqual({ closed: 1002, error: 1002 });
    // Nothing was taken or ended: node a still holds it, and the right resume continues it.
    expect(await redis.command('HGET', metaKey(client.sid!), 'n')).toBe('a');
    expect(a.sockets.map((socket) => socket.isOpen)).toEqual([true]);
    const right = await answerTo(resumer(b, client, 5));
    expect(right.welcome).toMatchObject({ resumed: true, sid: client.sid });
  });
});
