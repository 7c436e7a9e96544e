import { once } from 'node:events';
import { createClient, type LifelineClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { addResultsRoute, type EchoReply, type PiResult, type ReceiveLog, type RunInfo } from '../src/routes/results.js';
import { startChaosProxy } from '../../../test/support/chaos-proxy.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { afterTimersWithin, waitFor } from '../../../test/support/wait.js';

/** `/results`, the demo page's Lifeline route, driven by @lifeline/client in Node (and a raw `ws`). */

const INTERVAL = 40;
let server: RunningApp | undefined;
const clients: LifelineClient<unknown, unknown>[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await server?.stop();
  server = undefined;
});

async function connect(): Promise<{ client: LifelineClient<PiResult | EchoReply, unknown>; results: PiResult[]; echoes: EchoReply[] }> {
  server ??= await startApp((app) => addResultsRoute(app, '/results', { intervalMs: INTERVAL }));
  const client = createClient<PiResult | EchoReply, unknown>(server.wsUrl('/results'), { mode: lifeline() });
  clients.push(client as LifelineClient<unknown, unknown>);
  const results: PiResult[] = [];
  const echoes: EchoReply[] = [];
  client.on('message', ({ data }) => (data?.type === 'result' ? results.push(data) : data && echoes.push(data)));
  return { client, results, echoes };
}

describe('/results', () => {
  it('pushes a numbered estimate of π on its own, about one per interval', async () => {
    const { results } = await connect();
    await waitFor(() => results.length >= 5, 'five results', 10_000);
    expect(results.map((r) => r.step).slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    for (const r of results) {
      expect(r).toMatchObject({ type: 'result', run: 1, steps: null, batch: 20_000, done: false });
      expect(r.samples).toBe(r.step * 20_000);
      expect(r.error).toBeCloseTo(Math.abs(r.pi - Math.PI), 12);
      // Four standard deviations of the estimate after 20,000 samples: about 0.047.
      expect(r.error).toBeLessThan(0.05);
    }
  });

  it('request run starts a new run of the given length, which ends with done and then stops', async () => {
    const { client, results } = await connect();
    await waitFor(() => results.length >= 1, 'the first result');
    const info = (await client.request('run', { steps: 3, batch: 100 })) as RunInfo;
    expect(info).toEqual({ run: 2, steps: 3, batch: 100 });
    await waitFor(() => results.some((r) => r.run === 2 && r.done), 'the end of run 2');
    // Past the next intervals (the route's timer is in this process), then a request: its
    // answer comes after anything pushed meanwhile.
    await afterTimersWithin(2 * INTERVAL);
    await client.request('time');
    const run2 = results.filter((r) => r.run === 2);
    expect(run2.map((r) => [r.step, r.samples, r.done])).toEqual([
      [1, 100, false],
      [2, 200, false],
      [3, 300, true],
    ]);
    expect(results.at(-1)).toMatchObject({ run: 2, step: 3 }); // nothing after the end

    await expect(client.request('run', { steps: 0 })).rejects.toMatchObject({ code: 'LL_REQUEST_FAILED', remote: { code: 'BAD_REQUEST' } });
    await expect(client.request('run', { batch: 1.5 })).rejects.toMatchObject({ remote: { code: 'BAD_REQUEST', message: expect.stringContaining('batch') } });
    // null steps: until the next run.
    expect(await client.request('run', { steps: null })).toEqual({ run: 3, steps: null, batch: 20_000 });
  });

  it('echoes each message with its place in the session’s receive log, and history returns that log', async () => {
    const { client, echoes } = await connect();
    for (let seq = 1; seq <= 5; seq++) client.send({ seq, text: `m${seq}` });
    client.send('not numbered');
    await waitFor(() => echoes.length === 6, 'six echoes');
    expect(echoes).toEqual([
      ...[1, 2, 3, 4, 5].map((seq) => ({ type: 'echo', index: seq, seq, text: `m${seq}` })),
      { type: 'echo', index: 6, seq: null, text: 'not numbered' },
    ]);
    const log = (await client.request('history')) as ReceiveLog;
    expect(log.sessionId).toBe(client.session?.id);
    expect(log.total).toBe(6);
    expect(log.received.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, null]);
    const asked = Date.now();
    const time = (await client.request('time')) as { now: number };
    // The server's clock while it answered: between the question and the answer here.
    expect(time.now).toBeGreaterThanOrEqual(asked);
    expect(time.now).toBeLessThanOrEqual(Date.now());
  });

  it('echoes and logs the tab a numbered message names (tabs sharing one session number their own), not a label over 16 characters', async () => {
    const { client, echoes } = await connect();
    client.send({ seq: 1, text: 'from A', tab: 'A' });
    client.send({ seq: 1, text: 'from B', tab: 'B' });
    client.send({ seq: 2, text: 'too long', tab: 'x'.repeat(17) });
    await waitFor(() => echoes.length === 3, 'three echoes');
    expect(echoes).toEqual([
      { type: 'echo', index: 1, seq: 1, text: 'from A', tab: 'A' },
      { type: 'echo', index: 2, seq: 1, text: 'from B', tab: 'B' },
      { type: 'echo', index: 3, seq: 2, text: 'too long' },
    ]);
    const log = (await client.request('history')) as ReceiveLog;
    expect(log.received.map((r) => [r.seq, r.tab])).toEqual([
      [1, 'A'],
      [1, 'B'],
      [2, undefined],
    ]);
  });

  it('keeps computing while the connection is down; the results missed arrive in order on resume, none lost', async () => {
    server = await startApp((app) => addResultsRoute(app, '/results', { intervalMs: INTERVAL }));
    const proxy = await startChaosProxy({ targetPort: server.port, seed: 1 });
    proxy.chaos = false; // a plain proxy, cut only when told
    try {
      const client = createClient<PiResult, unknown>(`ws://127.0.0.1:${proxy.port}/results`, { mode: lifeline(), reconnect: { initialDelay: 200, maxDelay: 200 } });
      clients.push(client as LifelineClient<unknown, unknown>);
      const results: PiResult[] = [];
      client.on('message', ({ data }) => data?.type === 'result' && results.push(data));
      await waitFor(() => results.length >= 2, 'two results');
      const sessionId = client.session?.id;
      // Cut the TCP connection, not the session: the server keeps it for its resume window.
      proxy.cutAll();
      await waitFor(() => client.state.status !== 'open', 'the client to notice');
      const cutAt = results.length;
      await waitFor(() => client.state.status === 'open', 'the resume', 5000);
      await waitFor(() => results.length >= cutAt + 3, 'three more results');
      expect(client.session).toEqual({ id: sessionId, resumed: true });
      expect(results.map((r) => r.step)).toEqual(results.map((_, i) => i + 1));
    } finally {
      await proxy.close();
    }
  });

  it('a raw client gets the stream and the echo as JSON text', async () => {
    server = await startApp((app) => addResultsRoute(app, '/results', { intervalMs: INTERVAL }));
    const ws = new WebSocket(server.wsUrl('/results'));
    const got: { type: string }[] = [];
    ws.on('message', (data: Buffer) => got.push(JSON.parse(data.toString()) as { type: string }));
    await once(ws, 'open');
    ws.send(JSON.stringify({ seq: 1, text: 'raw' }));
    ws.send('plain text');
    await waitFor(() => got.filter((m) => m.type === 'echo').length === 2 && got.some((m) => m.type === 'result'), 'echoes and a result');
    expect(got.filter((m) => m.type === 'echo')).toEqual([
      { type: 'echo', index: 1, seq: 1, text: 'raw' },
      { type: 'echo', index: 2, seq: null, text: 'plain text' },
    ]);
    ws.close();
  });

  it('stops its stream when the session ends', async () => {
    const { client, results } = await connect();
    await waitFor(() => results.length >= 1, 'a result');
    const [session] = server!.app.sessions;
    // A send on an ended session is refused with a drop event: a timer left running would cause them.
    let drops = 0;
    session!.on('drop', () => drops++);
    client.close(); // 1000 ends a Lifeline session on the server
    await waitFor(() => server!.app.sessions.length === 0, 'the session to end');
    // Past the next intervals: a push timer left running would have tried to send by now.
    await afterTimersWithin(2 * INTERVAL);
    expect(drops).toBe(0);
  });
});
