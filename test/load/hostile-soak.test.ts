/**
 * Issue 14's soak: for 60 s, 20 hostile clients cycle through the adversarial suite's
 * inputs (hostile values in every Lifeline envelope field and both formats, as a first
 * frame and after a welcome; raw frames; POST /api/publish bodies) against `lifeline serve`
 * in a process of its own, beside 20 honest Lifeline clients (10 JSON, 10 MessagePack) that
 * echo numbered messages all along. The honest clients must lose, duplicate and reorder
 * nothing; every hostile input must get the outcome PROTOCOL.md gives it; and the process
 * must never restart: the same PID, no exit, no `uncaught-exception` line.
 *
 * Event-driven throughout: the hostile clients wait for each outcome, the honest ones for
 * their echoes; nothing is judged by how fast a loaded machine is, only that it finishes.
 * `HOSTILE_SOAK_SECONDS=10 npx vitest run test/load/hostile-soak.test.ts` runs a shorter one.
 */
import { request as httpRequest } from 'node:http';
import { encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HostileCounts, hostileValue, verdict, withTimeout, type Hostile } from '../support/hostile.js';
import { expectation, FIRST_FRAME_TEMPLATES, HandConnection, render, SESSION_TEMPLATES, type Format, type Template } from '../support/hostile-frames.js';
import { LifelineTestClient } from '../support/lifeline-test-client.js';
import { spawnServe, stopProcess, type ServeProcess } from '../support/servers.js';
import { waitFor } from '../support/wait.js';

const DURATION_MS = Number(process.env.HOSTILE_SOAK_SECONDS ?? 60) * 1000;
const HOSTILE = 20;
const HONEST = 20;
const HONEST_EVERY_MS = 50;
const KEY = 'hostile-soak-key-0123456';

const counts = new HostileCounts('soak: 20 hostile clients beside 20 honest ones');
const hostile = hostileValue((v) => msgpackEncode(v, { maxDepth: 1000 }));
const mismatches: string[] = [];
let proc: ServeProcess | undefined;

afterAll(async () => {
  counts.print();
  await stopProcess(proc);
}, 30_000);

type Input =
  | { kind: 'lifeline'; format: Format; first: boolean; t: Template; h: Hostile }
  | { kind: 'raw'; data: Buffer; binary: boolean }
  | { kind: 'http'; h: Hostile };

const input: fc.Arbitrary<Input> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('lifeline' as const), format: fc.constantFrom<Format>('json', 'msgpack'), first: fc.constant(false), t: fc.constantFrom(...SESSION_TEMPLATES), h: hostile }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('lifeline' as const), format: fc.constantFrom<Format>('json', 'msgpack'), first: fc.constant(true), t: fc.constantFrom(...FIRST_FRAME_TEMPLATES), h: hostile }) },
  { weight: 1, arbitrary: fc.tuple(hostile, fc.boolean()).map(([h, binary]): Input => ({ kind: 'raw', data: Buffer.from(binary ? h.msgpack : h.json), binary })) },
  { weight: 1, arbitrary: hostile.map((h): Input => ({ kind: 'http', h })) },
);

function describe(i: Input): string {
  if (i.kind === 'lifeline') return `${i.first ? 'first frame' : 'after the welcome'}: ${i.t.name} = ${i.h.label} (${i.format})`;
  if (i.kind === 'http') return `POST /api/publish with data = ${i.h.label}`;
  return `a raw ${i.binary ? 'binary' : 'text'} frame of ${i.data.length} bytes`;
}

/** One hostile input and the check of its outcome; a wrong outcome is recorded, not thrown, so that the soak goes on. */
async function attack(server: ServeProcess, i: Input): Promise<void> {
  counts.inputs++;
  if (i.kind === 'http') {
    const status = await post(server.httpUrl('/api/publish'), `{"channel":"soak","data":${i.h.json}}`);
    const want = verdict(i.h.stats, 64, 2).ok ? 200 : 400;
    if (status !== want) mismatches.push(`HTTP ${i.h.label}: ${status}, not ${want}`);
    return;
  }
  if (i.kind === 'raw') {
    const ws = new WebSocket(server.wsUrl('/echo'), { maxPayload: 0 });
    ws.on('error', () => {});
    const echoed = new Promise<void>((resolve) => ws.once('message', () => resolve()));
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    ws.send(i.data, { binary: i.binary });
    await Promise.race([echoed, closed]);
    ws.terminate();
    return;
  }
  const { format, t, h } = i;
  const conn = new HandConnection(server.wsUrl('/echo'), format);
  try {
    await conn.open();
    if (!i.first) await conn.hello();
    conn.send(render(t.frame(1), h, format));
    if (!i.first) conn.sendEnvelope({ t: 'm', s: t.numbered ? 2 : 1, d: 'probe' });
    const want = expectation(t, h, format);
    const what = `${t.name} = ${h.label} (${format})`;
    if (want.kind === 'reply') {
      await conn.next(want.reply, what);
      if (!i.first) await conn.next((e) => e.t === 'm' && e.d === 'probe', `the probe after ${what}`);
    } else {
      const close = await conn.closeInstead((e) => (e.t === 'm' && e.d === 'probe') || e.t === 'welcome', what);
      const code = want.kind === 'refuse' ? 1007 : want.code;
      const reasonOk = want.kind === 'refuse' ? want.reasons.some((r) => r.test(close.reason)) : want.reason.test(close.reason);
      const error = conn.errors.at(-1);
      if (close.code !== code || !reasonOk || error?.code !== close.code || error?.message !== close.reason) {
        mismatches.push(`${what}: closed ${close.code} "${close.reason}", expected ${code}`);
      }
    }
  } catch (error) {
    mismatches.push(`${i.kind} ${t.name} = ${h.label} (${format}): ${(error as Error).message}`);
  } finally {
    conn.close();
  }
}

/**
 * POST on a connection of its own (no keep-alive): fetch's pool may reuse a connection the
 * server is closing as idle, which on a loaded machine (timers late on both sides) fails the
 * request with nothing wrong on the server.
 */
function post(url: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', agent: false, headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' } }, (response) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode!));
      response.once('error', reject);
    });
    request.once('error', reject);
    request.end(body);
  });
}

it(`${HOSTILE} hostile clients beside ${HONEST} honest ones for ${DURATION_MS / 1000} s: the honest lose, duplicate and reorder nothing; the process never restarts`, async () => {
  const server = (proc = await spawnServe(['--api-key', KEY]));
  const pid = server.child.pid;
  let exited: unknown;
  void server.exited.then((code) => (exited = code));

  const honest = await Promise.all(
    Array.from({ length: HONEST }, async (_, k) => {
      const client = new LifelineTestClient(server.wsUrl('/echo'), { format: k % 2 === 0 ? 'json' : 'msgpack' });
      await client.connect();
      return { client, sent: 0 };
    }),
  );
  const deadline = Date.now() + DURATION_MS;
  // The honest clients: a numbered message every 50 ms each until the deadline.
  const honestDone = Promise.all(
    honest.map(
      (h) =>
        new Promise<void>((resolve) => {
          const tick = () => {
            if (Date.now() >= deadline) return resolve();
            h.client.send({ n: ++h.sent });
            setTimeout(tick, HONEST_EVERY_MS);
          };
          tick();
        }),
    ),
  );
  // The hostile clients: one input after another until the deadline, each waiting for its outcome.
  const hostileDone = Promise.all(
    Array.from({ length: HOSTILE }, async () => {
      while (Date.now() < deadline && exited === undefined) {
        const [i] = fc.sample(input, 1);
        counts.cases++;
        // A hang detector, not a speed test: 20 workers share this process with 20 honest clients on a loaded machine.
        await withTimeout(attack(server, i!), describe(i!), 120_000).catch((error: Error) => mismatches.push(error.message));
        if (exited === undefined) counts.survivals++;
      }
    }),
  );
  await Promise.all([honestDone, hostileDone]);

  // Everything the honest clients sent comes back, once, in order.
  await waitFor(() => honest.every((h) => h.client.messages.length >= h.sent), 'every honest echo', 60_000);
  for (const [k, h] of honest.entries()) {
    expect(h.client.messages.map((m) => (m as { n: number }).n), `honest client ${k}`).toEqual(Array.from({ length: h.sent }, (_, i) => i + 1));
    expect(h.client.problems, `honest client ${k}`).toEqual([]);
    expect(h.client.duplicates, `honest client ${k}`).toBe(0);
    h.client.close();
  }
  const honestMessages = honest.reduce((n, h) => n + h.sent, 0);
  console.log(`[hostile] soak: ${counts.cases} hostile inputs in ${DURATION_MS / 1000} s beside ${honestMessages} honest messages, each echoed once in order`);

  expect(mismatches).toEqual([]);
  expect(exited, `lifeline serve exited: ${server.stderr.slice(-5).join('\n')}`).toBeUndefined();
  expect(server.child.pid).toBe(pid);
  expect(server.child.exitCode).toBeNull();
  expect(server.stderr.filter((line) => line.includes('uncaught-exception'))).toEqual([]);
  expect((await fetch(server.httpUrl('/healthz'))).status).toBe(200);
}, DURATION_MS + 300_000);
