import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { once } from 'node:events';
import { HeartbeatSweep, type SweepTarget } from '../src/leaves/heartbeat-sweep.js';
import { clientFrame, rawWebSocket } from '../../../test/support/raw-http.js';
import { serverTestRig } from '../../../test/support/rig.js';
import type { RunningApp } from '../../../test/support/servers.js';
import { afterTimersWithin, sleep, timerLateness, waitFor } from '../../../test/support/wait.js';

const { startApp } = serverTestRig();

let running: RunningApp | undefined;

/**
 * The sweep's side of a connection (what Socket and Link implement): a byte counter and the
 * times the sweep keeps, and the two calls it makes. With it the tests below run the sweep
 * on a clock they hold, as fake timers would, over schedules of minutes; the same
 * behaviours are then checked over real sockets further down.
 */
class FakeTarget implements SweepTarget {
  bytesRead = 0;
  lastBytesRead = 0;
  lastPing = 0;
  readingPaused = false;
  pings: number[] = [];
  terminatedAfter: number | undefined;
  heardAfter: number;
  constructor(public lastSeen: number) {
    this.heardAfter = lastSeen;
  }
  ping() {
    this.pings.push(this.lastPing);
  }
  terminateSilent(ms: number) {
    this.terminatedAfter = ms;
  }
}

describe('HeartbeatSweep (clock driven by the test)', () => {
  it('pings once per silent spell and terminates at the timeout', () => {
    const t = new FakeTarget(0);
    const sweep = new HeartbeatSweep([t], 25_000, 45_000);
    expect(sweep.period).toBe(5_000);
    sweep.sweep(24_999);
    expect(t.pings).toEqual([]);
    sweep.sweep(25_000);
    sweep.sweep(35_000);
    expect(t.pings).toEqual([25_000]); // not again while the first is unanswered
    sweep.sweep(44_999);
    expect(t.terminatedAfter).toBeUndefined();
    sweep.sweep(45_000);
    expect(t.terminatedAfter).toBe(45_000);
  });

  it('an answered ping (any inbound byte) starts a new spell', () => {
    const t = new FakeTarget(0);
    const sweep = new HeartbeatSweep([t], 1000, 3000);
    sweep.sweep(1000);
    t.bytesRead += 2; // the pong arrives
    sweep.sweep(1500); // heard between 1000 and 1500
    expect(t.lastSeen).toBe(1500);
    expect(t.heardAfter).toBe(1000);
    sweep.sweep(1900);
    expect(t.pings).toEqual([1000]);
    sweep.sweep(2000); // an interval after the earliest it can have been heard: ping again
    expect(t.pings).toEqual([1000, 2000]);
    sweep.sweep(3900);
    expect(t.terminatedAfter).toBeUndefined();
  });

  it('pings an idle peer that answers every interval to interval + period, not later', () => {
    const t = new FakeTarget(0);
    const sweep = new HeartbeatSweep([t], 25_000, 45_000);
    for (let now = 5_000; now <= 300_000; now += sweep.period) {
      const before = t.pings.length;
      sweep.sweep(now);
      if (t.pings.length > before) t.bytesRead += 2; // the pong arrives before the next sweep
    }
    const gaps = t.pings.slice(1).map((p, i) => p - t.pings[i]!);
    expect(gaps.length).toBeGreaterThan(8);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(25_000);
      expect(gap).toBeLessThan(30_000 + 1);
    }
    expect(t.terminatedAfter).toBeUndefined();
  });

  it('stamps a connection whose byte counter moved as heard at this sweep, never pinging it', () => {
    const t = new FakeTarget(0);
    const sweep = new HeartbeatSweep([t], 1000, 3000);
    for (let now = 500; now <= 10_000; now += 500) {
      t.bytesRead += 100; // a busy peer
      sweep.sweep(now);
    }
    expect(t.pings).toEqual([]);
    expect(t.lastSeen).toBe(10_000);
    expect(t.terminatedAfter).toBeUndefined();
  });

  it('does not judge a peer the application has stopped reading', () => {
    const t = new FakeTarget(0);
    t.readingPaused = true;
    const sweep = new HeartbeatSweep([t], 1000, 3000);
    sweep.sweep(10_000);
    expect(t.terminatedAfter).toBeUndefined();
    expect(t.lastSeen).toBe(10_000);
  });
});

describe('heartbeat over real sockets', () => {
  it('terminates a peer that stops answering pings, after it was pinged', async () => {
    running = await startApp((app) => app.ws('/h', () => {}), { heartbeat: { interval: 200, timeout: 500 } });
    const raw = await rawWebSocket(running.port, '/h'); // a raw TCP client: never sends a pong
    const frames: number[] = [];
    raw.on('data', (c: Buffer) => frames.push(c[0]!));
    const lateness = timerLateness();
    const started = Date.now();
    await once(raw, 'close');
    const elapsed = Date.now() - started;
    const late = lateness.stop();
    expect(frames).toContain(0x89); // it was pinged
    expect(elapsed).toBeGreaterThanOrEqual(450);
    // Cut off between timeout and timeout + 2 periods (600 ms), plus the sweep's lateness here.
    expect(elapsed, `timers ran up to ${Math.round(late)} ms late`).toBeLessThan(600 + 500 + 2 * late);
    await waitFor(() => running!.app.connections.size === 0, 'the server to forget the socket');
  });

  it('never times out a busy peer, even one that ignores pings', async () => {
    // (Server and peer share this process: a stall of it longer than the timeout would look
    // like silence to the sweep, so the timeout leaves a loaded machine a second and a half.)
    running = await startApp((app) => app.ws('/h', () => {}), { heartbeat: { interval: 500, timeout: 1500 } });
    const raw = await rawWebSocket(running.port, '/h');
    let closed = false;
    raw.on('close', () => (closed = true));
    raw.on('data', () => {});
    // Busy for three timeouts, by this process's clock.
    const until = Date.now() + 4500;
    while (Date.now() < until) {
      raw.write(clientFrame(0x1, 'busy'));
      await sleep(50);
    }
    expect(closed).toBe(false);
    expect(running.app.connections.size).toBe(1);
    raw.destroy();
  });

  it('keeps an idle client that answers pings connected', async () => {
    running = await startApp((app) => app.ws('/h', () => {}), { heartbeat: { interval: 200, timeout: 1000 } });
    const ws = new WebSocket(running.wsUrl('/h')); // ws answers pings automatically
    let pings = 0;
    ws.on('ping', () => pings++);
    await once(ws, 'open');
    // Pinged again and again, well past the timeout (each ping answered), and still there.
    await waitFor(() => pings >= 8 || ws.readyState !== WebSocket.OPEN, 'eight pings', 20_000);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(pings).toBeGreaterThanOrEqual(8);
    ws.close();
  });

  it('uses one timer for all connections, not one per connection', async () => {
    running = await startApp((app) => app.ws('/h', () => {}), { heartbeat: { interval: 1000, timeout: 3000 } });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const one = new WebSocket(running.wsUrl('/h'));
    await once(one, 'open');
    const withOne = timers();
    const many = await Promise.all(Array.from({ length: 50 }, async () => {
      const ws = new WebSocket(running!.wsUrl('/h'));
      await once(ws, 'open');
      return ws;
    }));
    await waitFor(() => running!.app.connections.size === 51, '51 connections');
    // Unrelated timers come and go in the test process; a timer per connection would add 50.
    expect(timers()).toBeLessThanOrEqual(withOne + 2);
    for (const ws of [one, ...many]) ws.close();
  });

  it('heartbeat: false sends no pings', async () => {
    running = await startApp((app) => app.ws('/h', () => {}), { heartbeat: false });
    const raw = await rawWebSocket(running.port, '/h');
    const frames: Buffer[] = [];
    raw.on('data', (c: Buffer) => frames.push(c));
    // Past the shortest interval the tests use, then a ping of our own: its pong comes after
    // anything the server sent before it.
    await afterTimersWithin(300);
    raw.write(clientFrame(0x9, 'barrier'));
    await waitFor(() => Buffer.concat(frames).includes('barrier'), 'the pong to our ping');
    expect(Buffer.concat(frames)[0]).toBe(0x8a); // the pong is the first frame: no ping came before
    expect(Buffer.concat(frames)).toEqual(Buffer.from([0x8a, 7, ...Buffer.from('barrier')]));
    raw.destroy();
  });

  it('answers an app-level heartbeat text without passing it to the handler', async () => {
    const seen: string[] = [];
    running = await startApp((app) =>
      app.ws('/seed', { textHeartbeat: { message: 'heartCheck', reply: '"heartCheck"' } }, (s) =>
        s.on('message', (m) => {
          seen.push(m.text);
          if (m.text === 'barrier') s.send('barrier passed');
        }),
      ),
    );
    const ws = new WebSocket(running.wsUrl('/seed'));
    const got: string[] = [];
    ws.on('message', (d: Buffer) => got.push(d.toString()));
    await once(ws, 'open');
    ws.send('heartCheck');
    ws.send('heartCheck!');
    ws.send(Buffer.from('heartCheck')); // binary: not the text heartbeat
    // The server answers in order, so once the barrier's answer is here every earlier reply is too.
    ws.send('barrier');
    await waitFor(() => got.includes('barrier passed'), 'the answer to the barrier');
    expect(got).toEqual(['"heartCheck"', 'barrier passed']);
    expect(seen).toEqual(['heartCheck!', 'heartCheck', 'barrier']);
    ws.close();
  });
});
