/**
 * Issue 7's multi-node proof: a real redis-server (Debian's package, with an append-only
 * file so that it can come back with or without its data) on a free 127.0.0.1 port, three
 * Lifeline processes using @lifeline/redis (test/fixtures/redis/node.mjs), Lifeline-mode
 * clients spread over them. Publications come from every node (a request that makes the
 * server call app.publish) and from the HTTP API (POST /api/publish). Every client keeps
 * its channels as PROTOCOL.md §3.3 says a client must (drop duplicates, re-subscribe with
 * `since` on a gap, another epoch or a welcome), and the test checks what each one hands
 * its application: every publication exactly once and in order per channel, through
 *   1. steady state,
 *   2. one node killed (SIGKILL) mid-stream: its clients move to the others, which resume
 *      their sessions from Redis, and they recover every missed publication,
 *   3. Redis killed and restarted with its data: no reset and nothing lost,
 *   4. Redis restarted without its data: every client is told `reset: epoch`, never a
 *      silent gap.
 * All of it twice: three Node processes, and a mixed cluster of Node, Bun and Deno (each
 * runtime on its own server), where the node killed is Deno's and its sessions resume on
 * Node and Bun. Plus `lifeline serve --redis URL`: the command line's processes use Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Envelope, PublicationEnvelope } from '@lifeline/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LifelineTestClient } from './support/lifeline-test-client.js';
import { startRedis, type RedisServer } from './support/redis.js';
import { ensureRuntime, type ServerRuntime } from './support/runtimes.js';
import { spawnServe, stopProcess, type ServeProcess } from './support/servers.js';
import { sleep, waitFor, withTimeout } from './support/wait.js';

const NODE_SCRIPT = fileURLToPath(new URL('./fixtures/redis/node.mjs', import.meta.url));
const API_KEY = 'multi-node-test-api-key-0123456789';
const CHANNELS = ['mn:a', 'mn:b'] as const;

interface LifelineNode {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<unknown>;
  alive: boolean;
  /** A client on this node through which the test asks the server to publish. */
  publisher: LifelineTestClient;
}

/** One node of the cluster: the fixture, run by `runtime` (Bun and Deno from npm on first use). */
async function startNode(redisUrl: string, runtime: ServerRuntime): Promise<LifelineNode> {
  const command = runtime === 'node' ? { command: process.execPath, args: [] } : ensureRuntime(runtime);
  const child = spawn(command.command, [...command.args, NODE_SCRIPT, redisUrl, API_KEY], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node (${runtime}) did not start; stderr: ${stderr.join("\n")}`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^listening (\d+) (\w+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        if (match[2] === runtime) resolve(Number(match[1]));
        else reject(new Error(`the node meant for ${runtime} runs on ${match[2]}`));
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`node exited before listening; stderr: ${stderr.join('\n')}`));
    });
  });
  const publisher = new LifelineTestClient(`ws://127.0.0.1:${port}/ws`);
  await publisher.connect();
  return { child, port, exited, alive: true, publisher };
}

/**
 * The channel side of a Lifeline client, as PROTOCOL.md §3.3 asks of one, on top of the
 * test client's recorded envelopes: it follows the client it is attached to (and the next
 * one, on another node), and records what an application would be handed.
 */
class ChannelTracker {
  readonly channels = new Map<string, { ep: string | undefined; last: number; resyncing: boolean; delivered: { ep: string; o: number; d: unknown }[]; resets: { reason: string; ep: string; o: number }[] }>();
  duplicates = 0;
  private read = 0;

  constructor(
    public client: LifelineTestClient,
    readonly name: string,
  ) {
    for (const ch of CHANNELS) this.channels.set(ch, { ep: undefined, last: 0, resyncing: false, delivered: [], resets: [] });
  }

  /** Subscribes every channel (with `since` once it has a position). */
  subscribeAll(): void {
    for (const ch of this.channels.keys()) this.subscribe(ch);
  }

  /** Moves to another client (another node); its welcome triggers the re-subscriptions. */
  attach(client: LifelineTestClient): void {
    this.client = client;
    this.read = 0;
  }

  /** Handles what arrived since the last call, in arrival order. */
  pump(): void {
    const envelopes = this.client.envelopes;
    while (this.read < envelopes.length) this.handle(envelopes[this.read++]!);
  }

  private handle(e: Envelope): void {
    if (e.t === 'welcome') {
      // After every welcome, resumed or not: publications lost with the old connection show no gap.
      this.subscribeAll();
      return;
    }
    if (e.t === 'r' && e.d !== null && typeof e.d === 'object' && 'ch' in e.d && 'ep' in e.d) {
      const answer = e.d as { ch: string; ep: string; o: number; recovered?: boolean; reset?: string };
      const c = this.channels.get(answer.ch);
      if (!c) return;
      c.resyncing = false;
      if (answer.reset !== undefined) c.resets.push({ reason: answer.reset, ep: answer.ep, o: answer.o });
      // Recovered: the missed publications follow, so the position stays; otherwise start from the answer's.
      if (answer.recovered !== true) {
        c.ep = answer.ep;
        c.last = answer.o;
      }
      return;
    }
    if (e.t !== 'p') return;
    const p = e as PublicationEnvelope;
    const c = this.channels.get(p.ch);
    if (!c || c.resyncing) return;
    if (p.ep === c.ep && p.o <= c.last) {
      this.duplicates++;
      return;
    }
    if (p.ep !== c.ep || p.o !== c.last + 1) {
      this.subscribe(p.ch);
      return;
    }
    c.last = p.o;
    c.delivered.push({ ep: p.ep, o: p.o, d: p.d });
  }

  private subscribe(ch: string): void {
    const c = this.channels.get(ch)!;
    c.resyncing = true;
    const client = this.client;
    const since = c.ep === undefined ? {} : { since: { o: c.last, ep: c.ep } };
    client.request('$subscribe', { ch, ...since }).catch((error: Error & { code?: string }) => {
      // A new session rejects what the old one had pending; its welcome re-subscribes anyway.
      if (error.message === 'session reset' || client !== this.client) return;
      // LL_UNAVAILABLE while Redis is down: try again.
      setTimeout(() => {
        if (client === this.client && c.resyncing) this.subscribe(ch);
      }, 100).unref();
    });
  }
}

/**
 * Each cluster test: a few hundred publications one after another, each a round trip through
 * a node and Redis, plus node or Redis restarts. About 10 s on a quiet machine; the default
 * 30 s ran out on a loaded 2-core one (two CPU hogs, load 13). Every wait inside has its own
 * bound and message; this is the outer bound.
 */
const CLUSTER_TEST_MS = 180_000;
/** One publication's answer (through Redis, which a test may be restarting): generous. */
const PUBLISH_MS = 30_000;

/**
 * The cluster on Node alone, and mixed: Node, Bun and Deno (each on its own server,
 * docs/server.md "Runtimes") on one Redis. The node killed mid-stream is the third (Deno in
 * the mixed one): its sessions resume on Node and on Bun.
 */
const CLUSTERS: (readonly ServerRuntime[])[] = [
  ['node', 'node', 'node'],
  ['node', 'bun', 'deno'],
];

describe.each(CLUSTERS)('three Lifeline processes (%s, %s, %s) sharing one Redis', (...runtimes) => {
  /** Per channel: what the publishers were told, offset → data, per epoch. */
  const published = new Map<string, Map<string, Map<number, unknown>>>();
  /**
   * Per channel: publications whose publisher was told LL_UNAVAILABLE (or 503), by their `i`:
   * they may or may not have been published. Where a client got one, it must be at the same
   * position for every client, and at one position only.
   */
  const unacknowledged = new Map<string, Set<number>>();
  const unacknowledgedAt = new Map<string, Map<number, string>>();
  let failedPublishes = 0;

  function record(channel: string, epoch: string, offset: number, data: unknown): void {
    let epochs = published.get(channel);
    if (!epochs) published.set(channel, (epochs = new Map()));
    let offsets = epochs.get(epoch);
    if (!offsets) epochs.set(epoch, (offsets = new Map()));
    if (offsets.has(offset)) throw new Error(`offset ${offset} of ${channel} (epoch ${epoch}) was handed out twice`);
    offsets.set(offset, data);
  }

  let redis: RedisServer;
  const nodes: LifelineNode[] = [];
  const trackers: ChannelTracker[] = [];
  let pumpTimer: NodeJS.Timeout | undefined;
  let sequence = 0;

  beforeAll(async () => {
    redis = await startRedis({ persistent: true });
    nodes.push(...(await Promise.all(runtimes.map((runtime) => startNode(redis.url, runtime)))));
    // Three subscribers on each node.
    for (let i = 0; i < 9; i++) {
      const node = nodes[i % 3]!;
      const client = new LifelineTestClient(`ws://127.0.0.1:${node.port}/ws`);
      await client.connect();
      trackers.push(new ChannelTracker(client, `client ${i} (node ${i % 3})`));
    }
    pumpTimer = setInterval(() => trackers.forEach((t) => t.pump()), 2);
    await waitFor(() => trackers.every((t) => [...t.channels.values()].every((c) => c.ep !== undefined && !c.resyncing)), 'every client subscribed', 10_000);
  }, 600_000);

  afterAll(async () => {
    clearInterval(pumpTimer);
    for (const t of trackers) t.client.close();
    for (const node of nodes) {
      node.publisher.close();
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGKILL');
    }
    await Promise.all(nodes.map((n) => n.exited));
    await redis?.dispose();
  });

  /**
   * One publication, from node `via` (a request: the server calls app.publish) or over HTTP.
   * Only the refusal Redis being away causes (LL_UNAVAILABLE, HTTP 503) is not a failure of
   * the test: it is counted, and the checks then allow the publication to be there or not.
   * Anything else (another error, an offset handed out twice) fails the test.
   */
  async function publishOne(): Promise<void> {
    const i = ++sequence;
    const ch = CHANNELS[i % 2]!;
    const live = nodes.filter((n) => n.alive);
    const data = { i };
    let position: { offset: number; epoch: string } | undefined;
    if (i % 4 === 3) {
      const node = live[i % live.length]!;
      const response = await fetch(`http://127.0.0.1:${node.port}/api/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: ch, data }),
        signal: AbortSignal.timeout(PUBLISH_MS), // the answer and its body
      });
      const body = (await response.json()) as { offset: number; epoch: string; error?: { code?: string } };
      if (response.status === 200) position = body;
      else if (response.status !== 503) throw new Error(`publication ${i}: HTTP ${response.status} ${JSON.stringify(body)}`);
    } else {
      const answer = withTimeout(live[i % live.length]!.publisher.request('publish', { ch, d: data }), `the answer to publication ${i}`, PUBLISH_MS);
      position = (await answer.catch((error: Error & { code?: string }) => {
        if (error.code !== 'LL_UNAVAILABLE') throw new Error(`publication ${i}: ${error.code ?? ''} ${error.message}`);
        return undefined;
      })) as { offset: number; epoch: string } | undefined;
    }
    if (position) record(ch, position.epoch, position.offset, data);
    else {
      failedPublishes++;
      let set = unacknowledged.get(ch);
      if (!set) unacknowledged.set(ch, (set = new Set()));
      set.add(i);
    }
  }

  /** Publishes `count`, calling `at(k)` before the k-th (mid-stream events). */
  async function publishStream(count: number, events: Record<number, () => Promise<void>> = {}): Promise<void> {
    const happening: Promise<void>[] = [];
    for (let k = 0; k < count; k++) {
      const event = events[k];
      if (event) happening.push(event()); // the stream goes on while it happens
      await publishOne();
      if (k % 8 === 0) await sleep(1);
    }
    await Promise.all(happening);
  }

  /**
   * Every client has, per channel, the last offset any publisher was told, and then the
   * checks. Returns how many acknowledged publications some client was excused from (each
   * justified by a reset it was told of).
   */
  async function expectEveryoneComplete(): Promise<number> {
    let excusedMisses = 0;
    const finals = new Map<string, { epoch: string; offset: number }>();
    for (const ch of CHANNELS) {
      const epochs = [...(published.get(ch)?.entries() ?? [])];
      const [epoch, offsets] = epochs.at(-1)!;
      finals.set(ch, { epoch, offset: Math.max(...offsets.keys()) });
    }
    await waitFor(
      () =>
        trackers.every((t) =>
          CHANNELS.every((ch) => {
            const c = t.channels.get(ch)!;
            const final = finals.get(ch)!;
            return c.ep === final.epoch && c.last >= final.offset && !c.resyncing;
          }),
        ),
      `every client to hold the last publication of each channel (${JSON.stringify([...finals])})`,
      20_000,
    ).catch((error: Error) => {
      const behind = trackers.flatMap((t) =>
        CHANNELS.flatMap((ch) => {
          const c = t.channels.get(ch)!;
          const final = finals.get(ch)!;
          return c.ep === final.epoch && c.last >= final.offset && !c.resyncing ? [] : [`${t.name} ${ch}: at ${c.ep}/${c.last}${c.resyncing ? ', resyncing' : ''}`];
        }),
      );
      throw new Error(`${error.message}; behind: ${behind.join('; ')}`);
    });
    for (const t of trackers) {
      for (const ch of CHANNELS) {
        const c = t.channels.get(ch)!;
        // Within each epoch: consecutive offsets, no duplicates, each with the data its
        // publisher sent; a publication whose publisher was not told where it went is one of
        // those refused while Redis was away, at the same position for every client.
        let previous: { ep: string; o: number } | undefined;
        for (const d of c.delivered) {
          if (previous && previous.ep === d.ep) expect(d.o, `${t.name} ${ch}: ${d.o} after ${previous.o}`).toBe(previous.o + 1);
          const sent = published.get(ch)?.get(d.ep)?.get(d.o);
          if (sent !== undefined) expect(d.d, `${t.name} ${ch} offset ${d.o}`).toEqual(sent);
          else {
            const i = (d.d as { i?: unknown } | null)?.i as number;
            expect(unacknowledged.get(ch)?.has(i), `${t.name} ${ch} ${d.ep}/${d.o}: ${JSON.stringify(d.d)} was neither acknowledged there nor refused`).toBe(true);
            let at = unacknowledgedAt.get(ch);
            if (!at) unacknowledgedAt.set(ch, (at = new Map()));
            const where = `${d.ep}/${d.o}`;
            if (!at.has(i)) at.set(i, where);
            expect(at.get(i), `${t.name} ${ch}: publication ${i}`).toBe(where);
          }
          previous = d;
        }
        // Every acknowledged publication reached it, unless a reset told it that it could not:
        // those at or before the position a reset gave it, and the tail of an epoch it was
        // told (reset: epoch) it had to leave.
        const delivered = new Set(c.delivered.map((d) => `${d.ep}/${d.o}`));
        const lastIn = (ep: string) => Math.max(0, ...c.delivered.filter((d) => d.ep === ep).map((d) => d.o));
        for (const [ep, offsets] of published.get(ch) ?? []) {
          for (const o of offsets.keys()) {
            const excused = c.resets.some((r) => r.ep === ep && o <= r.o) || (c.resets.some((r) => r.reason === 'epoch' && r.ep !== ep) && o > lastIn(ep));
            if (excused && !delivered.has(`${ep}/${o}`)) excusedMisses++;
            if (!excused) expect(delivered.has(`${ep}/${o}`), `${t.name} ${ch}: publication ${ep}/${o}`).toBe(true);
          }
        }
      }
    }
    return excusedMisses;
  }

  /** Publications refused so far (each test checks how many it caused). */
  function failures(): number {
    return failedPublishes;
  }

  it('delivers publications from every node and from the HTTP API to every subscriber, exactly once and in order', { timeout: CLUSTER_TEST_MS }, async () => {
    await publishStream(200);
    expect(await expectEveryoneComplete()).toBe(0);
    for (const t of trackers) {
      for (const ch of CHANNELS) {
        expect(t.channels.get(ch)!.delivered.map((d) => d.o), `${t.name} ${ch}`).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
        expect(t.channels.get(ch)!.resets).toEqual([]);
      }
      // In steady state the server writes nothing twice either.
      expect(t.duplicates, t.name).toBe(0);
      expect(t.client.problems).toEqual([]);
    }
    expect(failedPublishes).toBe(0);
  });

  it('moves the clients of a killed node to the others, where they recover every publication they missed', { timeout: CLUSTER_TEST_MS }, async () => {
    const victim = nodes[2]!;
    const moved = trackers.filter((t) => t.client.url.includes(`:${victim.port}/`));
    expect(moved).toHaveLength(3);
    const before = moved.map((t) => t.channels.get('mn:a')!.last);
    // A client that never acknowledges: everything the victim sent it waits in its session, in Redis.
    const witness = new LifelineTestClient(`ws://127.0.0.1:${victim.port}/ws`, { autoAck: false });
    await witness.connect();
    await witness.request('burst', { n: 100 });
    await waitFor(() => witness.messages.length === 100, 'the burst');
    await publishStream(300, {
      100: async () => {
        victim.alive = false;
        process.kill(victim.child.pid!, 'SIGKILL');
        await victim.exited;
        // The witness says it saw only the first 40: the other node replays the rest from what the dead one stored.
        const resumed = new LifelineTestClient(`ws://127.0.0.1:${nodes[0]!.port}/ws`);
        resumed.continueFrom(witness);
        resumed.rx = 40;
        expect(await resumed.connect()).toMatchObject({ resumed: true, sid: witness.sid });
        await waitFor(() => resumed.messages.length === 60, 'the replayed burst');
        expect(resumed.messages).toEqual(Array.from({ length: 60 }, (_, k) => ({ burst: 41 + k })));
        expect(resumed.problems).toEqual([]);
        resumed.close();
        // Each client goes to another node with its session, which that node claims from Redis.
        await Promise.all(
          moved.map(async (t, k) => {
            const target = nodes[k % 2]!;
            const next = new LifelineTestClient(`ws://127.0.0.1:${target.port}/ws`);
            next.continueFrom(t.client);
            t.attach(next);
            const welcome = await next.connect();
            expect(welcome).toMatchObject({ resumed: true, sid: next.sid });
            expect(next.problems).toEqual([]);
          }),
        );
      },
    });
    expect(await expectEveryoneComplete()).toBe(0);
    for (const [k, t] of moved.entries()) {
      const c = t.channels.get('mn:a')!;
      expect(c.resets, t.name).toEqual([]);
      expect(c.last).toBeGreaterThan(before[k]! + 100);
    }
    expect(failedPublishes).toBe(0);
  });

  it('loses nothing and resets nothing when Redis is killed and comes back with its data', { timeout: CLUSTER_TEST_MS }, async () => {
    const epochs = CHANNELS.map((ch) => [...published.get(ch)!.keys()]);
    const failedBefore = failures();
    await publishStream(300, {
      100: () => redis.restart({ signal: 'SIGKILL' }),
    });
    // Nothing acknowledged is missing anywhere, nobody was excused from anything.
    expect(await expectEveryoneComplete()).toBe(0);
    // Still one epoch per channel, and nobody was told to reset.
    expect(CHANNELS.map((ch) => [...published.get(ch)!.keys()])).toEqual(epochs);
    for (const t of trackers) for (const ch of CHANNELS) expect(t.channels.get(ch)!.resets, `${t.name} ${ch}`).toEqual([]);
    // Refusals happen only while Redis is away (and are only LL_UNAVAILABLE or 503, see
    // publishOne): never all of the stream.
    const refused = failures() - failedBefore;
    console.log(`Redis killed and back with its data: ${refused} of 300 publications refused while it was away`);
    expect(refused).toBeLessThan(300);
  });

  it('tells every client reset: epoch when Redis comes back without its data, never a silent gap', { timeout: CLUSTER_TEST_MS }, async () => {
    const oldEpochs = new Map(CHANNELS.map((ch) => [ch, [...published.get(ch)!.keys()].at(-1)!]));
    const failedBefore = failures();
    await publishStream(300, {
      100: () => redis.restart({ signal: 'SIGKILL', wipe: true }),
    });
    const excused = await expectEveryoneComplete();
    const refused = failures() - failedBefore;
    // Each excused miss was justified by a reset the client was told of (expectEveryoneComplete).
    console.log(`Redis back without its data: ${refused} of 300 publications refused while it was away; ${excused} acknowledged ones excused by resets`);
    expect(refused).toBeLessThan(300);
    for (const ch of CHANNELS) {
      const newEpoch = [...published.get(ch)!.keys()].at(-1)!;
      expect(newEpoch).not.toBe(oldEpochs.get(ch));
      for (const t of trackers) {
        const c = t.channels.get(ch)!;
        expect(c.resets.map((r) => r.reason), `${t.name} ${ch}`).toContain('epoch');
        expect(c.resets.at(-1)!.ep).toBe(newEpoch);
        // From the reset on, every publication of the new epoch, in order.
        const after = c.delivered.filter((d) => d.ep === newEpoch).map((d) => d.o);
        const from = c.resets.at(-1)!.o;
        expect(after, `${t.name} ${ch}`).toEqual(Array.from({ length: after.length }, (_, i) => from + 1 + i));
      }
    }
  });
});

describe('lifeline serve --redis', () => {
  let redis: RedisServer;
  const serves: ServeProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(serves.map((s) => stopProcess(s)));
    await redis?.dispose();
  });

  it('keeps its channels in Redis, so that two processes agree on a channel’s position', async () => {
    serves.push(await spawnServe(['--redis', redis.url, '--log-level', 'silent']));
    // The second gets the URL from the environment, as a URL with a password should be given.
    serves.push(await spawnServeWithEnv({ LIFELINE_REDIS_URL: redis.url }));
    expect(serves[0]!.stdout.join('\n')).toMatch(/shared through Redis/);
    expect(serves[0]!.stdout.join('\n')).not.toContain(redis.url);
    const positions: { ep: string; o: number }[] = [];
    for (const serve of serves) {
      const client = new LifelineTestClient(serve.wsUrl('/echo'));
      await client.connect();
      positions.push((await client.request('$subscribe', { ch: 'serve:shared' })) as { ep: string; o: number });
      client.close();
    }
    expect(positions[1]).toEqual(positions[0]);
    expect(await redis.command('HGET', 'lifeline:{serve:shared}:m', 'e')).toBe(positions[0]!.ep);
  }, 180_000); // two process starts, each allowed a minute on a loaded machine
});

/** `lifeline serve` with extra environment variables. */
async function spawnServeWithEnv(env: Record<string, string>): Promise<ServeProcess> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await spawnServe(['--log-level', 'silent']);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
