/**
 * Issue 7's cross-node presence proof: a real redis-server and three Lifeline processes
 * (test/fixtures/redis/presence-node.mjs) with presence on `room:*`, members connected to
 * every node. Each watcher sees every node's members, `$presence` lists them all from any
 * node (a node started later too), and when a node is killed with SIGKILL its members
 * leave on the others within the bound docs/redis.md documents: presenceTtl + presenceTtl/3
 * + the channel's presence interval.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LifelineTestClient } from './support/lifeline-test-client.js';
import { startRedis, type RedisServer } from './support/redis.js';
import { timerLateness, waitFor } from './support/wait.js';

const NODE_SCRIPT = fileURLToPath(new URL('./fixtures/redis/presence-node.mjs', import.meta.url));
const TTL = 1500;
const INTERVAL = 100;
const BOUND = TTL + TTL / 3 + INTERVAL;
const CHANNEL = 'room:lobby';

interface PresenceNode {
  readonly child: ChildProcess;
  readonly port: number;
  readonly nodeId: string;
  readonly exited: Promise<unknown>;
}

async function startNode(redisUrl: string): Promise<PresenceNode> {
  const child = spawn(process.execPath, [NODE_SCRIPT, redisUrl, String(TTL), String(INTERVAL)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const [port, nodeId] = await new Promise<[number, string]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start; stderr: ${stderr.join('\n')}`)), 15_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^listening (\d+) (\S+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve([Number(match[1]), match[2]!]);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`node exited before listening; stderr: ${stderr.join('\n')}`));
    });
  });
  return { child, port, nodeId, exited };
}

/** A client with presence id `id` on `node`, in the channel's presence; tracks the members as an application would. */
class Member {
  readonly client: LifelineTestClient;
  private initial: string[] = [];

  constructor(
    readonly id: string,
    node: PresenceNode,
  ) {
    this.client = new LifelineTestClient(`ws://127.0.0.1:${node.port}/ws?id=${id}`);
  }

  async join(): Promise<void> {
    await this.client.connect();
    await this.client.request('$subscribe', { ch: CHANNEL, presence: true });
    this.initial = (await this.list()).map((m) => m.id);
  }

  async list(): Promise<{ id: string; info?: unknown }[]> {
    const answer = (await this.client.request('$presence', { ch: CHANNEL })) as { members: { id: string; info?: unknown }[]; count: number };
    expect(answer.count).toBe(answer.members.length);
    return answer.members;
  }

  /** The `$presence` list it started from, with every `pr` since applied. */
  seen(): string[] {
    const members = new Set(this.initial);
    for (const pr of this.client.presence) {
      for (const id of pr.leave) members.delete(id);
      for (const m of pr.join) members.add(m.id);
    }
    return [...members].sort();
  }
}

describe('presence across three Lifeline processes sharing one Redis', () => {
  let redis: RedisServer;
  const nodes: PresenceNode[] = [];
  const members: Member[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    nodes.push(...(await Promise.all([0, 1, 2].map(() => startNode(redis.url)))));
  }, 60_000);

  afterAll(async () => {
    for (const m of members) m.client.close();
    for (const node of nodes) if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.exited));
    await redis?.dispose();
  });

  it('shows every node’s members to every node, in $presence and as pr changes', async () => {
    // Two members per node, joining one after another across nodes.
    for (let k = 0; k < 2; k++) {
      for (const [i, node] of nodes.entries()) {
        const m = new Member(`n${i}-${k}`, node);
        members.push(m);
        await m.join();
      }
    }
    const everyone = members.map((m) => m.id).sort();
    for (const m of members) await waitFor(() => m.seen().join() === everyone.join(), `${m.id} to see all six (sees ${m.seen().join()})`, 5000);
    for (const m of members) expect((await m.list()).map((x) => x.id).sort()).toEqual(everyone);
    // info comes with the member from its node.
    const listed = await members[0]!.list();
    expect(new Set(listed.map((x) => (x.info as { pid: number }).pid)).size).toBe(3);
    // One member of each node in Redis, under that node's id.
    expect(await redis.command('HGET', `lifeline:{${CHANNEL}}:pm`, `${nodes[2]!.nodeId} n2-0`)).toMatch(/"pid"/);
  });

  it(`lets the members of a node killed with SIGKILL leave on the others within presenceTtl × 4/3 + interval (${BOUND} ms)`, async () => {
    const victim = nodes[2]!;
    const gone = members.filter((m) => m.id.startsWith('n2-')).map((m) => m.id);
    const survivors = members.filter((m) => !m.id.startsWith('n2-'));
    const remaining = survivors.map((m) => m.id).sort();
    // How late timers run meanwhile, here and on the surviving nodes (asked before and after).
    const lateHere = timerLateness();
    await Promise.all(survivors.map((m) => m.client.request('timer-lateness', null)));
    const killed = Date.now();
    process.kill(victim.child.pid!, 'SIGKILL');
    await victim.exited;
    const took = await Promise.all(
      survivors.map(async (m) => {
        await waitFor(() => m.seen().join() === remaining.join(), `${m.id} to see ${gone.join(', ')} leave (sees ${m.seen().join()})`, BOUND + 30_000, 5);
        return Date.now() - killed;
      }),
    );
    const lateThere = (await Promise.all(survivors.map((m) => m.client.request('timer-lateness', null)))) as number[];
    const late = Math.max(lateHere.stop(), ...lateThere);
    // On top of the bound: 750 ms for Redis and the sockets, and for each of the three timers on
    // the way (the lease, the sweep, the presence flush) the worst lateness measured meanwhile.
    expect(Math.max(...took), `timers ran up to ${Math.round(late)} ms late`).toBeLessThanOrEqual(BOUND + 750 + 3 * late);
    for (const m of survivors) {
      const leaves = m.client.presence.flatMap((pr) => pr.leave);
      expect(leaves.sort()).toEqual(gone);
      expect((await m.list()).map((x) => x.id).sort()).toEqual(remaining);
    }
    // Redis forgot the dead node too.
    expect(await redis.command('ZSCORE', `lifeline:{${CHANNEL}}:pn`, victim.nodeId)).toBe('$-1');
    expect(await redis.command('HGET', `lifeline:{${CHANNEL}}:pm`, `${victim.nodeId} n2-0`)).toBe('$-1');
  });

  it('gives a node started later the members of the others', async () => {
    const late = await startNode(redis.url);
    nodes.push(late);
    const m = new Member('late', late);
    members.push(m);
    await m.join();
    const expected = [...members.filter((x) => !x.id.startsWith('n2-')).map((x) => x.id)].sort();
    expect((await m.list()).map((x) => x.id).sort()).toEqual(expected);
    for (const other of members.filter((x) => !x.id.startsWith('n2-'))) await waitFor(() => other.seen().includes('late'), `${other.id} to see late join`);
  });
});
