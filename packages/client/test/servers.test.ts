import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { createClient, type LifelineClient, type WebSocketConstructor } from '@lifeline/client';
import { spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { afterTimersWithin, waitFor } from '../../../test/support/wait.js';
import { ensurePythonWebsockets, record, startPythonServer, stopPython, waitForStatus, type PythonServer } from './helpers.js';

/**
 * @lifeline/client (Node) against servers as they run: `lifeline serve` as its own process
 * (/echo, the seed route /test, SIGTERM and SIGKILL restarts) and Debian's
 * python3-websockets, a server nobody here wrote.
 */

const clients = new Set<LifelineClient<any, any>>();
const serves = new Set<ServeProcess>();
const pythons = new Set<PythonServer>();

function track<C extends LifelineClient<any, any>>(client: C): C {
  clients.add(client);
  return client;
}

async function serve(args: string[] = []): Promise<ServeProcess> {
  const s = await spawnServe(args);
  serves.add(s);
  return s;
}

async function python(port = 0): Promise<PythonServer> {
  const p = await startPythonServer(port);
  pythons.add(p);
  return p;
}

afterEach(async () => {
  for (const client of clients) client.close();
  clients.clear();
  for (const s of serves) await stopProcess(s);
  serves.clear();
  for (const p of pythons) await stopPython(p);
  pythons.clear();
});

const quick = { initialDelay: 50, factor: 2, maxDelay: 300, stableAfter: 100 };

describe('lifeline serve', () => {
  let shared: ServeProcess | undefined;
  beforeAll(async () => {
    shared = await spawnServe();
  });
  afterAll(async () => stopProcess(shared));

  test('/echo through an http:// URL: text, binary and JSON come back as sent', async () => {
    const client = track(createClient(shared!.httpUrl('/echo')));
    expect(client.url).toBe(shared!.wsUrl('/echo'));
    const log = record(client);
    await waitForStatus(client, 'open');
    client.send('plain ✓');
    client.send(new Uint8Array([1, 2, 3]));
    await waitFor(() => log.messages.length === 2, 'two echoes');
    expect(log.messages[0]!.data).toBe('plain ✓');
    expect([...(log.messages[1]!.data as Uint8Array)]).toEqual([1, 2, 3]);

    const json = track(createClient(shared!.wsUrl('/echo'), { codec: 'json' }));
    const jlog = record(json);
    json.send({ hello: 'lifeline', n: [1, 2] });
    await waitFor(() => jlog.messages.length === 1, 'a JSON echo');
    expect(jlog.messages[0]!.data).toEqual({ hello: 'lifeline', n: [1, 2] });
  });

  test('/test, the seed route, as the seed page uses it: JSON codec, heartCheck heartbeat filtered, RTT measured', async () => {
    const client = track(
      createClient(shared!.wsUrl('/test'), {
        codec: 'json',
        heartbeat: { message: 'heartCheck', reply: JSON.stringify('heartCheck'), interval: 100, timeout: 5000 },
      }),
    );
    const log = record(client);
    const started = Date.now();
    client.on('open', () => client.send(123));
    await waitFor(() => log.messages.length >= 3, 'the seed exchange');
    expect(log.messages.slice(0, 3).map((m) => m.data)).toEqual([111111111, '123', 111111111]);
    await waitFor(() => log.heartbeats.length >= 3, 'three heartbeats', 10_000);
    // A round trip measured by the client: at least 0, at most the time this took.
    expect(client.rtt).toBeGreaterThanOrEqual(0);
    expect(client.rtt).toBeLessThanOrEqual(Date.now() - started);
    expect(client.lastInboundAt).toBeGreaterThanOrEqual(started);
    // The heartbeat answers never reach the application, and nothing failed to parse.
    expect(log.messages.every((m) => m.error === undefined && m.data !== 'heartCheck')).toBe(true);
    expect(log.closes).toEqual([]);
  });
});

describe('heartbeat and a stalled event loop', () => {
  test('a probe answered while the event loop was blocked is not a death: the late check probes again instead', async () => {
    const server = await serve();
    // The platform WebSocket (ws) with one change: right after the 2nd and 3rd probe is on
    // the wire, the event loop blocks for 2.5 s (a long task, a frozen tab, a sleeping
    // laptop). The server's answer arrives meanwhile and waits in the socket buffer; after
    // the block Node runs expired timers before it polls sockets, so the heartbeat check
    // runs first and sees no answer yet (a naive check declares the link dead here).
    let probes = 0;
    class Stalling extends WebSocket {
      override send(data: unknown, ...rest: unknown[]): void {
        (super.send as (...args: unknown[]) => void)(data, ...rest);
        if (data === 'heartCheck' && ++probes >= 2 && probes <= 3) {
          setImmediate(() => {
            const until = Date.now() + 2500;
            while (Date.now() < until);
          });
        }
      }
    }
    const client = track(
      createClient(server.wsUrl('/test'), {
        WebSocket: Stalling as unknown as WebSocketConstructor,
        // The timeout leaves a loaded machine's server 1.5 s to answer; the block runs the
        // check 1 s past it, later than the client's threshold for a late timer (750 ms).
        heartbeat: { message: 'heartCheck', reply: JSON.stringify('heartCheck'), interval: 100, timeout: 1500 },
      }),
    );
    const log = record(client);
    await waitFor(() => probes >= 6, 'six probes', 20_000);
    expect(log.errors.filter((e) => e.code === 'LL_HEARTBEAT_TIMEOUT')).toEqual([]);
    expect(log.closes).toEqual([]);
    expect(log.opens).toBe(1);
    expect(log.heartbeats.length).toBeGreaterThanOrEqual(4);
  });
});

describe('lifeline serve restarts', () => {
  test('SIGTERM: close 1012 with a retry-after hint; the client waits at least the hint, then reconnects to the restarted server', async () => {
    const first = await serve(['--retry-window', '1500']);
    const port = first.port;
    const client = track(createClient(first.wsUrl('/echo'), { reconnect: quick }));
    const log = record(client);
    await waitForStatus(client, 'open');
    first.signal('SIGTERM');
    await waitFor(() => log.closes.length === 1, 'the 1012 close', 10_000);
    const close = log.closes[0]!;
    expect(close).toMatchObject({ code: 1012, wasClean: true, action: 'retry' });
    expect(close.reason).toMatch(/^server restart; retry-after=\d+$/);
    expect(close.hint).toBe(Number(/retry-after=(\d+)/.exec(close.reason)![1]));
    const waiting = log.states.find((s) => s.status === 'reconnecting')!;
    expect(waiting.nextAttemptAt! - close.at).toBeGreaterThanOrEqual(close.hint!);
    expect(await first.exited).toBe(0);
    await serve(['--port', String(port)]);
    await waitFor(() => log.opens === 2, 'the reconnect', 10_000);
    const reopened = log.states.filter((s) => s.status === 'connecting')[1]!;
    expect(reopened.since - close.at).toBeGreaterThanOrEqual(close.hint! - 5);
  });

  test('SIGKILL and restart on the same port: reconnect with backoff, outbox flushed in order', async () => {
    const first = await serve();
    const port = first.port;
    const client = track(createClient<string, string>(first.wsUrl('/echo'), { reconnect: quick }));
    const log = record(client);
    await waitForStatus(client, 'open');
    first.signal('SIGKILL');
    await first.exited;
    await waitForStatus(client, 'reconnecting');
    expect(client.state.lastClose).toMatchObject({ code: 1006, wasClean: false, action: 'retry' });
    const sent = Array.from({ length: 100 }, (_, i) => `m${i}`);
    for (const m of sent) client.send(m);
    await waitFor(() => log.states.filter((s) => s.status === 'connecting').length >= 3, 'a failed attempt against the dead port', 10_000);
    await serve(['--port', String(port)]);
    await waitFor(() => log.messages.length === sent.length, 'every queued message echoed', 10_000);
    expect(log.messages.map((m) => m.data)).toEqual(sent);
    expect(log.drops).toEqual([]);
  });
});

describe('python3-websockets server (Debian)', () => {
  beforeAll(() => ensurePythonWebsockets());

  test('echo: text, binary and JSON', async () => {
    const server = await python();
    const client = track(createClient(server.url(), { codec: 'json' }));
    const log = record(client);
    await waitForStatus(client, 'open');
    client.send({ from: 'node', ok: true });
    client.send(new Uint8Array([0, 255, 7]));
    await waitFor(() => log.messages.length === 2, 'two echoes', 10_000);
    expect(log.messages[0]!.data).toEqual({ from: 'node', ok: true });
    expect([...(log.messages[1]!.bytes as Uint8Array)]).toEqual([0, 255, 7]);
  });

  test('the server closes with 1008: the client stops and does not come back', async () => {
    const server = await python();
    const client = track(createClient<string, string>(server.url(), { reconnect: quick }));
    const log = record(client);
    await waitForStatus(client, 'open');
    client.send('close:1008:policy says no');
    await waitForStatus(client, 'closed', 10_000);
    expect(client.state.lastClose).toMatchObject({ code: 1008, reason: 'policy says no', action: 'stop' });
    // A retry would be due within reconnect.maxDelay: past it, the client never left closed.
    const states = log.states.length;
    await afterTimersWithin(quick.maxDelay);
    expect(log.states.slice(states)).toEqual([]);
    expect(server.events.filter((e) => e.event === 'open')).toHaveLength(1);
  });

  test('killed and restarted on the same port: the client reconnects and the outbox arrives in order', async () => {
    const first = await python();
    const client = track(createClient<string, string>(first.url(), { reconnect: quick }));
    await waitForStatus(client, 'open');
    await stopPython(first);
    await waitForStatus(client, 'reconnecting');
    const sent = Array.from({ length: 20 }, (_, i) => `py${i}`);
    for (const m of sent) client.send(m);
    const second = await python(first.port);
    await waitFor(() => second.events.filter((e) => e.event === 'message').length === sent.length, 'the flush', 10_000);
    expect(second.events.filter((e) => e.event === 'message').map((e) => e.text)).toEqual(sent);
  });

  test('heartbeat: protocol pings keep a quiet link alive; an app-level probe the server ignores ends it', async () => {
    const server = await python();
    const pinging = track(createClient(server.url(), { heartbeat: { interval: 100, timeout: 5000 } }));
    const plog = record(pinging);
    await waitFor(() => plog.heartbeats.length >= 3, 'pongs from python', 10_000);
    expect(plog.closes).toEqual([]);

    const probing = track(createClient(server.url(), { heartbeat: { message: 'are you there?', interval: 100, timeout: 200 }, reconnect: quick }));
    const log = record(probing);
    await waitForStatus(probing, 'open');
    probing.send('silent'); // the python handler stops answering on this connection
    await waitFor(() => log.errors.some((e) => e.code === 'LL_HEARTBEAT_TIMEOUT'), 'a heartbeat timeout', 10_000);
    await waitFor(() => log.opens === 2, 'a fresh connection', 10_000);
  });
});
