/**
 * The client's inbound decoders against a hostile server (issue 14): a bare `ws` server
 * plays a Lifeline server that says hello properly, then sends a hostile frame — hostile
 * values (test/support/hostile.ts) in `m`, `q`, `r`, `p`, `pr` and `error`, frames of the
 * other mode, garbage — and then an honest `m`. The real @lifeline/client (Node, both
 * formats; and raw mode with the JSON codec) must deliver what PROTOCOL.md lets through,
 * close with the right code what it does not, and never let anything escape as an
 * uncaught exception.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { decode as msgpackDecode, encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { createClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { msgpackFormat } from '@lifeline/client/msgpack';
import { HostileCounts, hostileValue, mpMapHeader, mpStr, withTimeout, type Hostile } from '../../../test/support/hostile.js';
import { same, type Format } from '../../../test/support/hostile-frames.js';
import { waitFor } from '../../../test/support/wait.js';

const counts = new HostileCounts('@lifeline/client inbound decoders');
const encodeMp = (v: unknown) => msgpackEncode(v, { maxDepth: 1000 });
const hostile = hostileValue(encodeMp);
const processErrors: unknown[] = [];
const onProcessError = (error: unknown) => processErrors.push(error);

/** How a hostile value rides in a server envelope: the fields around it (the value last). */
const PLACES = [
  { name: 'm.d', head: [['t', 'm'], ['s', 1]], key: 'd', delivered: true },
  { name: 'q.d (a server request)', head: [['t', 'q'], ['s', 1], ['id', 5], ['n', 'ask']], key: 'd', delivered: false },
  { name: 'r.d for no request', head: [['t', 'r'], ['s', 1], ['id', 99]], key: 'd', delivered: false },
  { name: 'p.d (no subscription)', head: [['t', 'p'], ['ch', 'c'], ['o', 1], ['ep', 'e']], key: 'd', delivered: false },
  { name: 'an unknown field of a', head: [['t', 'a'], ['a', 0]], key: 'x', delivered: false },
] as const;

function frameOf(place: (typeof PLACES)[number], h: Hostile, format: Format): string | Buffer {
  if (format === 'json') return `{${place.head.map(([k, v]) => `"${k}":${JSON.stringify(v)}`).join(',')},"${place.key}":${h.json}}`;
  return Buffer.concat([mpMapHeader(place.head.length + 1), ...place.head.flatMap(([k, v]) => [mpStr(k), msgpackEncode(v)]), mpStr(place.key), h.msgpack]);
}

/** A fake Lifeline server: a welcome, then whatever the case sends. */
let wss: WebSocketServer;
let port = 0;
let onConnection: (ws: WebSocket, format: Format) => void = () => {};

beforeAll(async () => {
  process.on('uncaughtException', onProcessError);
  process.on('unhandledRejection', onProcessError);
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 0, handleProtocols: (offered) => [...offered][0] ?? false });
  await once(wss, 'listening');
  port = (wss.address() as AddressInfo).port;
  wss.on('connection', (ws) => {
    const format: Format = ws.protocol === 'lifeline.v1.msgpack' ? 'msgpack' : 'json';
    ws.once('message', () => {
      const welcome = { t: 'welcome', sid: 'sid1', tok: 'tok1', rx: 0, resumed: false, hb: 60_000, max: { size: 1 << 20, depth: 64, items: 10_000, key: 1024 } };
      ws.send(format === 'json' ? JSON.stringify(welcome) : msgpackEncode(welcome));
      onConnection(ws, format);
    });
  });
});

afterAll(async () => {
  counts.print();
  for (const ws of wss.clients) ws.terminate();
  await new Promise((resolve) => wss.close(resolve));
  process.off('uncaughtException', onProcessError);
  process.off('unhandledRejection', onProcessError);
});

/** What the client must do with the value: a content rule broken is a 1007 close; anything else is read (the client bounds nothing else). */
const refusedByClient = (h: Hostile) => h.stats.proto || h.stats.lone;

async function lifelineCase(place: (typeof PLACES)[number], h: Hostile, format: Format): Promise<void> {
  counts.cases++;
  counts.inputs++;
  let serverSide: WebSocket | undefined;
  const fromClient: unknown[] = [];
  const closedByClient = new Promise<{ code: number; reason: string }>((resolve) => {
    onConnection = (ws, f) => {
      serverSide = ws;
      ws.on('message', (data: Buffer) => fromClient.push(f === 'json' ? JSON.parse(data.toString()) : msgpackDecode(data)));
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.send(frameOf(place, h, f), { binary: f === 'msgpack' });
      const s = place.head.some(([k]) => k === 's') ? 2 : 1;
      const probe = { t: 'm', s, d: 'probe' };
      ws.send(f === 'json' ? JSON.stringify(probe) : msgpackEncode(probe), { binary: f === 'msgpack' });
    };
  });
  const client = createClient(`ws://127.0.0.1:${port}/`, { mode: lifeline(format === 'msgpack' ? { format: msgpackFormat } : {}), reconnect: false });
  const messages: unknown[] = [];
  client.on('message', (m) => messages.push(m.data));
  client.on('error', () => {}); // reported; what matters is what the client does
  client.handle('ask', (d) => d);
  try {
    const what = `${place.name} = ${h.label} (${format})`;
    if (refusedByClient(h)) {
      const close = await closedByClient;
      expect(close.code, `${what}: "${close.reason}"`).toBe(1007);
      expect(close.reason).toMatch(/__proto__|lone surrogate|not UTF-8/);
      expect(messages, what).toEqual([]);
    } else {
      await waitFor(() => messages.includes('probe'), `the probe after ${what}`, 20_000);
      if (place.delivered) {
        expect(messages.length, what).toBe(2);
        if (h.written !== undefined && h.value !== undefined) expect(same(messages[0], h.value), what).toBe(true);
      } else {
        expect(messages, what).toEqual(['probe']);
      }
      if (place.name.startsWith('q.d')) {
        // The client's handler answers with the value: the server gets an `r` (or, over the bounds the welcome gave, an error answer).
        await waitFor(() => fromClient.some((e) => (e as { t?: string }).t === 'r'), `the answer to the request (${what})`, 20_000);
      }
      expect(client.state.status, what).toBe('open');
    }
  } finally {
    client.close();
    serverSide?.terminate();
  }
  expect(processErrors).toEqual([]);
  counts.survivals++;
}

describe('Lifeline mode: hostile values from the server', () => {
  it('delivered, ignored, or a 1007 close for what breaks a content rule; never an uncaught exception', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PLACES), hostile, fc.constantFrom<Format>('json', 'msgpack'), (place, h, format) =>
        withTimeout(lifelineCase(place, h, format), `${place.name} = ${h.label} (${format})`),
      ),
      { numRuns: 120 },
    );
  }, 600_000);

  it('garbage, frames of the other mode, a second welcome, envelopes only a client sends: the matching close code', async () => {
    const enc = (format: Format, e: unknown): string | Buffer => (format === 'json' ? JSON.stringify(e) : Buffer.from(msgpackEncode(e)));
    // [what, the frame, the close code the client sends; -1: the server closes after an error envelope]
    const cases: [string, (f: Format) => string | Buffer, number][] = [
      ['not JSON / not MessagePack', (f) => (f === 'json' ? '{"t":' : Buffer.from([0xc1])), 1007],
      ['a frame of the other mode', (f) => (f === 'json' ? Buffer.from([0x80]) : '{}'), 1008],
      ['a second welcome', (f) => enc(f, { t: 'welcome', sid: 's', tok: 't', rx: 0, resumed: false, hb: 1 }), 1008],
      ['a hello from the server', (f) => enc(f, { t: 'hello', v: 1 }), 1008],
      ['an m with a sequence gap', (f) => enc(f, { t: 'm', s: 7, d: 1 }), 1002],
      ['an error envelope with a 100,000-character message', (f) => enc(f, { t: 'error', code: 1008, message: 'x'.repeat(100_000) }), -1],
    ];
    for (const format of ['json', 'msgpack'] as const) {
      for (const [label, make, code] of cases) {
        counts.cases++;
        counts.inputs++;
        const closed = new Promise<{ code: number; reason: string }>((resolve) => {
          onConnection = (ws) => {
            ws.once('close', (c, r) => resolve({ code: c, reason: r.toString() }));
            const frame = make(format);
            ws.send(frame, { binary: typeof frame !== 'string' });
            if (code === -1) ws.close(1008, 'refused');
          };
        });
        const client = createClient(`ws://127.0.0.1:${port}/`, { mode: lifeline(format === 'msgpack' ? { format: msgpackFormat } : {}), reconnect: false });
        const errors: string[] = [];
        client.on('error', (e) => errors.push(e.code));
        const close = await withTimeout(closed, label);
        if (code === -1) {
          // The server's own close; the client reported the error envelope as an error event.
          await waitFor(() => errors.includes('LL_INVALID_ENVELOPE'), 'the reported error envelope');
        } else {
          expect(close.code, `${label} (${format}): "${close.reason}"`).toBe(code);
          expect(close.reason.length).toBeGreaterThan(0);
        }
        client.close();
        expect(processErrors).toEqual([]);
        counts.survivals++;
      }
    }
  }, 120_000);
});

describe('raw mode, JSON codec: hostile text from any server', () => {
  it('a message is data or carries LL_INVALID_JSON; nothing throws, the link stays open', async () => {
    const client = createClient(`ws://127.0.0.1:${port}/`, { codec: 'json', reconnect: false });
    const messages: { data?: unknown; error?: { code: string } }[] = [];
    client.on('message', (m) => messages.push(m as never));
    let server: WebSocket | undefined;
    onConnection = () => {};
    wss.once('connection', (ws) => (server = ws));
    await waitFor(() => server !== undefined && client.state.status === 'open', 'the raw connection');
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostile.map((h) => h.json), fc.string({ unit: 'binary', maxLength: 200 })), async (text) => {
        counts.cases++;
        counts.inputs++;
        const before = messages.length;
        server!.send(text);
        await waitFor(() => messages.length === before + 1, 'the message');
        const m = messages.at(-1)!;
        expect(m.error === undefined || m.error.code === 'LL_INVALID_JSON').toBe(true);
        expect(client.state.status).toBe('open');
        expect(processErrors).toEqual([]);
        counts.survivals++;
      }),
      { numRuns: 100 },
    );
    client.close();
  }, 120_000);
});
