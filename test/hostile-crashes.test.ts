/**
 * The three ways one peer could take `lifeline serve` down or wedge a session (issue 14),
 * each against the real CLI in a process of its own, so that "the process is alive" is
 * observable: its exit code stays null and its health endpoint answers.
 *
 * 1. one Lifeline `m` whose `d` nests 5,000 deep, on /echo and /results, in-memory and
 *    with Redis (it crashed in JSON.stringify);
 * 2. a poisoned `POST /api/publish` (it used up an offset, answered 500, and every later
 *    recovery with `since` crashed replaying it);
 * 3. a message over maxPayload in Lifeline mode (1009 without a reason or an error
 *    envelope; the client numbered it and resent it on every resume).
 */
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, type LifelineClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import WebSocket from 'ws';
import { LifelineTestClient } from './support/lifeline-test-client.js';
import { startRedis, type RedisServer } from './support/redis.js';
import { spawnServe, stopProcess, type ServeProcess } from './support/servers.js';
import { waitFor } from './support/wait.js';

const KEY = 'hostile-key-0123456789';
let proc: ServeProcess | undefined;
let redis: RedisServer | undefined;
const closers: (() => unknown)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await stopProcess(proc);
  await redis?.dispose();
  proc = redis = undefined;
});

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** The server process still runs and serves HTTP. */
async function expectAlive(p: ServeProcess): Promise<void> {
  expect(p.child.exitCode, `lifeline serve exited; stderr: ${p.stderr.join('\n')}`).toBeNull();
  const health = await fetch(p.httpUrl('/healthz'));
  expect(health.status).toBe(200);
}

/** An honest Lifeline client on `path` that echoes a numbered message; kept open beside the hostile one. */
async function honestClient(p: ServeProcess, path: string): Promise<LifelineTestClient> {
  const honest = new LifelineTestClient(p.wsUrl(path));
  closers.push(() => honest.close());
  await honest.connect();
  return honest;
}

async function expectHonestServed(honest: LifelineTestClient, text: string): Promise<void> {
  honest.send(text);
  await waitFor(() => honest.messages.some((m) => m === text || (m as { text?: unknown } | null)?.text === text), `echo of ${text}`, 10_000);
  expect(honest.problems).toEqual([]);
}

/** Opens a Lifeline connection by hand, says hello, and sends `frame` after the welcome. Resolves with what came back and the close. */
async function sendAfterWelcome(url: string, format: 'json' | 'msgpack', frame: string | Uint8Array) {
  const ws = new WebSocket(url, [format === 'json' ? 'lifeline.v1' : 'lifeline.v1.msgpack']);
  closers.push(() => ws.terminate());
  const received: Buffer[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const welcome = new Promise<void>((resolve) => ws.once('message', () => resolve()));
  ws.on('message', (data: Buffer) => received.push(data));
  ws.send(format === 'json' ? '{"t":"hello","v":1}' : msgpackEncode({ t: 'hello', v: 1 }), { binary: format === 'msgpack' });
  await welcome;
  ws.send(frame, { binary: typeof frame !== 'string' });
  const close = await closed;
  const decode = (b: Buffer): unknown => (format === 'json' ? JSON.parse(b.toString()) : msgpackDecode(b));
  return { close, envelopes: received.map(decode) as Record<string, unknown>[] };
}

describe('issue 14: what crashed or wedged lifeline serve', () => {
  for (const [route, format] of [
    ['/echo', 'json'],
    ['/results', 'json'],
    ['/echo', 'msgpack'],
  ] as const) {
    it(`an m whose d nests 5,000 deep on ${route} (${format}): error envelope and 1007 with a reason; the process and an honest client carry on`, async () => {
      proc = await spawnServe();
      const honest = await honestClient(proc, route);
      const frame =
        format === 'json'
          ? `{"t":"m","s":1,"d":${nested(5000)}}`
          : Buffer.concat([Buffer.from([0x83, 0xa1, 0x74, 0xa1, 0x6d, 0xa1, 0x73, 0x01, 0xa1, 0x64]), Buffer.alloc(5000, 0x91), Buffer.from([0xc0])]);
      const { close, envelopes } = await sendAfterWelcome(proc.wsUrl(route), format, frame);
      expect(close.code).toBe(1007);
      expect(close.reason).toMatch(/deeper than 64/);
      expect(envelopes.at(-1)).toEqual({ t: 'error', code: 1007, message: close.reason });
      await expectHonestServed(honest, 'still here');
      await expectAlive(proc);
    });
  }

  it('the same on a Redis-backed node (lifeline serve --redis)', async () => {
    redis = await startRedis();
    proc = await spawnServe(['--redis', redis.url]);
    const honest = await honestClient(proc, '/echo');
    for (const depth of [5000, 100_000]) {
      const { close, envelopes } = await sendAfterWelcome(proc.wsUrl('/echo'), 'json', `{"t":"m","s":1,"d":${nested(depth)}}`);
      expect(close.code).toBe(1007);
      expect(envelopes.at(-1)).toMatchObject({ t: 'error', code: 1007 });
    }
    await expectHonestServed(honest, 'redis still here');
    await expectAlive(proc);
  });

  it('POST /api/publish with data nested 5,000 deep: 400 with a JSON error, no offset used; recovery with since works', async () => {
    proc = await spawnServe(['--api-key', KEY]);
    const post = (body: string) =>
      fetch(proc!.httpUrl('/api/publish'), { method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' }, body });
    const poisoned = await post(`{"channel":"results","data":${nested(5000)}}`);
    expect(poisoned.status).toBe(400);
    expect(await poisoned.json()).toMatchObject({ error: { code: 'LL_TOO_DEEP', message: expect.stringMatching(/deeper than 64/) } });
    const good = await post('{"channel":"results","data":{"step":1}}');
    expect(good.status).toBe(200);
    const position = (await good.json()) as { offset: number; epoch: string };
    expect(position.offset).toBe(1); // the refused one used no offset
    const subscriber = await honestClient(proc, '/echo');
    const answer = await subscriber.request('$subscribe', { ch: 'results', since: { o: 0, ep: position.epoch } });
    expect(answer).toMatchObject({ ch: 'results', recovered: true, o: 1 });
    await waitFor(() => subscriber.publications.length === 1, 'the recovered publication');
    expect(subscriber.publications[0]).toMatchObject({ o: 1, d: { step: 1 } });
    await expectAlive(proc);
  });

  it('1009 in Lifeline mode: welcome announces max.size; the server closes 1009 with an error envelope and a reason', async () => {
    proc = await spawnServe(['--max-payload', '2000']);
    const probe = new LifelineTestClient(proc.wsUrl('/echo'));
    closers.push(() => probe.close());
    const welcome = await probe.connect();
    expect(welcome).toMatchObject({ max: { size: 2000, depth: 64 } });
    const { close, envelopes } = await sendAfterWelcome(proc.wsUrl('/echo'), 'json', `{"t":"m","s":1,"d":"${'x'.repeat(3000)}"}`);
    expect(close.code).toBe(1009);
    expect(close.reason).toMatch(/2000 bytes/);
    expect(envelopes.at(-1)).toEqual({ t: 'error', code: 1009, message: close.reason });
    await expectAlive(proc);
  });

  it('@lifeline/client refuses a message over max.size at send(): a drop with LL_TOO_LARGE, never numbered; the session carries on', async () => {
    proc = await spawnServe(['--max-payload', '2000']);
    const client: LifelineClient = createClient(proc.wsUrl('/echo'), { mode: lifeline() });
    closers.push(() => client.close());
    const drops: { reason: string; error?: { code: string } }[] = [];
    const received: unknown[] = [];
    client.on('drop', (d) => drops.push(d as never));
    client.on('message', (m) => received.push(m.data));
    await new Promise<void>((resolve) => {
      const off = client.on('open', () => {
        off();
        resolve();
      });
    });
    expect(client.send('x'.repeat(3000))).toBe(false);
    expect(drops).toEqual([expect.objectContaining({ reason: 'too-large', error: expect.objectContaining({ code: 'LL_TOO_LARGE' }) })]);
    client.send('small');
    await waitFor(() => received.includes('small'), 'the echo of the next message');
    expect(client.state.status).toBe('open');
    expect(received).toEqual(['small']);
    await expectAlive(proc);
  });
});
