import { encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope, type Envelope } from '@lifeline/protocol';
import { encodeEnvelopeMsgpack } from '@lifeline/protocol/msgpack';
import WebSocket from 'ws';
import { expectedVerdict } from '../../../test/support/lifeline-oracle.js';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

/**
 * Generalises lifeline-errors.test.ts: over a real Lifeline connection to an in-process
 * echo app, after hello/welcome the client sends ONE generated frame (arbitrary text,
 * arbitrary JSON, a mutated envelope, arbitrary bytes or MessagePack values, or a frame of
 * the other mode), then two probe messages (`m` s=1 and s=2). The server must do exactly
 * what PROTOCOL.md says of that frame: carry on (the probe is echoed), or close with the
 * code §2.6 assigns (1002 / 1007 / 1008), a non-empty reason, and one `error` envelope
 * carrying the same code and message first. The expected outcome comes from
 * test/support/lifeline-oracle.ts, the document's rules written out without the codecs under
 * test. The process must see no uncaught exception or unhandled rejection, and a fresh
 * client must get an echo after every case.
 */

const NUM_RUNS = 250;
const CASE_TIMEOUT_MS = 10_000;

type Mode = 'json' | 'msgpack';
interface Case {
  kind: string;
  mode: Mode;
  frame: string | Uint8Array;
}

// ---- arbitraries ------------------------------------------------------------------------

const json = fc.jsonValue({ maxDepth: 3 });
const smallInt = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constant(1), fc.maxSafeInteger(), fc.double());
const anyField = fc.oneof(json, smallInt, fc.constant(undefined));

/** Plain-object envelopes, valid and mostly with s=1 so that many of them are acceptable next. */
const baseEnvelope: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  json.map((d) => ({ t: 'm', s: 1, d })),
  fc.tuple(json, fc.nat(2)).map(([d, a]) => ({ t: 'm', s: 1, a, d })),
  fc.tuple(fc.integer({ min: 1, max: 100 }), fc.string({ minLength: 1, maxLength: 10 }), json).map(([id, n, d]) => ({ t: 'q', s: 1, id, n, d })),
  fc.tuple(fc.integer({ min: 1, max: 100 }), json).map(([id, d]) => ({ t: 'r', s: 1, id, d })),
  fc.nat(3).map((a) => ({ t: 'a', a })),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((ts) => ({ t: 'pong', ts: ts === 0 ? 0 : ts })),
  fc.constant({ t: 'hello', v: 1 }),
  fc.constant({ t: 'ping', ts: 1 }),
  fc.constant({ t: 'welcome', sid: 'a', tok: 'b', rx: 0, resumed: false, hb: 1000 }),
  fc.constant({ t: 'error', code: 1002, message: 'x' }),
);

const fieldName = fc.oneof(fc.constantFrom('t', 's', 'a', 'd', 'b', 'id', 'n', 'e', 'v', 'ts', 'rx', 'sid', 'tok'), fc.string({ maxLength: 5 }));

/** A valid envelope, left alone or with one field deleted, replaced or added, or its `t` changed. */
const mutatedEnvelope = fc
  .tuple(
    baseEnvelope,
    fc.oneof(
      fc.constant({ op: 'none' as const }),
      fieldName.map((k) => ({ op: 'delete' as const, k })),
      fc.tuple(fieldName, anyField).map(([k, v]) => ({ op: 'set' as const, k, v })),
      fc.string({ maxLength: 8 }).map((t) => ({ op: 'set' as const, k: 't', v: t as unknown })),
    ),
  )
  .map(([e, m]) => {
    const out: Record<string, unknown> = { ...e };
    if (m.op === 'delete') delete out[m.k];
    if (m.op === 'set') out[m.k] = m.v;
    return out;
  });

const arbitraryCase: fc.Arbitrary<Case> = fc.oneof(
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map((frame): Case => ({ kind: 'text', mode: 'json', frame })) },
  { weight: 2, arbitrary: json.map((v): Case => ({ kind: 'json value', mode: 'json', frame: JSON.stringify(v) })) },
  { weight: 4, arbitrary: mutatedEnvelope.map((e): Case => ({ kind: 'mutated envelope (JSON)', mode: 'json', frame: JSON.stringify(e) })) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 60 }).map((frame): Case => ({ kind: 'bytes', mode: 'msgpack', frame })) },
  {
    weight: 2,
    arbitrary: fc.oneof(json, fc.uint8Array({ maxLength: 8 })).map((v): Case => ({ kind: 'msgpack value', mode: 'msgpack', frame: msgpackEncode(v) })),
  },
  {
    weight: 3,
    arbitrary: mutatedEnvelope.map((e): Case => ({ kind: 'mutated envelope (msgpack)', mode: 'msgpack', frame: msgpackEncode(e, { ignoreUndefined: true }) })),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.uint8Array({ maxLength: 30 }).map((frame): Case => ({ kind: 'binary in JSON mode', mode: 'json', frame })),
      fc.string({ maxLength: 30 }).map((frame): Case => ({ kind: 'text in msgpack mode', mode: 'msgpack', frame })),
    ),
  },
);

// ---- harness ----------------------------------------------------------------------------

let running: RunningApp;
const processErrors: unknown[] = [];
const onProcessError = (error: unknown) => processErrors.push(error);

beforeAll(async () => {
  process.on('uncaughtException', onProcessError);
  process.on('unhandledRejection', onProcessError);
  running = await startApp((app) => app.ws('/f', { lifeline: true }, (socket) => socket.on('message', (m) => socket.send(m))), { handshakeTimeout: 2000 });
});

afterAll(async () => {
  process.off('uncaughtException', onProcessError);
  process.off('unhandledRejection', onProcessError);
  await running?.stop();
});

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`case timed out after ${CASE_TIMEOUT_MS} ms: ${what}`)), CASE_TIMEOUT_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function probe(mode: Mode, s: number): string | Uint8Array {
  const e: Envelope = { t: 'm', s, d: 'probe' };
  return mode === 'json' ? encodeEnvelope(e) : encodeEnvelopeMsgpack(e);
}

async function runCase(c: Case): Promise<void> {
  const client = new LifelineTestClient(running.wsUrl('/f'), { format: c.mode });
  try {
    await client.connect();
    const ws = client.ws!;
    const closed = client.closed();
    ws.send(c.frame, { binary: typeof c.frame !== 'string' });
    for (const s of [1, 2]) if (ws.readyState === WebSocket.OPEN) ws.send(probe(c.mode, s), { binary: c.mode === 'msgpack' });

    const echoed = waitFor(() => client.messages.includes('probe'), 'probe echo', CASE_TIMEOUT_MS).then(() => 'open' as const);
    const outcome = await Promise.race([echoed, closed]);
    const want = expectedVerdict(c);

    if (outcome === 'open') {
      expect(want, 'the server carried on after a frame PROTOCOL.md says it must close for').toEqual({ open: true });
      expect(client.errors).toEqual([]);
    } else {
      expect(outcome.code, `closed ${outcome.code} "${outcome.reason}"; PROTOCOL.md says ${JSON.stringify(want)}`).toBe('close' in want ? want.close : 'open');
      expect(outcome.reason.length).toBeGreaterThan(0);
      expect(client.errors).toEqual([{ t: 'error', code: outcome.code, message: outcome.reason }]);
    }
    expect(client.problems).toEqual([]);
  } finally {
    client.close();
  }

  // The server keeps serving: a fresh session still gets an echo.
  const fresh = new LifelineTestClient(running.wsUrl('/f'));
  try {
    await fresh.connect();
    fresh.send('alive');
    await waitFor(() => fresh.messages.includes('alive'), 'echo on a fresh session', CASE_TIMEOUT_MS);
  } finally {
    fresh.close();
  }
  expect(processErrors).toEqual([]);
}

describe('Lifeline mode: fuzzed frames after welcome (PROTOCOL.md §2.6)', () => {
  it(`${NUM_RUNS} generated frames: carry on, or close 1002/1007/1008 with an error envelope; the server keeps serving`, async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryCase, (c) => withTimeout(runCase(c), `${c.kind} ${JSON.stringify(typeof c.frame === 'string' ? c.frame : Array.from(c.frame))}`)),
      { numRuns: NUM_RUNS, interruptAfterTimeLimit: 150_000, markInterruptAsFailure: true }, // ~4 s here, 17 s on a loaded 2-core machine
    );
    expect(processErrors).toEqual([]);
  }, 200_000);
});
