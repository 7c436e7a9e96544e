import { describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import {
  backoffDelay,
  canTransition,
  createClient,
  defaultCloseAction,
  LifelineClient,
  LifelineError,
  toWebSocketUrl,
  TRANSITIONS,
  type ClientState,
  type Status,
  type WebSocketConstructor,
} from '@lifeline/client';
import { backoffWindow } from '@lifeline/protocol';
import { transition } from '../src/state.js';
import { byteLength } from '../src/codec.js';

/** Pure parts of the client: the state table, the policy table, URLs, options. No sockets. */

const STATUSES: Status[] = ['idle', 'connecting', 'open', 'reconnecting', 'closed'];

describe('state machine', () => {
  test('the table allows exactly these transitions', () => {
    const allowed = STATUSES.flatMap((from) => STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}→${to}`));
    expect(allowed).toEqual([
      'idle→connecting',
      'idle→closed',
      'connecting→open',
      'connecting→reconnecting',
      'connecting→closed',
      'open→reconnecting',
      'open→closed',
      'reconnecting→connecting',
      'reconnecting→reconnecting',
      'reconnecting→closed',
      'closed→connecting',
    ]);
    expect(Object.keys(TRANSITIONS)).toEqual(STATUSES);
  });

  test('transition() builds the next state and refuses what the table does not allow', () => {
    const idle: ClientState = { status: 'idle', attempt: 0, since: 0 };
    const connecting = transition(idle, 'connecting', { attempt: 1 }, 10);
    expect(connecting).toEqual({ status: 'connecting', attempt: 1, since: 10, lastClose: undefined });
    if (connecting.status !== 'connecting') throw new Error('narrowing');
    const open = transition(connecting, 'open', {}, 20);
    expect(open).toMatchObject({ status: 'open', attempt: 1, since: 20 });
    // A JavaScript caller (no compiler) still cannot make an invalid move.
    const sneaky = transition as (from: ClientState, to: Status) => ClientState;
    expect(() => sneaky(open, 'connecting')).toThrow(expect.objectContaining({ code: 'LL_INVALID_TRANSITION' }));
    expect(() => sneaky({ status: 'closed', attempt: 0, since: 0 }, 'open')).toThrow(LifelineError);
  });

  test('invalid transitions do not compile (checked by npm run typecheck)', () => {
    const typeOnly = (state: ClientState) => {
      if (state.status === 'closed') {
        // @ts-expect-error closed → open is not in the table
        transition(state, 'open');
        transition(state, 'connecting');
      }
      if (state.status === 'open') {
        // @ts-expect-error open → connecting is not in the table
        transition(state, 'connecting');
      }
      if (state.status === 'open' || state.status === 'connecting') {
        transition(state, 'reconnecting'); // allowed from both
        // @ts-expect-error open → open is not allowed, so not from "open or connecting" either
        transition(state, 'open');
      }
      // @ts-expect-error an un-narrowed state has no valid next status
      transition(state, 'closed');
    };
    expect(typeof typeOnly).toBe('function');
  });

  test('a new client starts idle (autoOpen: false) or connecting, with attempt 1', () => {
    const idle = createClient('ws://127.0.0.1:9/', { autoOpen: false });
    expect(idle.state).toMatchObject({ status: 'idle', attempt: 0 });
    idle.close();
    expect(idle.state.status).toBe('closed');
  });
});

describe('close-code policy (default table)', () => {
  test('retry, retry-slow and stop', () => {
    const table = Object.fromEntries(
      [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, 3000, 3999, 4000, 4001, 4999].map((c) => [
        c,
        defaultCloseAction(c),
      ]),
    );
    expect(table).toEqual({
      1000: 'retry',
      1001: 'retry',
      1002: 'stop',
      1003: 'stop',
      1005: 'retry',
      1006: 'retry',
      1007: 'stop',
      1008: 'stop',
      1009: 'stop',
      1010: 'stop',
      1011: 'retry',
      1012: 'retry',
      1013: 'retry-slow',
      1014: 'retry',
      1015: 'retry-slow',
      3000: 'retry',
      3999: 'retry',
      4000: 'retry',
      4001: 'retry',
      4999: 'retry',
    });
  });
});

describe('backoff (full jitter)', () => {
  const options = { initialDelay: 1000, factor: 2, maxDelay: 30_000 };

  test('the window doubles per failure up to the ceiling', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => backoffWindow(n, options))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  test('the delay covers the whole window: 0 at random() = 0, just under the window at random() → 1', () => {
    expect(backoffDelay(3, options, () => 0)).toBe(0);
    expect(backoffDelay(3, options, () => 0.999999)).toBe(3999);
    expect(backoffDelay(50, options, () => 0.999999)).toBe(29_999);
  });
});

describe('URLs', () => {
  test('ws, wss, http and https are accepted; http(s) become ws(s)', () => {
    expect(toWebSocketUrl('ws://127.0.0.1:5000/echo')).toBe('ws://127.0.0.1:5000/echo');
    expect(toWebSocketUrl('wss://example.com/x?y=1')).toBe('wss://example.com/x?y=1');
    expect(toWebSocketUrl('http://127.0.0.1:5000/test')).toBe('ws://127.0.0.1:5000/test');
    expect(toWebSocketUrl('https://example.com/live')).toBe('wss://example.com/live');
    expect(toWebSocketUrl(new URL('HTTP://EXAMPLE.com'))).toBe('ws://example.com/');
    const client = createClient('http://127.0.0.1:9/test', { autoOpen: false });
    expect(client.url).toBe('ws://127.0.0.1:9/test');
  });

  test.each([
    ['ftp://example.com/x', /scheme ftp:.*ws:\/\/, wss:\/\//],
    ['localhost:5000/echo', /write ws:\/\/localhost:5000\/echo/],
    ['127.0.0.1:5000/echo', /not a URL; write e\.g\. ws:\/\/127\.0\.0\.1:5000\/echo/],
    ['/echo', /not a URL/],
    ['', /not a URL/],
    ['ws://127.0.0.1:5000/echo#frag', /fragment/],
  ])('%j throws LL_INVALID_URL with what to write', (input, message) => {
    let error: unknown;
    try {
      createClient(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LifelineError);
    expect(error).toMatchObject({ code: 'LL_INVALID_URL' });
    expect((error as Error).message).toMatch(message);
  });
});

describe('options', () => {
  test.each([
    [{ connectTimeout: 0 }, /connectTimeout/],
    [{ reconnect: { factor: 0.5 } }, /reconnect\.factor/],
    [{ reconnect: { initialDelay: 0 } }, /reconnect\.initialDelay/],
    [{ reconnect: { maxAttempts: 0 } }, /reconnect\.maxAttempts/],
    [{ heartbeat: { message: 'x', interval: -1 } }, /heartbeat\.interval/],
    [{ outbox: { overflow: 'drop-newest' as 'reject-new' } }, /outbox\.overflow/],
    [{ outbox: { ttl: 'soon' as unknown as number } }, /outbox\.ttl/],
  ])('%j throws LL_INVALID_OPTION naming the option', (options, message) => {
    expect(() => createClient('ws://127.0.0.1:9/', { autoOpen: false, ...options })).toThrow(
      expect.objectContaining({ code: 'LL_INVALID_OPTION', message: expect.stringMatching(message) }),
    );
  });

  test('a heartbeat without a message needs a WebSocket that can ping (ws can; a browser-like one cannot)', () => {
    expect(() => createClient('ws://127.0.0.1:9/', { autoOpen: false, heartbeat: {} })).not.toThrow();
    class BrowserLike {
      constructor(url: string) {
        void url;
      }
    }
    expect(() =>
      createClient('ws://127.0.0.1:9/', { autoOpen: false, heartbeat: {}, WebSocket: BrowserLike as unknown as WebSocketConstructor }),
    ).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION', message: expect.stringContaining('heartbeat.message') }));
  });

  test('in Node 20 (no global WebSocket) the default is ws, which can ping: a heartbeat needs no message', () => {
    if (Number(process.versions.node.split('.')[0]) < 22) expect((globalThis as { WebSocket?: unknown }).WebSocket).toBeUndefined();
    const client = new LifelineClient('ws://127.0.0.1:9/', { autoOpen: false, heartbeat: {} });
    expect(client).toBeInstanceOf(LifelineClient);
    expect(WebSocket.prototype.ping).toBeTypeOf('function');
  });
});

describe('byte length', () => {
  test('UTF-8 length of text, byteLength of binary', () => {
    for (const text of ['', 'a', 'é', '€', '😀', 'a\u00e9\u20ac\u{1F600}', 'x'.repeat(1000)]) {
      expect(byteLength(text)).toBe(Buffer.byteLength(text));
    }
    expect(byteLength(new Uint8Array(7))).toBe(7);
    expect(byteLength(new ArrayBuffer(3))).toBe(3);
  });
});
