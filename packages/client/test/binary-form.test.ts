/**
 * JSON mode's binary form (PROTOCOL.md §2.8) in @lifeline/client: asked for by default, used
 * once the welcome agrees, base64 otherwise. The frames on the wire are recorded by a `ws`
 * subclass handed to the client and read by hand (split at the first 0x00 byte), so what the
 * test expects never comes from the product's codecs.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createClient, type LifelineClient } from '@lifeline/client';
import { lifeline, type LifelineModeOptions } from '@lifeline/client/lifeline';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { startApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';
import { record, startLifelineRig, waitForStatus } from './helpers.js';

const cleanup = cleanupAfterEach();

interface WireFrame {
  /** Which connection of the client (0, 1, …). */
  link: number;
  binary: boolean;
  data: Buffer;
}

/** Frames both ways on every connection a client opens, in order. */
function recordingWebSocket(): { WebSocket: typeof WebSocket; sent: WireFrame[]; received: WireFrame[] } {
  const sent: WireFrame[] = [];
  const received: WireFrame[] = [];
  let links = 0;
  const bytes = (data: unknown): Buffer =>
    Buffer.isBuffer(data) ? Buffer.from(data) : typeof data === 'string' ? Buffer.from(data) : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(data as ArrayBuffer);
  class Recording extends WebSocket {
    readonly link = links++;
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      this.on('message', (data: RawData, binary: boolean) => received.push({ link: this.link, binary, data: bytes(Array.isArray(data) ? Buffer.concat(data) : data) }));
    }

    override send(data: unknown, ...rest: unknown[]): void {
      sent.push({ link: this.link, binary: typeof data !== 'string', data: bytes(data) });
      (super.send as (...a: unknown[]) => void)(data, ...rest);
    }
  }
  return { WebSocket: Recording as unknown as typeof WebSocket, sent, received };
}

/** A frame read by hand: the head's fields, and `b` (from the binary form's tail, or base64). */
function read(frame: WireFrame): { head: Record<string, unknown>; b: Buffer | undefined } {
  if (!frame.binary) {
    const o = JSON.parse(frame.data.toString('utf8')) as Record<string, unknown>;
    const b = typeof o.b === 'string' ? Buffer.from(o.b, 'base64') : undefined;
    delete o.b;
    return { head: o, b };
  }
  const zero = frame.data.indexOf(0);
  if (zero < 0) throw new Error('a binary frame without 0x00');
  return { head: JSON.parse(frame.data.subarray(0, zero).toString('utf8')) as Record<string, unknown>, b: frame.data.subarray(zero + 1) };
}

function connect(url: string, WebSocketClass: typeof WebSocket, options?: LifelineModeOptions): LifelineClient {
  const client = createClient(url, {
    reconnect: { initialDelay: 20, maxDelay: 100 },
    WebSocket: WebSocketClass as never,
    mode: lifeline(options),
  });
  cleanup(() => client.close());
  return client;
}

/** Payloads: empty, small and large, and some made of or starting with 0x00. */
const payloads = fc.array(
  fc.oneof(
    fc.constant(new Uint8Array(0)),
    fc.uint8Array({ maxLength: 64 }),
    fc.uint8Array({ minLength: 1000, maxLength: 5000 }),
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => a.map((v, i) => (i % 2 === 0 ? 0 : v))),
  ),
  { minLength: 1, maxLength: 12 },
);

describe('JSON mode binary form in @lifeline/client (PROTOCOL.md §2.8)', () => {
  it('random bytes both ways across a forced reconnect: the replays come in the binary form, nothing lost, duplicated or reordered', async () => {
    await fc.assert(
      fc.asyncProperty(payloads, payloads, payloads, async (before, away, pushed) => {
        const r = await startLifelineRig(cleanup, { handler: (socket) => socket.on('message', (m) => socket.send(m)) });
        const wire = recordingWebSocket();
        const client = connect(r.url, wire.WebSocket);
        const rec = record(client);
        await waitForStatus(client, 'open');
        // `before` goes and comes back on the first connection.
        for (const b of before) client.send(b);
        await waitFor(() => rec.messages.length === before.length, 'the echoes of before', 10_000);
        // The link goes silent: the client writes `away` into it, the server `pushed`; both
        // are lost with the link and must come again on the resume.
        r.proxy.blackholeLinks();
        for (const b of away) client.send(b);
        const server = r.sessions[0]!;
        for (const b of pushed) server.send(b);
        r.proxy.cutAll();
        await waitFor(() => rec.opens === 2 && client.state.status === 'open', 'the resume', 10_000);
        expect(client.session!.resumed).toBe(true);
        const expected = [...before, ...pushed, ...away];
        await waitFor(() => rec.messages.length === expected.length, 'every message', 10_000);
        // Delivered once each, in order, both ways.
        expect(rec.messages.map((m) => Buffer.from(m.data as Uint8Array))).toEqual(expected.map((b) => Buffer.from(b)));
        expect(r.received.get(server.sessionId!)).toEqual([...before, ...away].map((b) => [...b]));
        expect(r.sessions).toHaveLength(1);
        // On the wire: both hellos asked, both welcomes agreed, and every m went as a binary
        // frame both ways, the second connection's replays of `away` and `pushed` included.
        const hellos = wire.sent.filter((f) => !f.binary && read(f).head.t === 'hello').map((f) => read(f).head);
        expect(hellos.map((h) => [h.bin, h.sid !== undefined])).toEqual([
          [true, false],
          [true, true],
        ]);
        const welcomes = wire.received.filter((f) => !f.binary && read(f).head.t === 'welcome').map((f) => read(f).head);
        expect(welcomes.map((w) => [w.bin, w.resumed])).toEqual([
          [true, false],
          [true, true],
        ]);
        const ms = (frames: WireFrame[], link: number) => frames.filter((f) => f.link === link && read(f).head.t === 'm');
        expect([...ms(wire.sent, 0), ...ms(wire.sent, 1), ...ms(wire.received, 0), ...ms(wire.received, 1)].every((f) => f.binary)).toBe(true);
        // The server's replay: `pushed`, numbered after the echoes of `before`, on the new link
        // (after any echo of `before` the client had not acknowledged yet, which it drops).
        const replayed = ms(wire.received, 1).map(read).filter((e) => (e.head.s as number) > before.length);
        expect(replayed.slice(0, pushed.length).map((e) => [e.head.s, e.b])).toEqual(pushed.map((b, i) => [before.length + i + 1, Buffer.from(b)]));
        // The client's replay: `away`, numbered after `before` (and after any of `before` the
        // server had not acknowledged yet).
        const resent = ms(wire.sent, 1).map(read).filter((e) => (e.head.s as number) > before.length);
        expect(resent.map((e) => [e.head.s, e.b])).toEqual(away.map((b, i) => [before.length + i + 1, Buffer.from(b)]));
        await client.close();
      }),
      { numRuns: 4 },
    );
  }, 120_000);

  it('a message is checked against welcome.max.size by its text form (base64), which a resume on a connection that did not agree would send (§2.8 R7)', async () => {
    const app = await startApp((a) => a.ws('/s', { lifeline: true }, (socket) => socket.on('message', (m) => socket.send(m))), { maxPayload: 2000 });
    cleanup(() => app.stop());
    const wire = recordingWebSocket();
    const client = connect(app.wsUrl('/s'), wire.WebSocket);
    const rec = record(client);
    await waitForStatus(client, 'open');
    // 1,400 bytes: {"t":"m","s":1} + 7 + 1,868 base64 characters = 1,890 bytes as text, under 2,000.
    // 1,600 bytes: 1,617 in the binary form, but 2,158 as text: refused before it is numbered.
    client.send(new Uint8Array(1600));
    client.send(new Uint8Array(1400).fill(7));
    await waitFor(() => rec.messages.length === 1 && rec.drops.length === 1, 'one echo, one drop', 10_000);
    expect(rec.drops[0]!.reason).toBe('too-large');
    expect((rec.drops[0]!.error as { code?: string } | undefined)?.code).toBe('LL_TOO_LARGE');
    expect(Buffer.from(rec.messages[0]!.data as Uint8Array)).toEqual(Buffer.alloc(1400, 7));
    const sentMs = wire.sent.filter((f) => read(f).head.t === 'm');
    expect(sentMs.map((f) => [f.binary, f.data.length])).toEqual([[true, 15 + 1 + 1400]]);
  });

  it('binaryForm: false asks for nothing and sends base64 in text frames', async () => {
    const r = await startLifelineRig(cleanup, { handler: (socket) => socket.on('message', (m) => socket.send(m)) });
    const wire = recordingWebSocket();
    const client = connect(r.url, wire.WebSocket, { binaryForm: false });
    const rec = record(client);
    await waitForStatus(client, 'open');
    client.send(new Uint8Array([0, 1, 2]));
    await waitFor(() => rec.messages.length === 1, 'the echo', 10_000);
    expect(rec.messages[0]!.data).toEqual(new Uint8Array([0, 1, 2]));
    expect(read(wire.sent[0]!).head).toEqual({ t: 'hello', v: 1 });
    expect('bin' in read(wire.received[0]!).head).toBe(false);
    expect([...wire.sent, ...wire.received].every((f) => !f.binary)).toBe(true);
    expect(JSON.parse(wire.sent[1]!.data.toString())).toEqual({ t: 'm', s: 1, b: 'AAEC' });
  });

  it('against a server that does not answer bin (it ignores the field): base64 in text frames, and a binary frame from it is 1008', async () => {
    // A bare ws server that speaks just enough of §2 and knows nothing of §2.8.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'lifeline.v1' });
    cleanup(() => new Promise((resolve) => wss.close(resolve)));
    await once(wss, 'listening');
    const got: { binary: boolean; text: string }[] = [];
    let serverSocket: import('ws').WebSocket | undefined;
    wss.on('connection', (ws) => {
      serverSocket = ws;
      ws.on('message', (data: Buffer, binary: boolean) => {
        got.push({ binary, text: data.toString('utf8') });
        const o = JSON.parse(data.toString('utf8')) as { t: string; s?: number; b?: string };
        if (o.t === 'hello') ws.send(JSON.stringify({ t: 'welcome', sid: 'S', tok: 'T'.repeat(22), rx: 0, resumed: false, hb: 25000 }));
        if (o.t === 'm') ws.send(JSON.stringify({ t: 'm', s: o.s, a: o.s, b: o.b }));
      });
    });
    const wire = recordingWebSocket();
    const client = connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, wire.WebSocket, undefined);
    const rec = record(client);
    await waitForStatus(client, 'open');
    client.send(new Uint8Array([0, 0, 7]));
    await waitFor(() => rec.messages.length === 1, 'the echo', 10_000);
    expect(rec.messages[0]!.data).toEqual(new Uint8Array([0, 0, 7]));
    expect(JSON.parse(got[0]!.text)).toEqual({ t: 'hello', v: 1, bin: true }); // it asked
    expect(got[1]).toEqual({ binary: false, text: '{"t":"m","s":1,"b":"AAAH"}' }); // and kept base64
    // A binary frame where none was agreed: the client closes with 1008 (or 4008 from a browser).
    serverSocket!.send(Buffer.concat([Buffer.from('{"t":"m","s":2}'), Buffer.from([0, 1])]));
    await waitFor(() => rec.closes.length === 1, 'the client closes', 10_000);
    expect(rec.closes[0]!.code).toBe(1008);
    expect(rec.messages).toHaveLength(1);
  });
});
