/**
 * Client probes in Lifeline mode (PROTOCOL.md §2.5): @lifeline/client asks the server whether
 * the link is still there on `online`, on becoming visible (in Node: `client.check()`, the
 * entry those events call), and on a send into a link silent for `probe.staleAfter`, and
 * declares it dead when nothing answers within `probe.timeout` (2 s). Without them a
 * dead link is noticed only after `hb` + `heartbeat.timeout` (35 s with the defaults).
 *
 * The first tests run against a real server through a proxy that black-holes the link; the
 * last ones count the frames an idle link costs, with fake time and a scripted server.
 */
import { createClient, type LifelineClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../../../test/support/wait.js';
import { record, startLifelineRig, waitForStatus } from './helpers.js';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';

const cleanup = { push: cleanupAfterEach() };

/** A Lifeline route with the server's default heartbeat (pings after 25 s of silence), behind a proxy that does nothing until told. */
const rig = () => startLifelineRig(cleanup.push);

function connect(url: string, probe: { staleAfter?: number } = {}): LifelineClient {
  // A short connect timeout: an attempt made while the proxy is a black hole never opens.
  const client = createClient(url, { connectTimeout: 2000, reconnect: { initialDelay: 50, maxDelay: 200 }, mode: lifeline({ probe }) });
  cleanup.push(() => client.close());
  return client;
}

/** Generous against a loaded machine, and far below the 35 s (or, before probes, the 10 s) the client needed without them. */
const NOTICED_WITHIN_MS = 6000;

describe('client probes against a real server (PROTOCOL.md §2.5)', () => {
  it('check() on a healthy link: one ping, answered at once, the round trip measured, nothing closed', async () => {
    const r = await rig();
    const client = connect(r.url);
    const rec = record(client);
    await waitForStatus(client, 'open');
    expect(client.check()).toBe(client);
    await waitFor(() => rec.heartbeats.length === 1, 'the pong, as a heartbeat event');
    expect(rec.heartbeats[0]).toBeGreaterThanOrEqual(0);
    expect(client.rtt).toBe(rec.heartbeats[0]);
    expect(rec.closes).toEqual([]);
    expect(rec.errors).toEqual([]);
  });

  it('a black-holed link and then check() (what online and visibilitychange call): noticed within the probe timeout, and the session resumes', async () => {
    const r = await rig();
    const client = connect(r.url);
    const rec = record(client);
    await waitForStatus(client, 'open');
    const id = client.session!.id;
    r.proxy.blackhole = true; // a network change: nothing arrives, nothing closes
    client.send('into the hole');
    const at = Date.now();
    client.check();
    await waitFor(() => rec.closes.length === 1, 'the dead link noticed', NOTICED_WITHIN_MS + 2000);
    expect(Date.now() - at).toBeLessThan(NOTICED_WITHIN_MS);
    expect(rec.closes[0]).toMatchObject({ code: 1006, reason: 'heartbeat timeout', action: 'retry' });
    expect(rec.errors.map((e) => e.code)).toContain('LL_HEARTBEAT_TIMEOUT');
    r.proxy.blackhole = false;
    await waitFor(() => client.state.status === 'open' && client.session?.resumed === true, 'resumed', 20_000);
    expect(client.session!.id).toBe(id);
    await waitFor(() => r.received.get(id)?.length === 1, 'the message written into the hole, replayed once');
    expect(r.received.get(id)).toEqual(['into the hole']);
  });

  it('a send into a link silent for staleAfter probes it: a black hole is noticed within the probe timeout, and the session resumes', async () => {
    const r = await rig();
    const client = connect(r.url, { staleAfter: 300 });
    const rec = record(client);
    await waitForStatus(client, 'open');
    const id = client.session!.id;
    await waitFor(() => Date.now() - client.lastInboundAt! >= 300, 'the link to go quiet for staleAfter', 5000, 20);
    r.proxy.blackhole = true;
    const at = Date.now();
    client.send('into a stale link');
    await waitFor(() => rec.closes.length === 1, 'the dead link noticed', NOTICED_WITHIN_MS + 2000);
    expect(Date.now() - at).toBeLessThan(NOTICED_WITHIN_MS);
    expect(rec.errors.map((e) => e.code)).toContain('LL_HEARTBEAT_TIMEOUT');
    r.proxy.blackhole = false;
    await waitFor(() => client.state.status === 'open' && client.session?.resumed === true, 'resumed', 20_000);
    await waitFor(() => r.received.get(id)?.length === 1, 'the message replayed once');
    expect(r.received.get(id)).toEqual(['into a stale link']);
  });
});

// ---- idle links, counted: fake time and a scripted server ---------------------------------

/** A WebSocket double driven by the test (the platform's WebSocket, not project code): records what the client sends. */
class ScriptedSocket {
  /** The server's side of the next socket, set up before the client can send anything. */
  static script: (socket: ScriptedSocket) => void = () => {};
  readyState = 0;
  protocol = '';
  binaryType = 'blob';
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  /** Every envelope the client sent, decoded. */
  readonly sent: { t: string; ts?: number }[] = [];
  /** Called for each envelope the client sends. */
  onSent: (envelope: { t: string; ts?: number }) => void = () => {};

  constructor(_url: string, protocols?: string | string[]) {
    ScriptedSocket.script(this);
    setTimeout(() => {
      this.readyState = 1;
      this.protocol = ([] as string[]).concat(protocols ?? [])[0] ?? '';
      this.onopen?.({});
    }, 0);
  }

  send(data: unknown): void {
    const envelope = JSON.parse(String(data)) as { t: string; ts?: number };
    this.sent.push(envelope);
    this.onSent(envelope);
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason, wasClean: true }), 0);
  }

  deliver(envelope: object): void {
    if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(envelope) });
  }
}

const HB = 25_000;
/** One way across the scripted network. */
const LATENCY = 100;

/**
 * A server that answers hello with a welcome (`probe` as given) and, like @lifeline/server at
 * the latest end of its bound (PROTOCOL.md §2.5 R1), pings hb + hb/4 after the last frame it
 * received, over a network with LATENCY each way. It answers the client's pings too.
 */
function scriptedServer(socket: ScriptedSocket, probe: boolean, pinging: () => boolean): void {
  let pingTimer: ReturnType<typeof setTimeout> | undefined;
  const heard = () => {
    clearTimeout(pingTimer);
    pingTimer = setTimeout(() => pinging() && setTimeout(() => socket.deliver({ t: 'ping', ts: Date.now() }), LATENCY), HB + HB / 4);
  };
  socket.onSent = (e) =>
    setTimeout(() => {
      heard();
      if (e.t === 'hello') setTimeout(() => socket.deliver({ t: 'welcome', sid: 'sid', tok: 'tok', rx: 0, resumed: false, hb: HB, ...(probe ? { probe: true } : {}) }), LATENCY);
      if (e.t === 'ping') setTimeout(() => socket.deliver({ t: 'pong', ts: e.ts }), LATENCY);
    }, LATENCY);
}

async function openScripted(probe: boolean, pinging = () => true): Promise<{ client: LifelineClient; socket: ScriptedSocket; rec: ReturnType<typeof record> }> {
  let socket: ScriptedSocket | undefined;
  ScriptedSocket.script = (s) => scriptedServer((socket = s), probe, pinging);
  const client = createClient('ws://scripted.invalid/s', { WebSocket: ScriptedSocket, reconnect: false, mode: lifeline() });
  const rec = record(client);
  await vi.advanceTimersByTimeAsync(1000);
  expect(client.state.status).toBe('open');
  return { client, socket: socket!, rec };
}

describe('client probes cost an idle healthy link nothing (fake time, counted frames)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('an idle link kept fresh by the server’s pings, at the late end of their bound: the client sends one pong per ping and nothing else, as before probes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { client, socket, rec } = await openScripted(true);
    const sentBefore = socket.sent.length; // the hello
    await vi.advanceTimersByTimeAsync(40 * (HB + HB / 4 + 2 * LATENCY)); // 40 ping cycles, about 21 minutes
    const after = socket.sent.slice(sentBefore);
    const pongs = after.filter((e) => e.t === 'pong').length;
    expect(pongs).toBeGreaterThanOrEqual(39);
    expect(after.filter((e) => e.t !== 'pong')).toEqual([]); // no probe, no ack, nothing
    expect(rec.closes).toEqual([]);
    client.close();
  });

  it('the same link against a server without probes (no probe in the welcome): the same frames, and the client never pings', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { client, socket, rec } = await openScripted(false);
    const sentBefore = socket.sent.length;
    client.check(); // an event: nothing to send to such a server, and no deadline either
    await vi.advanceTimersByTimeAsync(40 * (HB + HB / 4 + 2 * LATENCY));
    const after = socket.sent.slice(sentBefore);
    expect(after.filter((e) => e.t === 'pong').length).toBeGreaterThanOrEqual(39);
    expect(after.filter((e) => e.t !== 'pong')).toEqual([]);
    expect(rec.closes).toEqual([]);
    client.close();
  });

  it('when the server’s pings stop, the client probes once hb + max(hb/4, 25 ms) + 1 s passed, and declares the link dead 2 s later', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let pinging = true;
    const { client, socket, rec } = await openScripted(true, () => pinging);
    await vi.advanceTimersByTimeAsync(3 * HB);
    pinging = false; // the link dies quietly: no ping, no pong
    socket.onSent = () => {};
    const lastFrameAt = client.lastInboundAt!;
    const quiet = HB + HB / 4 + 1000;
    await vi.advanceTimersByTimeAsync(2 * quiet);
    const probes = socket.sent.filter((e) => e.t === 'ping');
    expect(probes).toHaveLength(1);
    expect(rec.closes).toHaveLength(1);
    // The probe went out `quiet` after the last frame the client received, and nothing
    // answering it within probeTimeout (2 s) ended the link.
    expect(probes[0]!.ts).toBe(lastFrameAt + quiet);
    expect(rec.closes[0]!.at - probes[0]!.ts!).toBe(2000);
    expect(rec.errors.map((e) => e.code)).toEqual(['LL_HEARTBEAT_TIMEOUT']);
  });
});
