import { once } from 'node:events';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { createClient, type LifelineClient } from '@lifeline/client';
import { afterTimersWithin, waitFor } from '../../../test/support/wait.js';
import { BareServer, record, waitForStatus } from './helpers.js';

/**
 * @lifeline/client in Node (ws underneath) against a bare `ws` server and raw TCP servers on
 * 127.0.0.1: codecs, outbox, reconnect, close policy, heartbeat.
 */

const clients = new Set<LifelineClient<any, any>>();
const servers = new Set<BareServer>();
const netServers = new Set<NetServer>();

afterEach(async () => {
  for (const client of clients) client.close();
  clients.clear();
  for (const server of servers) await server.kill();
  servers.clear();
  for (const server of netServers) {
    server.close();
    (server as NetServer & { sockets?: Set<Socket> }).sockets?.forEach((s) => s.destroy());
  }
  netServers.clear();
});

function track<C extends LifelineClient<any, any>>(client: C): C {
  clients.add(client);
  return client;
}

async function bare(options?: ConstructorParameters<typeof BareServer>[0]): Promise<BareServer> {
  const server = await new BareServer(options).start();
  servers.add(server);
  return server;
}

/** Fast reconnects for tests: windows of tens of ms. */
const quick = { initialDelay: 50, factor: 2, maxDelay: 200, stableAfter: 100 };

/**
 * A TCP server that completes the WebSocket handshake by hand and then never sends a byte
 * (not even a pong): a server that hangs after the upgrade.
 */
async function silentServer(answerUpgrade = true): Promise<{ port: number; sockets: Set<Socket>; accepted: () => number }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createNetServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk) => {
      if (!answerUpgrade || head.includes('\r\n\r\n')) return; // swallow frames
      head += chunk.toString('latin1');
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1];
      if (!head.includes('\r\n\r\n') || !key) return;
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    });
  });
  (server as NetServer & { sockets?: Set<Socket> }).sockets = sockets;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  netServers.add(server);
  return { port: (server.address() as AddressInfo).port, sockets, accepted: () => accepted };
}

describe('codecs', () => {
  test('text codec: a value that is neither text nor bytes fails at send() with LL_ENCODE_FAILED, queued or not', () => {
    const client = track(createClient('ws://127.0.0.1:9/', { autoOpen: false }));
    expect(() => client.send({ not: 'text' })).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED' }));
    expect(() => client.send(42)).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED' }));
    expect(client.queued).toBe(0);
  });

  test('text codec: strings stay strings, bytes stay bytes, in order', async () => {
    const server = await bare();
    const client = track(createClient(server.url()));
    const log = record(client);
    await waitForStatus(client, 'open');
    client.send('héllo ✓');
    client.send(new Uint8Array([0, 1, 2, 255]));
    client.send(new Uint8Array([9, 8, 7]).buffer);
    await waitFor(() => log.messages.length === 3, '3 echoes');
    expect(log.messages[0]).toMatchObject({ data: 'héllo ✓', text: 'héllo ✓' });
    expect(log.messages[0]!.error).toBeUndefined();
    expect(log.messages[1]!.data).toBeInstanceOf(Uint8Array);
    expect([...(log.messages[1]!.data as Uint8Array)]).toEqual([0, 1, 2, 255]);
    expect([...(log.messages[2]!.bytes as Uint8Array)]).toEqual([9, 8, 7]);
  });

  test('json codec: values round-trip; a message that is not JSON arrives with its text and LL_INVALID_JSON, and the link lives on', async () => {
    const server = await bare({ echo: false });
    const client = track(createClient<unknown, unknown>(server.url(), { codec: 'json' }));
    const log = record(client);
    await waitForStatus(client, 'open');
    client.send({ a: 1, list: [true, null, 'x'] });
    client.send('a string');
    await waitFor(() => server.received.length === 2, 'two frames at the server');
    expect(server.received).toEqual(['{"a":1,"list":[true,null,"x"]}', '"a string"']);
    server.broadcast('{"n": 1}');
    server.broadcast('not json {');
    server.broadcast('111111111');
    server.broadcast('');
    await waitFor(() => log.messages.length === 4, '4 messages');
    expect(log.messages[0]).toMatchObject({ data: { n: 1 } });
    expect(log.messages[1]).toMatchObject({ data: undefined, text: 'not json {' });
    expect(log.messages[1]!.error).toMatchObject({ name: 'LifelineError', code: 'LL_INVALID_JSON' });
    expect(log.messages[2]).toMatchObject({ data: 111111111 });
    expect(log.messages[3]!.error?.code).toBe('LL_INVALID_JSON');
    // Still connected, still working.
    expect(client.state.status).toBe('open');
    server.broadcast('[1,2]');
    await waitFor(() => log.messages.length === 5, 'a fifth message');
    expect(log.messages[4]!.data).toEqual([1, 2]);
    expect(log.closes).toEqual([]);
    // A value JSON cannot encode fails at once, with a stable code.
    expect(() => client.send(undefined)).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED' }));
    expect(() => client.send({ big: 1n })).toThrow(expect.objectContaining({ code: 'LL_ENCODE_FAILED' }));
  });

  test('a custom codec whose decode throws: LL_DECODE_FAILED on the message, the link lives on', async () => {
    const server = await bare();
    const client = track(
      createClient<number, number>(server.url(), {
        codec: {
          encode: (n) => String(n),
          decode: (frame) => {
            const n = Number(frame);
            if (Number.isNaN(n)) throw new Error('not a number');
            return n;
          },
        },
      }),
    );
    const log = record(client);
    await waitForStatus(client, 'open');
    client.send(42);
    server.broadcast('nope');
    await waitFor(() => log.messages.length === 2, 'two messages');
    expect(log.messages.find((m) => m.text === '42')?.data).toBe(42);
    const bad = log.messages.find((m) => m.text === 'nope')!;
    expect(bad.error?.code).toBe('LL_DECODE_FAILED');
    expect(bad.error?.message).toContain('not a number');
    expect(client.state.status).toBe('open');
  });
});

describe('reconnect', () => {
  test('server killed and restarted on the same port: the client reconnects with backoff and flushes its outbox in order', async () => {
    const server = await bare();
    const client = track(createClient(server.url(), { reconnect: quick }));
    const log = record(client);
    await waitForStatus(client, 'open');
    client.send('before');
    await waitFor(() => server.received.includes('before'), 'first message');
    await afterTimersWithin(quick.stableAfter); // a stable link: the count starts again at 1
    await server.kill();
    await waitForStatus(client, 'reconnecting');
    expect(client.state.lastClose).toMatchObject({ code: 1006, wasClean: false, action: 'retry' });
    // Sent while the server is down: queued, in order.
    for (let i = 0; i < 50; i++) expect(client.send(`queued-${i}`)).toBe(true);
    expect(client.queued).toBe(50);
    const failedAttempts = () => log.states.filter((s) => s.status === 'connecting').length - 1;
    await waitFor(() => failedAttempts() >= 2 && client.state.status === 'reconnecting', 'two failed attempts against the closed port');
    await server.start();
    await waitFor(() => server.received.length === 51, 'the outbox to flush', 10_000);
    expect(server.received).toEqual(['before', ...Array.from({ length: 50 }, (_, i) => `queued-${i}`)]);
    expect(client.queued).toBe(0);
    expect(log.drops).toEqual([]);
    // Delays grew with the failures and never exceeded the ceiling.
    const waits = log.states.filter((s) => s.status === 'reconnecting').map((s) => s.nextAttemptAt! - s.since);
    for (const w of waits) expect(w).toBeLessThanOrEqual(quick.maxDelay);
    expect(log.states.filter((s) => s.status === 'reconnecting').map((s) => s.attempt)).toEqual(
      Array.from({ length: waits.length }, (_, i) => i + 1),
    );
  });

  test('after close() nothing reconnects, and no timer or socket is left', async () => {
    const server = await bare();
    const client = track(createClient(server.url(), { reconnect: quick }));
    const log = record(client);
    await waitForStatus(client, 'open');
    client.close(1000, 'bye');
    expect(client.state).toMatchObject({ status: 'closed', lastClose: { code: 1000, reason: 'bye', action: 'stop' } });
    const states = log.states.length;
    await waitFor(() => server.live.size === 0, 'the server to see the close');
    // Any retry the client had scheduled would be due within reconnect.maxDelay: past it, the
    // client has not moved from closed (a retry starts by going to connecting), and the
    // server has seen no connection but the first.
    await afterTimersWithin(quick.maxDelay);
    expect(log.states.slice(states)).toEqual([]);
    expect(client.state.status).toBe('closed');
    expect(server.connections).toBe(1);
    // close() twice is harmless; invalid codes and reasons fail with stable codes.
    client.close();
    expect(() => client.close(1001)).toThrow(expect.objectContaining({ code: 'LL_INVALID_CLOSE_CODE' }));
    expect(() => client.close(1000, 'x'.repeat(124))).toThrow(expect.objectContaining({ code: 'LL_CLOSE_REASON_TOO_LONG' }));
  });

  test('close() while the retry timer runs cancels it (no reconnect after close)', async () => {
    const server = await bare();
    const client = track(createClient(server.url(), { reconnect: { initialDelay: 300, maxDelay: 300 } }));
    await waitForStatus(client, 'open');
    const port = server.port;
    await server.kill();
    await waitForStatus(client, 'reconnecting');
    const log = record(client);
    client.close();
    await server.start(port);
    // The retry timer was due within 300 ms: past that, had it survived close(), the client
    // would have gone to connecting.
    await afterTimersWithin(300);
    expect(log.states.slice(1).map((s) => s.status)).toEqual(['closed']);
    expect(client.state.status).toBe('closed');
    expect(server.connections).toBe(1);
  });

  test('a "don\'t retry" code (1008 from the server) stops the client; the default policy table', async () => {
    const server = await bare({ onConnection: (ws) => ws.on('message', (d) => String(d) === 'violate' && ws.close(1008, 'rate limit')) });
    const client = track(createClient(server.url(), { reconnect: quick }));
    const log = record(client);
    await waitForStatus(client, 'open');
    client.send('violate');
    await waitForStatus(client, 'closed');
    expect(client.state.lastClose).toMatchObject({ code: 1008, reason: 'rate limit', wasClean: true, action: 'stop' });
    expect(log.closes).toHaveLength(1);
    const states = log.states.length;
    // A retry would be due within reconnect.maxDelay; past it the client is still closed.
    await afterTimersWithin(quick.maxDelay);
    expect(log.states.slice(states)).toEqual([]);
    expect(server.connections).toBe(1);
    // open() again is allowed after a stop.
    client.open();
    await waitForStatus(client, 'open');
    expect(client.state.attempt).toBe(1);
  });

  test('server 1000 and 1011 retry; 4000-4999 retry by default; a policy function can stop on an app code', async () => {
    let closeWith: [number, string] = [1000, 'done'];
    const server = await bare({ onConnection: (ws) => ws.on('message', () => ws.close(...closeWith)) });
    const client = track(createClient(server.url(), { reconnect: quick }));
    await waitForStatus(client, 'open');
    for (const code of [1000, 1011, 4001]) {
      closeWith = [code, `code ${code}`];
      client.send('close me');
      await waitFor(() => client.state.lastClose?.code === code, `close ${code}`);
      expect(client.state.lastClose!.action).toBe('retry');
      await waitForStatus(client, 'open');
    }
    client.close();
    const stopper = track(
      createClient(server.url(), {
        reconnect: quick,
        closePolicy: ({ code }) => (code === 4001 ? 'stop' : 'retry'),
      }),
    );
    await waitForStatus(stopper, 'open');
    closeWith = [4001, 'unauthorised'];
    stopper.send('close me');
    await waitForStatus(stopper, 'closed');
    expect(stopper.state.lastClose).toMatchObject({ code: 4001, action: 'stop' });
  });

  test('reauth: the url function is asked again and the retry is immediate once', async () => {
    const server = await bare({ onConnection: (ws) => ws.on('message', () => ws.close(4401, 'token expired')) });
    const urls: string[] = [];
    let token = 0;
    const client = track(
      createClient(
        async () => {
          token++;
          urls.push(`token=${token}`);
          return server.url(`/?token=${token}`);
        },
        { reconnect: { ...quick, initialDelay: 5000, maxDelay: 5000 }, closePolicy: ({ code }) => (code === 4401 ? 'reauth' : 'retry') },
      ),
    );
    const log = record(client);
    await waitForStatus(client, 'open');
    expect(client.url).toBe(server.url('/?token=1'));
    client.send('expire me');
    await waitFor(() => client.state.lastClose?.code === 4401, 'the 4401 close');
    expect(client.state.lastClose!.action).toBe('reauth');
    await waitForStatus(client, 'open', 10_000);
    // The retry was scheduled at once, not after the 5 s backoff.
    const retry = log.states.find((st) => st.status === 'reconnecting')!;
    expect(retry.nextAttemptAt! - retry.since).toBe(0);
    expect(client.url).toBe(server.url('/?token=2'));
    expect(urls).toEqual(['token=1', 'token=2']);
  });

  test('maxAttempts: the client gives up with LL_RETRIES_EXHAUSTED after that many failures in a row', async () => {
    const server = await bare();
    const port = server.port;
    await server.kill(); // nothing listens on the port now
    const client = track(createClient(`ws://127.0.0.1:${port}/`, { reconnect: { ...quick, maxAttempts: 3 } }));
    const log = record(client);
    await waitForStatus(client, 'closed', 10_000);
    expect(log.states.filter((s) => s.status === 'connecting').map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(client.state.error).toMatchObject({ code: 'LL_RETRIES_EXHAUSTED' });
    expect(client.state.lastClose!.action).toBe('stop');
    expect(log.errors.filter((e) => e.code === 'LL_SOCKET_ERROR').length).toBeGreaterThanOrEqual(3);
  });

  test('reconnect: false never reconnects after a lost link', async () => {
    const server = await bare();
    const client = track(createClient(server.url(), { reconnect: false }));
    await waitForStatus(client, 'open');
    await server.kill();
    await waitForStatus(client, 'closed');
    expect(client.state.error).toBeUndefined();
    expect(client.state.lastClose).toMatchObject({ code: 1006, action: 'stop' });
  });

  test('backoff resets only after the link stayed up stableAfter ms', async () => {
    // A server that accepts and closes at once: every open is short, so failures add up.
    // (stableAfter far above the 5 ms a link lives, so that a stalled test process cannot
    // make one of them look stable.)
    const flaky = await bare({ onConnection: (ws) => setTimeout(() => ws.close(1011, 'crash'), 5) });
    const client = track(createClient(flaky.url(), { reconnect: { initialDelay: 20, factor: 2, maxDelay: 80, stableAfter: 3000 } }));
    const log = record(client);
    await waitFor(() => log.states.filter((s) => s.status === 'open').length >= 5, 'five short opens', 10_000);
    client.close();
    const reconnecting = log.states.filter((s) => s.status === 'reconnecting').map((s) => s.attempt);
    // The first link was attempt 1; short-lived links count as failures, so the attempt
    // number (and the backoff window) keeps growing: 2, 3, 4, ...
    expect(reconnecting.slice(0, 4)).toEqual([2, 3, 4, 5]);

    // A link that stays up longer than stableAfter resets the count.
    const steady = await bare();
    const client2 = track(createClient(steady.url(), { reconnect: { initialDelay: 20, factor: 2, maxDelay: 80, stableAfter: 150 } }));
    const log2 = record(client2);
    await waitForStatus(client2, 'open');
    for (let round = 1; round <= 2; round++) {
      await afterTimersWithin(150); // the client's stableAfter timer, set at the open, has fired
      for (const ws of steady.live) ws.terminate();
      await waitFor(() => log2.states.filter((s) => s.status === 'open').length === round + 1, `reopen ${round}`);
    }
    expect(log2.states.filter((s) => s.status === 'reconnecting').map((s) => s.attempt)).toEqual([1, 1]);
  });

  test('connect timeout: a server that never answers the upgrade counts as a failed attempt (LL_CONNECT_TIMEOUT)', async () => {
    const hung = await silentServer(false);
    const client = track(createClient(`ws://127.0.0.1:${hung.port}/`, { connectTimeout: 150, reconnect: quick }));
    const log = record(client);
    await waitFor(() => log.errors.some((e) => e.code === 'LL_CONNECT_TIMEOUT'), 'a connect timeout', 10_000);
    await waitFor(() => hung.accepted() >= 2, 'a second attempt', 10_000);
    expect(client.state.lastClose).toMatchObject({ code: 1006, reason: 'connect timeout' });
    client.close();
    // The abandoned TCP connections are closed by the client.
    await waitFor(() => hung.sockets.size === 0, 'the hung sockets to be closed', 10_000);
  });
});

describe('open() and close() never leave two sockets', () => {
  test('close() then open() at once, repeatedly, against a server that answers the close late', async () => {
    const server = await bare({ echo: false, holdCloses: true });
    const client = track(createClient<string, string>(server.url(), { reconnect: quick }));
    const log = record(client);
    await waitForStatus(client, 'open');
    for (let i = 0; i < 10; i++) {
      client.close();
      client.open();
      client.open(); // twice: still one attempt
      if (i % 2) await waitForStatus(client, 'open');
    }
    await waitForStatus(client, 'open');
    // The old sockets are closing at the server (it holds its answer to their close until
    // released) while the new one is open: every broadcast reaches all of them, but the
    // client hears only one.
    expect(server.live.size).toBeGreaterThan(1);
    server.broadcast('one');
    server.broadcast('two');
    server.releaseCloses();
    // Each old socket's close answer follows the broadcasts on its TCP stream, and the socket
    // ends only once the client read it: when only one is left, the client has read all.
    await waitFor(() => server.live.size === 1, 'the old sockets to finish closing', 10_000);
    await waitFor(() => log.messages.length >= 2, 'the broadcasts on the live socket');
    expect(log.messages.map((m) => m.data)).toEqual(['one', 'two']);
    expect(log.states.filter((s) => s.status === 'open').length).toBe(log.opens);
    // States only ever followed the table; the last word is the live connection.
    expect(client.state.status).toBe('open');
    // No close event reported a socket the client had already let go of.
    expect(log.closes.every((c) => c.action === 'stop' && c.code === 1000)).toBe(true);
  });

  test('close() while connecting, then open(): the first socket is abandoned, one connection remains', async () => {
    const server = await bare({ echo: false });
    const client = track(createClient(server.url(), { reconnect: quick }));
    const log = record(client);
    expect(client.state.status).toBe('connecting');
    client.close();
    client.open();
    await waitForStatus(client, 'open');
    // The abandoned socket was started first: if it reached the server at all, it did before
    // the live one; one connection remains once any such one has closed.
    client.send('after the open');
    await waitFor(() => server.received.includes('after the open') && server.live.size === 1, 'one live connection at the server', 10_000);
    expect(log.opens).toBe(1);
  });
});

describe('outbox', () => {
  test('bounded by count: drop-oldest makes room, reject-new refuses; every drop is an event', async () => {
    const server = await bare({ echo: false });
    const client = track(createClient<string, string>(server.url(), { autoOpen: false, outbox: { maxMessages: 3 } }));
    const log = record(client);
    expect(client.state.status).toBe('idle');
    for (const m of ['a', 'b', 'c', 'd', 'e']) expect(client.send(m)).toBe(true);
    expect(log.drops.map((d) => [d.data, d.reason])).toEqual([
      ['a', 'overflow'],
      ['b', 'overflow'],
    ]);
    client.open();
    await waitFor(() => server.received.length === 3, 'the flush');
    expect(server.received).toEqual(['c', 'd', 'e']);

    const rejecting = track(createClient<string, string>(server.url(), { autoOpen: false, outbox: { maxMessages: 2, overflow: 'reject-new' } }));
    const log2 = record(rejecting);
    expect(['x', 'y', 'z'].map((m) => rejecting.send(m))).toEqual([true, true, false]);
    expect(log2.drops).toEqual([{ data: 'z', reason: 'overflow', queuedAt: expect.any(Number) }]);
  });

  test('bounded by bytes (UTF-8), and a message bigger than the bound is dropped', async () => {
    const client = track(createClient<string, string>('ws://127.0.0.1:9/', { autoOpen: false, outbox: { maxBytes: 10 } }));
    const log = record(client);
    client.send('€€€'); // 9 bytes
    expect(client.queuedBytes).toBe(9);
    client.send('ab'); // 11 > 10: the oldest goes
    expect(log.drops.map((d) => d.data)).toEqual(['€€€']);
    expect(client.queuedBytes).toBe(2);
    expect(client.send('x'.repeat(11))).toBe(false);
    expect(log.drops.at(-1)).toMatchObject({ data: 'x'.repeat(11), reason: 'overflow' });
  });

  test('per-message expiry: expired messages are dropped with reason "expired", never sent', async () => {
    const server = await bare({ echo: false });
    const client = track(createClient<string, string>(server.url(), { autoOpen: false, outbox: { ttl: 100 } }));
    const log = record(client);
    client.send('short-lived');
    client.send('long-lived', { ttl: 60_000 });
    await afterTimersWithin(100); // past the short ttl
    client.open();
    await waitFor(() => server.received.length === 1, 'the flush');
    expect(server.received).toEqual(['long-lived']);
    expect(log.drops).toEqual([{ data: 'short-lived', reason: 'expired', queuedAt: expect.any(Number) }]);
  });

  test('close() empties the outbox with a drop event each, unless keepOnClose; queue:false never queues', async () => {
    const server = await bare({ echo: false });
    const client = track(createClient<string, string>(server.url(), { autoOpen: false }));
    const log = record(client);
    client.send('one');
    client.send('two');
    expect(client.send('now or never', { queue: false })).toBe(false);
    client.close();
    expect(log.drops.map((d) => `${d.data}:${d.reason}`)).toEqual(['now or never:not-open', 'one:closed', 'two:closed']);
    expect(client.send('after close')).toBe(false);
    expect(log.drops.at(-1)!.reason).toBe('closed');

    const keeper = track(createClient<string, string>(server.url(), { autoOpen: false, outbox: { keepOnClose: true } }));
    const log2 = record(keeper);
    keeper.send('kept-1');
    keeper.close();
    keeper.send('kept-2');
    keeper.open();
    await waitFor(() => server.received.length === 2, 'the kept messages');
    expect(server.received).toEqual(['kept-1', 'kept-2']);
    expect(log2.drops).toEqual([]);
  });

  test('a send from a state listener during the flush keeps its place behind older messages', async () => {
    const server = await bare({ echo: false });
    const client = track(createClient<string, string>(server.url(), { autoOpen: false }));
    client.on('state', (s) => s.status === 'open' && client.send('from-listener'));
    client.on('open', () => client.send('from-open'));
    client.send('queued-1');
    client.send('queued-2');
    client.open();
    await waitFor(() => server.received.length === 4, 'four messages');
    expect(server.received).toEqual(['queued-1', 'queued-2', 'from-listener', 'from-open']);
  });
});

describe('heartbeat', () => {
  test('app-level probe to a server that stays silent: the link is declared dead and reconnected', async () => {
    const server = await bare({ echo: false });
    const client = track(createClient(server.url(), { heartbeat: { message: 'ping?', interval: 100, timeout: 150 }, reconnect: quick }));
    const log = record(client);
    await waitForStatus(client, 'open');
    await waitFor(() => log.errors.some((e) => e.code === 'LL_HEARTBEAT_TIMEOUT'), 'a heartbeat timeout', 10_000);
    expect(log.closes[0]).toMatchObject({ code: 1006, reason: 'heartbeat timeout', wasClean: false, action: 'retry' });
    // Not before interval + timeout of silence, by the client's own clock.
    const opened = log.states.find((st) => st.status === 'open')!;
    expect(log.closes[0]!.at - opened.since).toBeGreaterThanOrEqual(250);
    await waitFor(() => server.connections >= 2, 'a new connection', 10_000);
    expect(server.received.filter((m) => m === 'ping?').length).toBeGreaterThanOrEqual(1);
  });

  test('raw TCP server that completes the upgrade and then says nothing: protocol pings (ws) detect it', async () => {
    const silent = await silentServer(true);
    const client = track(createClient(`ws://127.0.0.1:${silent.port}/`, { heartbeat: { interval: 100, timeout: 150 }, reconnect: quick }));
    const log = record(client);
    await waitForStatus(client, 'open');
    await waitFor(() => log.errors.some((e) => e.code === 'LL_HEARTBEAT_TIMEOUT'), 'a heartbeat timeout', 10_000);
    await waitFor(() => silent.accepted() >= 2, 'a reconnect', 10_000);
    // The dead connection was cut, not left half-open.
    await waitFor(() => silent.sockets.size <= 1, 'the dead socket to be destroyed', 10_000);
  });

  test('a busy link is never timed out, even when nothing answers the probe', async () => {
    const HB = { message: 'ping?', interval: 300, timeout: 1000 };
    const ticks: number[] = [];
    const server = await bare({
      echo: false,
      onConnection: (ws) => {
        const t = setInterval(() => {
          ticks.push(Date.now());
          ws.send('tick');
        }, 30);
        ws.on('close', () => clearInterval(t));
      },
    });
    const client = track(createClient(server.url(), { heartbeat: HB }));
    const log = record(client);
    await waitForStatus(client, 'open');
    // A window counted in what arrived, long enough for an idle link to be probed and timed
    // out (interval + timeout): the ticks of 2 s.
    const from = Date.now();
    await waitFor(() => log.messages.length > 0 && log.messages.at(-1)!.receivedAt - from >= 2 * (HB.interval + HB.timeout), 'two heartbeat periods of ticks', 20_000);
    expect(log.closes).toEqual([]);
    expect(log.errors).toEqual([]);
    // A probe goes out only after `interval` without an inbound frame, which a ticking server
    // leaves only when this process stalled (the server is in it): never more probes than
    // stalls of half the interval in the ticks.
    const stalls = ticks.filter((at, i) => i > 0 && at - ticks[i - 1]! > HB.interval / 2).length;
    expect(server.received.length).toBeLessThanOrEqual(stalls);
    expect(client.lastInboundAt).toBeGreaterThanOrEqual(from);
  });

  test('an answered probe measures the round-trip time; the reply text is filtered out', async () => {
    const server = await bare({ echo: false, onConnection: (ws) => ws.on('message', (d) => String(d) === 'hb' && ws.send('hb-ok')) });
    const client = track(createClient(server.url(), { heartbeat: { message: 'hb', reply: 'hb-ok', interval: 50, timeout: 5000 } }));
    const log = record(client);
    await waitForStatus(client, 'open');
    const opened = Date.now();
    await waitFor(() => log.heartbeats.length >= 3, 'three answered probes', 10_000);
    // A round trip: at least 0, and no longer than the wait that saw three of them.
    expect(client.rtt).toBeGreaterThanOrEqual(0);
    expect(client.rtt).toBeLessThanOrEqual(Date.now() - opened);
    expect(log.heartbeats.every((rtt) => rtt >= 0 && rtt <= Date.now() - opened)).toBe(true);
    expect(log.messages).toEqual([]);
    expect(log.closes).toEqual([]);
  });
});
