/**
 * Lifeline sessions shared through Redis (issue 7, "the session store, so a session resumes
 * on any node"): three in-process nodes with their own RedisSessionStore on one real
 * redis-server, and the real @lifeline/client behind the chaos proxy, which sends each new
 * connection to whichever node the test points it at.
 */
import { createClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { createRedisSessionStore, type RedisSessionStore } from '@lifeline/redis';
import type { Socket } from '@lifeline/server';
import { describe, expect, test } from 'vitest';
import { chaosSeed, startChaosProxy } from '../../../test/support/chaos-proxy.js';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { useRedisServer, type RedisServer } from '../../../test/support/redis.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { sleep, waitFor } from '../../../test/support/wait.js';

let redis!: RedisServer;
useRedisServer((server) => (redis = server));
const cleanup = cleanupAfterEach();

interface Node {
  name: string;
  running: RunningApp;
  store: RedisSessionStore;
  /** Handler runs on this node: moved or not, and how each ended. */
  runs: { socket: Socket; moved: boolean; closed?: [number, string] }[];
}

/** What every node's handler saw, in the order it saw it. */
interface Shared {
  received: number[];
}

async function startNode(name: string, shared: Shared, options: { echo?: boolean } = {}): Promise<Node> {
  const store = createRedisSessionStore({ url: redis.url, nodeId: name, unreachableTimeout: 3_000 });
  const runs: Node['runs'] = [];
  const running = await startApp(
    (app) =>
      app.ws('/s', { lifeline: { resumeWindow: 30_000 } }, (socket) => {
        const run: Node['runs'][number] = { socket, moved: (socket as Socket & { moved: boolean }).moved };
        runs.push(run);
        socket.on('message', (m) => {
          const { i } = m.json() as { i: number };
          shared.received.push(i);
          if (options.echo) socket.sendJson({ i });
        });
        socket.on('close', (code, reason) => {
          run.closed = [code, reason];
        });
      }),
    { sessionStore: store },
  );
  await store.ready();
  cleanup(async () => {
    await running.stop();
    await store.close();
  });
  return { name, running, store, runs };
}

/** Everything wrong with a stream that must be 1..n exactly once, in order. */
function streamProblems(got: readonly number[], n: number): string[] {
  const problems: string[] = [];
  for (let k = 0; k < got.length; k++) {
    if (got[k] !== k + 1) {
      problems.push(`at position ${k}: ${got[k]} where ${k + 1} belongs (${got.length} received)`);
      break;
    }
  }
  if (got.length !== n) problems.push(`${got.length} received, ${n} sent`);
  return problems;
}

/** Nodes a and b, and a client whose session is open on a through a proxy (no cuts) that the test can point at b. */
async function twoNodesAndAClient() {
  const shared: Shared = { received: [] };
  const [a, b] = [await startNode('a', shared), await startNode('b', shared)];
  const proxy = await startChaosProxy({ targetPort: a.running.port, seed: chaosSeed() });
  proxy.chaos = false;
  cleanup(() => proxy.close());
  const client = createClient<{ i: number }, { i: number }>(`ws://127.0.0.1:${proxy.port}/s`, { reconnect: { initialDelay: 10, maxDelay: 100 }, mode: lifeline() });
  cleanup(() => client.close());
  const got: number[] = [];
  const resets: string[] = [];
  client.on('message', (m) => got.push(m.data!.i));
  client.on('reset', (r) => resets.push(r.reason));
  await waitFor(() => a.runs.length === 1 && client.state.status === 'open', 'a session on node a');
  return { shared, a, b, proxy, client, got, resets };
}

describe('sessions shared through Redis', () => {
  test('a session moves across three live nodes through cuts: every message reaches a handler once, in order, and every echo the client; no reset', { timeout: 90_000 }, async () => {
    const shared: Shared = { received: [] };
    const echo = { echo: true };
    const nodes = [await startNode('a', shared, echo), await startNode('b', shared, echo), await startNode('c', shared, echo)];
    const seed = chaosSeed();
    console.log(`[session-store] seed ${seed}`);
    const proxy = await startChaosProxy({ targetPort: nodes[0]!.running.port, seed, minLifeMs: 100, maxLifeMs: 400 });
    cleanup(() => proxy.close());
    // Cuts start once the session exists: a first connection cut before its welcome would start a second one.
    proxy.chaos = false;
    // Each new connection goes to the next node: every reconnect is a move.
    let next = 0;
    const rotate = setInterval(() => {
      next = (next + 1) % nodes.length;
      proxy.targetPort = nodes[next]!.running.port;
    }, 150);
    cleanup(() => clearInterval(rotate));

    const client = createClient<{ i: number }, { i: number }>(`ws://127.0.0.1:${proxy.port}/s`, {
      reconnect: { initialDelay: 10, maxDelay: 100 },
      outbox: { maxMessages: 50_000 },
      mode: lifeline(),
    });
    cleanup(() => client.close());
    const resets: string[] = [];
    const echoes: number[] = [];
    client.on('reset', (r) => resets.push(r.reason));
    client.on('message', (m) => echoes.push(m.data!.i));
    await waitFor(() => client.state.status === 'open', 'the session open');
    proxy.chaos = true;
    const n = 8_000;
    for (let i = 1; i <= n; i++) {
      client.send({ i });
      if (i % 40 === 0) await sleep(10);
    }
    await waitFor(() => echoes.length >= n && proxy.stats.cuts >= 5, 'every echo through at least 5 cuts', 60_000);
    proxy.chaos = false;
    // A sentinel, after the cuts: a late duplicate of anything would come before its echo.
    client.send({ i: n + 1 });
    await waitFor(() => echoes.includes(n + 1) && shared.received.includes(n + 1), 'the sentinel both ways', 30_000);

    expect(streamProblems(shared.received, n + 1)).toEqual([]);
    // The old node of each move was alive: it stored what it had before letting go, so no echo is lost.
    expect(streamProblems(echoes, n + 1)).toEqual([]);
    const dropped = nodes.flatMap((node) => node.runs).reduce((sum, run) => sum + run.socket.stats.dropped, 0);
    expect(dropped).toBe(0);
    expect(resets).toEqual([]);
    const runs = nodes.flatMap((node) => node.runs);
    const moves = runs.filter((run) => run.moved).length;
    console.log(`[session-store] ${n} messages, ${proxy.stats.cuts} cuts, ${runs.length} handler runs (${moves} moved)`);
    expect(moves).toBeGreaterThanOrEqual(2);
    // One session throughout; every run it left heard why.
    expect(new Set(runs.map((run) => run.socket.sessionId)).size).toBe(1);
    const left = runs.filter((run) => run.closed !== undefined);
    expect(left.length).toBeGreaterThanOrEqual(moves - 1);
    for (const run of left) expect(run.closed).toEqual([4000, 'session moved to another node']);
  });

  test('what a node stored but never got through reaches the client from the next node, once and in order', { timeout: 60_000 }, async () => {
    const { shared, a, b, proxy, client, got, resets } = await twoNodesAndAClient();
    const onA = a.runs[0]!.socket;
    for (let i = 1; i <= 1_000; i++) onA.sendJson({ i });
    await waitFor(() => got.length === 1_000, 'the first thousand');
    // The link stalls: what node a sends now is stored, written, and never arrives.
    proxy.blackholeLinks();
    for (let i = 1_001; i <= 3_000; i++) onA.sendJson({ i });
    await waitFor(async () => Number(await redis.command('HGET', `lifeline:session:{${onA.sessionId}}`, 'l')) === 3_000, 'node a stored all 3,000');
    // The client comes back through node b.
    proxy.targetPort = b.running.port;
    proxy.cutAll();
    await waitFor(() => b.runs.length === 1 && got.length >= 3_000, 'the session resumed on node b with the rest');
    const onB = b.runs[0]!.socket;
    expect(b.runs[0]!.moved).toBe(true);
    expect(onB.sessionId).toBe(onA.sessionId);
    for (let i = 3_001; i <= 4_001; i++) onB.sendJson({ i }); // 4,001: a sentinel, after which nothing more comes
    await waitFor(() => got.includes(4_001), 'what node b sent');
    expect(streamProblems(got, 4_001)).toEqual([]);
    expect(resets).toEqual([]);
    await waitFor(() => a.runs[0]!.closed !== undefined, 'node a told that the session moved');
    expect(a.runs[0]!.closed).toEqual([4000, 'session moved to another node']);
    expect(onA.isOpen).toBe(false);
  });

  test('a node that shuts down hands its sessions off: the client resumes on another node with nothing lost', { timeout: 60_000 }, async () => {
    const { shared, a, b, proxy, client, got, resets } = await twoNodesAndAClient();
    const onA = a.runs[0]!.socket;
    // Both directions busy while node a goes down.
    for (let i = 1; i <= 2_000; i++) {
      onA.sendJson({ i });
      client.send({ i });
    }
    proxy.targetPort = b.running.port;
    await a.running.app.shutdown({ retryWindow: 0, drainTimeout: 5_000 });
    expect(a.runs[0]!.closed?.[0]).toBe(1012);
    await waitFor(() => b.runs.length === 1 && got.length >= 2_000 && shared.received.length >= 2_000, 'the session resumed on node b with everything');
    expect(b.runs[0]!.moved).toBe(true);
    // Sentinels both ways: a late duplicate of anything would come before them.
    b.runs[0]!.socket.sendJson({ i: 2_001 });
    client.send({ i: 2_001 });
    await waitFor(() => got.includes(2_001) && shared.received.includes(2_001), 'the sentinels');
    expect(streamProblems(got, 2_001)).toEqual([]);
    expect(streamProblems(shared.received, 2_001)).toEqual([]);
    expect(resets).toEqual([]);
  });

  test('resets across nodes: a wrong token, an unknown id, a session that ended', { timeout: 30_000 }, async () => {
    const shared: Shared = { received: [] };
    const [a, b] = [await startNode('a', shared), await startNode('b', shared)];
    const hello = async (url: string, sid?: string, tok?: string) => {
      const client = new LifelineTestClient(url);
      client.sid = sid;
      client.tok = tok;
      const welcome = (await client.connect())!;
      return { client, welcome };
    };
    const first = await hello(a.running.wsUrl('/s'));
    const { sid, tok } = first.welcome;
    await waitFor(async () => (await redis.command('EXISTS', `lifeline:session:{${sid}}`)) === ':1', 'the new session stored');
    first.client.drop();

    const wrong = await hello(b.running.wsUrl('/s'), sid, 'x'.repeat(43));
    expect(wrong.welcome.reset?.reason).toBe('bad-token');
    wrong.client.close();
    const nobody = await hello(b.running.wsUrl('/s'), 'A'.repeat(22), tok);
    expect(nobody.welcome.reset?.reason).toBe('unknown-session');
    nobody.client.close();

    // The right token on node b: resumed there, node a lets go.
    const moved = await hello(b.running.wsUrl('/s'), sid, tok);
    expect(moved.welcome.resumed).toBe(true);
    expect(moved.welcome.sid).toBe(sid);
    await waitFor(() => a.runs[0]?.closed !== undefined, 'node a let go');
    // Ended with 1000 on node b: gone from Redis, and node a cannot resume it.
    moved.client.ws!.close(1000);
    await waitFor(async () => (await redis.command('EXISTS', `lifeline:session:{${sid}}`)) === ':0', 'the ended session removed');
    const late = await hello(a.running.wsUrl('/s'), sid, tok);
    expect(late.welcome.reset?.reason).toBe('unknown-session');
    late.client.close();
  });

  test('a store that lost writes the client saw (a failover) gives a reset, never a gap', { timeout: 30_000 }, async () => {
    const shared: Shared = { received: [] };
    const [a, b] = [await startNode('a', shared), await startNode('b', shared)];
    const witness = new LifelineTestClient(a.running.wsUrl('/s'), { autoAck: false });
    await witness.connect();
    await waitFor(() => a.runs.length === 1, 'the session on node a');
    for (let i = 1; i <= 100; i++) a.runs[0]!.socket.sendJson({ i });
    await waitFor(() => witness.messages.length === 100, 'all 100 seen by the client');
    // Redis "forgets" the last 60 writes, as an asynchronous replica promoted too early would.
    const meta = `lifeline:session:{${witness.sid}}`;
    await redis.command('HSET', meta, 'l', '40');
    await redis.command('LTRIM', `${meta}:f`, '0', '39');
    witness.drop();
    const next = new LifelineTestClient(b.running.wsUrl('/s'));
    next.continueFrom(witness);
    const welcome = (await next.connect())!;
    expect(welcome).toMatchObject({ resumed: false, reset: { reason: 'unknown-session' } });
    expect(welcome.sid).not.toBe(witness.sid);
    expect(next.problems).toEqual([]);
    next.close();
  });
});
