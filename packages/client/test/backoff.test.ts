import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { createClient, type ClientState, type LifelineClient } from '@lifeline/client';
import { backoffWindow } from '@lifeline/protocol';
import { seededRandom } from '../../../test/support/chaos-proxy.js';

/**
 * Reconnect delays measured on a real client that really fails to connect (a closed port
 * on 127.0.0.1, or a real server that closes with a code), with fake timers for time only:
 * the client's own setTimeout and Date.now are faked, sockets are real.
 */

const options = { initialDelay: 100, factor: 2, maxDelay: 3000 };

/** Lets real I/O (connection refused, frames) happen while timers are fake. */
async function until(condition: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Kolmogorov-Smirnov distance between samples in [0, 1) and the uniform distribution. */
function ksUniform(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  let d = 0;
  sorted.forEach((x, i) => {
    d = Math.max(d, Math.abs((i + 1) / sorted.length - x), Math.abs(x - i / sorted.length));
  });
  return d;
}

/** The KS critical value at α = 0.001: a correct uniform sampler fails 1 run in 1000. */
const ksCritical = (n: number) => 1.95 / Math.sqrt(n);

let closedPort = 0;
let client: LifelineClient | undefined;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  // A port with nothing listening: bind one, note it, close it.
  const probe: Server = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});

afterEach(async () => {
  client?.close();
  client = undefined;
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('backoff with full jitter (fake timers, real sockets)', () => {
  test('every delay is uniform over its whole window [0, min(maxDelay, initial·factor^(n−1))), never above the ceiling', async () => {
    // A fixed pseudo-random sequence: a statistical check on Math.random itself would fail
    // one run in a thousand by design; the client's use of it is what is under test.
    vi.spyOn(Math, 'random').mockImplementation(seededRandom(20261125));
    client = createClient(`ws://127.0.0.1:${closedPort}/`, { reconnect: { ...options, stableAfter: 1 }, connectTimeout: 600_000 });
    const waits: ClientState[] = [];
    client.on('state', (s) => s.status === 'reconnecting' && waits.push(s));
    const ratios: number[] = [];
    const atCeiling: number[] = [];
    const CYCLES = 60;
    const FAILURES = 8;
    let read = 0;
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      for (let f = 0; f < FAILURES; f++) {
        await until(() => waits.length > read, `reconnecting #${read}`);
        const s = waits[read++]!;
        const delay = s.nextAttemptAt! - s.since;
        const window = backoffWindow(s.attempt, options);
        expect(s.attempt).toBe(f + 2); // attempt 1 was the first connect
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(window);
        ratios.push(delay / window);
        if (window === options.maxDelay) atCeiling.push(delay);
        if (f === FAILURES - 1) break;
        // Nothing happens a millisecond early; the attempt starts when the delay is over.
        if (delay > 0) {
          vi.advanceTimersByTime(delay - 1);
          expect(client.state.status).toBe('reconnecting');
        }
        vi.advanceTimersByTime(1);
        expect(client.state.status).toBe('connecting');
      }
      // close() + open() starts the count again at attempt 1.
      client.close();
      client.open();
    }
    expect(ratios.length).toBe(CYCLES * FAILURES);
    // Full jitter: the position inside the window is uniform at every attempt number.
    expect(ksUniform(ratios)).toBeLessThan(ksCritical(ratios.length));
    // At the ceiling: uniform over [0, maxDelay) — the whole range is used.
    expect(atCeiling.length).toBeGreaterThan(100);
    expect(ksUniform(atCeiling.map((d) => d / options.maxDelay))).toBeLessThan(ksCritical(atCeiling.length));
    expect(Math.min(...atCeiling)).toBeLessThan(options.maxDelay * 0.1);
    expect(Math.max(...atCeiling)).toBeGreaterThan(options.maxDelay * 0.9);
  });
});

describe('retry-after hints and slow retries (fake timers, real server)', () => {
  async function closingServer(close: () => [number, string]): Promise<string> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    wss.on('connection', (ws) => ws.close(...close()));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const ws of wss.clients) ws.terminate();
          wss.close(() => resolve());
        }),
    );
    return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
  }

  test('a retry-after hint longer than the backoff is honoured to the millisecond; a shorter one leaves the backoff', async () => {
    let hint = 7000;
    const url = await closingServer(() => [1012, `server restart; retry-after=${hint}`]);
    client = createClient(url, { reconnect: options, connectTimeout: 600_000 });
    const waits: ClientState[] = [];
    client.on('state', (s) => s.status === 'reconnecting' && waits.push(s));
    await until(() => waits.length === 1, 'the first close');
    expect(waits[0]!.lastClose).toMatchObject({ code: 1012, hint: 7000, action: 'retry' });
    expect(waits[0]!.nextAttemptAt! - waits[0]!.since).toBe(7000);
    vi.advanceTimersByTime(6999);
    expect(client.state.status).toBe('reconnecting');
    hint = 0;
    vi.advanceTimersByTime(1);
    expect(client.state.status).toBe('connecting');
    await until(() => waits.length === 2, 'the second close');
    // hint 0 < backoff: the delay is the backoff draw for the attempt.
    const second = waits[1]!;
    expect(second.lastClose!.hint).toBe(0);
    expect(second.nextAttemptAt! - second.since).toBeLessThan(backoffWindow(second.attempt, options));
  });

  test('after a link that stayed up, the hint replaces the backoff (a node handing its sessions off says how soon); after one that did not, it is only a floor', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
    let hint = 0;
    let closeAtOnce = false;
    const open: import('ws').WebSocket[] = [];
    wss.on('connection', (ws) => (closeAtOnce ? ws.close(1012, `server restart; retry-after=${hint}`) : open.push(ws)));
    client = createClient(url, { reconnect: { ...options, stableAfter: 1000 }, connectTimeout: 600_000 });
    const waits: ClientState[] = [];
    client.on('state', (s) => s.status === 'reconnecting' && waits.push(s));
    const closeAfterStable = async (ms: number) => {
      await until(() => client!.state.status === 'open' && open.length > 0, 'the client open');
      vi.advanceTimersByTime(1000);
      hint = ms;
      open.shift()!.close(1012, `server restart; retry-after=${hint}`);
      await until(() => waits.length > 0 && waits.at(-1)!.lastClose?.hint === ms, `the close with hint ${ms}`);
      return waits.at(-1)!;
    };
    // Hint 0 after a stable link: at once, though the backoff window of the first retry is 100 ms.
    let s = await closeAfterStable(0);
    expect(s.nextAttemptAt! - s.since).toBe(0);
    vi.advanceTimersByTime(0);
    s = await closeAfterStable(37);
    expect(s.nextAttemptAt! - s.since).toBe(37);
    // A server that closes every new connection at once: its hint is a floor under the growing backoff.
    closeAtOnce = true;
    hint = 5;
    vi.advanceTimersByTime(37);
    for (let attempt = 2; attempt <= 5; attempt++) {
      await until(() => waits.at(-1)!.attempt === attempt, `the retry after failure ${attempt - 1}`);
      const delay = waits.at(-1)!.nextAttemptAt! - waits.at(-1)!.since;
      expect(delay).toBeGreaterThanOrEqual(5);
      expect(delay).toBeLessThan(Math.max(5, backoffWindow(attempt, options)));
      vi.advanceTimersByTime(delay);
    }
  });

  test('1013 (try again later) retries slowly: every delay in [maxDelay/2, maxDelay)', async () => {
    const url = await closingServer(() => [1013, 'overloaded']);
    client = createClient(url, { reconnect: options, connectTimeout: 600_000 });
    const waits: ClientState[] = [];
    client.on('state', (s) => s.status === 'reconnecting' && waits.push(s));
    for (let i = 0; i < 30; i++) {
      await until(() => waits.length > i, `close #${i}`);
      const s = waits[i]!;
      expect(s.lastClose!.action).toBe('retry-slow');
      const delay = s.nextAttemptAt! - s.since;
      expect(delay).toBeGreaterThanOrEqual(options.maxDelay / 2);
      expect(delay).toBeLessThan(options.maxDelay);
      vi.advanceTimersByTime(delay);
    }
  });
});
