/**
 * The adversarial suite against `lifeline serve` in a process of its own (issue 14): every
 * case is hostile input on a real socket, with two honest Lifeline clients (JSON and
 * MessagePack) connected beside it the whole time, each of which must get its numbered
 * echo after every case, in order, and the process must still be the same one (no exit, no
 * `uncaught-exception` line). Covered: hostile values (test/support/hostile.ts) in every
 * envelope type and field, in both formats, as the first frame, right after the welcome, in
 * a session with state (messages, a subscription, a request) and after a resume; raw frames
 * on the raw side of /echo and on /test; POST /api/publish bodies, whose accepted
 * publications must reach subscribers of both formats intact and come back the same from
 * history (`since`).
 */
import { encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { HonestBeside, HostileCounts, hostileValue, hugeString, nested, verdict, withTimeout, type Hostile } from './support/hostile.js';
import { expectation, FIRST_FRAME_TEMPLATES, HandConnection, render, same, SESSION_TEMPLATES, type Format, type Template } from './support/hostile-frames.js';
import { LifelineTestClient } from './support/lifeline-test-client.js';
import { serveOn, SERVER_RUNTIMES, type ServerRuntime } from './support/runtimes.js';
import { spawnServe, stopProcess, type ServeProcess } from './support/servers.js';
import { waitFor } from './support/wait.js';

const KEY = 'hostile-serve-key-0123456';
const CASE_MS = 60_000;
/**
 * fast-check settings for every property here: a failing case fails the test at once with
 * its own message (the wait that timed out names what it awaited). Shrinking would run the
 * case again and again, each run up to CASE_MS when the failure is a wait, past the test's
 * timeout: the failure would show as a hang.
 */
const PROPERTY = { endOnFailure: true } as const;
const counts = new HostileCounts('lifeline serve: Lifeline frames, raw frames, POST /api/publish');
const encodeMp = (v: unknown) => msgpackEncode(v, { maxDepth: 1000 });
const hostile = hostileValue(encodeMp);

let proc: ServeProcess;
/** How the Lifeline cases came out, so that a run that only ever took one path shows. */
const outcomes: Record<string, number> = {};
const honest: LifelineTestClient[] = [];
/** After every case: the same process (no exit, no uncaught-exception line), and both honest clients served. */
const besideProcess = () =>
  new HonestBeside(honest, counts, (what) => {
    expect(proc.child.exitCode, `lifeline serve exited after ${what}; stderr: ${proc.stderr.slice(-5).join('\n')}`).toBeNull();
    expect(proc.stderr.filter((line) => line.includes('uncaught-exception'))).toEqual([]);
  });
/** A new one for each server process (it numbers the honest clients' echoes). */
let beside: HonestBeside;

const survived = (what: string, counted = true) => beside.check(what, counted);

/**
 * What a runtime's own WebSocket server does with a frame it refuses before the app sees it
 * (docs/server.md "Runtimes"): Deno drops a connection whose text is not UTF-8 without a
 * close frame (the peer sees 1006); Bun closes for a message over its maxPayloadLength with
 * 1009 but no error envelope first (the app never sees the message).
 */
const REFUSED_BY_RUNTIME: Record<ServerRuntime, { notUtf8: number; overMaxPayloadEnvelope: boolean; closeMayBeReset: boolean }> = {
  node: { notUtf8: 1007, overMaxPayloadEnvelope: true, closeMayBeReset: false },
  bun: { notUtf8: 1007, overMaxPayloadEnvelope: false, closeMayBeReset: false },
  // Deno ends the TCP connection as soon as it has sent the server's close frame; a frame the
  // peer sent meanwhile (the probe behind each hostile frame) is then unread, the kernel
  // answers with a reset, and the peer may lose the error envelope and close frame (1006).
  deno: { notUtf8: 1006, overMaxPayloadEnvelope: true, closeMayBeReset: true },
};
let runtime: ServerRuntime = 'node';
/** Refusals the runtime turned into a reset (Deno, above), counted for the log. */
const resetByRuntime: Record<string, number> = {};

/**
 * A refusal as PROTOCOL.md §2.6 says: the close code, a reason `matches` accepts, and the
 * error envelope before it; or, on a runtime that may reset instead, a 1006 (counted).
 */
function expectRefusal(conn: HandConnection, close: { code: number; reason: string }, code: number, matches: (reason: string) => boolean, what: string): void {
  if (close.code === 1006 && REFUSED_BY_RUNTIME[runtime].closeMayBeReset) {
    resetByRuntime[runtime] = (resetByRuntime[runtime] ?? 0) + 1;
    return;
  }
  expect(close.code, `${what}: "${close.reason}"`).toBe(code);
  expect(matches(close.reason), `${what}: "${close.reason}"`).toBe(true);
  expect(conn.errors.at(-1), what).toEqual({ t: 'error', code: close.code, message: close.reason });
}

/** Sends the template's frame (and a probe after it) and checks what the server does. */
async function sendAndCheck(conn: HandConnection, t: Template, h: Hostile, s: number): Promise<void> {
  const format = conn.format;
  conn.send(render(t.frame(s), h, format));
  conn.sendEnvelope({ t: 'm', s: t.numbered ? s + 1 : s, d: 'probe' });
  counts.inputs++;
  const want = expectation(t, h, format);
  const what = `${t.name} = ${h.label} (${format})`;
  outcomes[want.kind] = (outcomes[want.kind] ?? 0) + 1;
  if (want.kind === 'reply') {
    await conn.next(want.reply, `${want.describe} for ${what}`);
    if (!FIRST_FRAME_TEMPLATES.includes(t)) await conn.next((e) => e.t === 'm' && e.d === 'probe', `the probe after ${what}`);
    expect(conn.errors, what).toEqual([]);
    return;
  }
  const close = await conn.closeInstead((e) => (e.t === 'm' && e.d === 'probe') || e.t === 'welcome', what);
  if (want.kind === 'refuse') expectRefusal(conn, close, 1007, (reason) => want.reasons.some((r) => r.test(reason)), what);
  else expectRefusal(conn, close, want.code, (reason) => want.reason.test(reason), what);
}

type Phase = 'first frame' | 'after the welcome' | 'with state' | 'after a resume';

async function lifelineCase(format: Format, phase: Phase, t: Template, h: Hostile): Promise<void> {
  counts.cases++;
  const conn = new HandConnection(proc.wsUrl('/echo'), format);
  try {
    await conn.open();
    if (phase === 'first frame') {
      conn.send(render(t.frame(1), h, format));
      counts.inputs++;
      const want = expectation(t, h, format);
      outcomes[want.kind] = (outcomes[want.kind] ?? 0) + 1;
      if (want.kind === 'reply') {
        await conn.next(want.reply, `${want.describe} for ${t.name} = ${h.label}`);
        expect(await conn.echo('after hello'), 'the session works').toMatchObject({ t: 'm' });
      } else {
        const what = `${t.name} = ${h.label}`;
        const close = await conn.closeInstead((e) => e.t === 'welcome', what);
        if (want.kind === 'refuse') expectRefusal(conn, close, 1007, (reason) => want.reasons.some((r) => r.test(reason)), what);
        else expectRefusal(conn, close, want.code, (reason) => want.reason.test(reason), what);
      }
      return;
    }
    await conn.hello();
    if (phase === 'with state' || phase === 'after a resume') {
      for (let i = 0; i < 3; i++) await conn.echo({ state: i });
      await conn.request('$subscribe', { ch: 'fz', presence: true });
      await conn.request('echo', { state: 'request' });
    }
    if (phase === 'after a resume') {
      const { sid, tok, rx, seq } = conn;
      conn.close();
      const again = new HandConnection(proc.wsUrl('/echo'), format);
      again.seq = seq;
      again.rx = rx;
      try {
        await again.open();
        const welcome = await again.hello({ sid: sid!, tok: tok!, rx });
        expect(welcome).toMatchObject({ resumed: true, sid });
        await sendAndCheck(again, t, h, again.seq + 1);
      } finally {
        again.close();
      }
      return;
    }
    await sendAndCheck(conn, t, h, conn.seq + 1);
  } finally {
    conn.close();
  }
}

/**
 * On each runtime's own server (docs/server.md "Runtimes"). Where a runtime refuses a frame
 * itself, what the peer sees is that runtime's (REFUSED_BY_RUNTIME below, with the reason).
 */
describe.each(SERVER_RUNTIMES)('lifeline serve --runtime %s', (name) => {
  beforeAll(async () => {
    runtime = name;
    beside = besideProcess();
    const on = serveOn(runtime);
    proc = await spawnServe(['--api-key', KEY, ...(process.env.HOSTILE_BREAK ? ['--max-depth', '1000'] : []), ...on.args], 60_000, on.env);
    for (const format of ['json', 'msgpack'] as const) {
      const client = new LifelineTestClient(proc.wsUrl('/echo'), { format });
      await withTimeout(client.connect(), `the honest ${format} client's welcome`);
      honest.push(client);
    }
  }, 600_000);

  afterAll(async () => {
    counts.print();
    console.log(`[hostile] lifeline serve --runtime ${runtime}: Lifeline cases by expected outcome ${JSON.stringify(outcomes)}; refusals the runtime turned into a reset: ${resetByRuntime[runtime] ?? 0}`);
    for (const client of honest) client.close();
    honest.length = 0;
    await stopProcess(proc);
  });

  describe('Lifeline frames (PROTOCOL.md §2.1, §2.6): hostile values in every field, both formats, every phase', () => {
    const format = fc.constantFrom<Format>('json', 'msgpack');
    const sessionCase = fc.tuple(format, fc.constantFrom<Phase>('after the welcome', 'with state', 'after a resume'), fc.constantFrom(...SESSION_TEMPLATES), hostile);
    const firstCase = fc.tuple(format, fc.constant<Phase>('first frame'), fc.constantFrom(...FIRST_FRAME_TEMPLATES), hostile);

    it('each frame is carried on or refused as PROTOCOL.md says; the process and the honest clients carry on', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof({ weight: 3, arbitrary: sessionCase }, { weight: 1, arbitrary: firstCase }), async ([f, phase, t, h]) => {
          const what = `${phase}: ${t.name} = ${h.label} (${f})`;
          await withTimeout(lifelineCase(f, phase, t, h), what);
          await survived(what);
        }),
        { ...PROPERTY, numRuns: 160 },
      );
    }, 600_000);

    it('the bound itself: 64 levels in d pass and 65 do not, in both formats; over maxPayload is 1009 with an error envelope', async () => {
      for (const format of ['json', 'msgpack'] as const) {
        for (const [n, ok] of [
          [64, true],
          [65, false],
        ] as const) {
          counts.cases++;
          const conn = new HandConnection(proc.wsUrl('/echo'), format);
          await withTimeout(conn.open(), `the open (${n} levels, ${format})`);
          await withTimeout(conn.hello(), `the welcome (${n} levels, ${format})`);
          await withTimeout(sendAndCheck(conn, SESSION_TEMPLATES[0]!, nested(n, 'array', true), 1), `${n} levels in d (${format})`);
          if (ok) expect(conn.errors).toEqual([]);
          conn.close();
          await survived(`${n} levels (${format})`);
        }
        counts.cases++;
        const conn = new HandConnection(proc.wsUrl('/echo'), format);
        await withTimeout(conn.open(), `the open (over maxPayload, ${format})`);
        await withTimeout(conn.hello(), `the welcome (over maxPayload, ${format})`);
        conn.send(render(SESSION_TEMPLATES[0]!.frame(1), hugeString(1024 * 1024 + 10, 'x'), format));
        counts.inputs++;
        const close = await withTimeout(conn.closed, `the close after a message over maxPayload (${format})`);
        if (REFUSED_BY_RUNTIME[runtime].overMaxPayloadEnvelope) {
          expect(close).toEqual({ code: 1009, reason: 'message over maxPayload: at most 1048576 bytes' });
          expect(conn.errors).toEqual([{ t: 'error', code: 1009, message: close.reason }]);
        } else {
          expect(close.code).toBe(1009);
          expect(conn.errors).toEqual([]);
        }
        await survived(`over maxPayload (${format})`);
      }
    }, 120_000);
  });

  describe('raw frames on /echo (raw mode) and /test', () => {
    it('what is echoed comes back byte for byte; text that is not UTF-8 is 1007; the process carries on', async () => {
      const frame = fc.oneof(
        hostile.map((h) => ({ label: h.label, data: Buffer.from(h.json), binary: false })),
        hostile.map((h) => ({ label: `${h.label} (MessagePack)`, data: Buffer.from(h.msgpack), binary: true })),
        fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b) => ({ label: 'random bytes as text', data: Buffer.from(b), binary: false })),
      );
      await fc.assert(
        fc.asyncProperty(frame, fc.constantFrom('/echo', '/test'), async ({ label, data, binary }, path) => {
          counts.cases++;
          const ws = new WebSocket(proc.wsUrl(path), { maxPayload: 0 });
          ws.on('error', () => {});
          const got: { data: Buffer; binary: boolean }[] = [];
          ws.on('message', (d: Buffer, b) => got.push({ data: d, binary: b }));
          const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
          await withTimeout(new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))), `the open of ${path} for ${label}`);
          const valid = binary || Buffer.from(data.toString('utf8')).equals(data);
          ws.send(data, { binary });
          counts.inputs++;
          const what = `${label} on ${path}`;
          try {
            if (!valid) {
              expect((await withTimeout(closed, what)).code, what).toBe(REFUSED_BY_RUNTIME[runtime].notUtf8);
            } else if (path === '/echo') {
              await withTimeout(waitFor(() => got.length > 0, `the echo of ${what}`, CASE_MS), what);
              expect(got[0]!.binary).toBe(binary);
              expect(got[0]!.data.equals(data), what).toBe(true);
            } else {
              // The seed's route answers "111111111" first, then the JSON string of the text (or base64 of bytes) and "111111111".
              await withTimeout(waitFor(() => got.length >= 3, `the seed's answer to ${what}`, CASE_MS), what);
              expect(JSON.parse(got[1]!.data.toString())).toBe(binary ? data.toString('base64') : data.toString('utf8'));
            }
          } finally {
            ws.terminate();
          }
          await survived(what);
        }),
        { ...PROPERTY, numRuns: 60 },
      );
    }, 300_000);
  });

  describe('POST /api/publish (PROTOCOL.md §3.5): hostile bodies', () => {
    /** A POST whose answer (status and body) must come within CASE_MS, or it fails naming the request. */
    const post = (body: string, authorization = `Bearer ${KEY}`) =>
      fetch(proc.httpUrl('/api/publish'), {
        method: 'POST',
        headers: { Authorization: authorization, 'Content-Type': 'application/json' },
        body,
        signal: AbortSignal.timeout(CASE_MS),
      });

    it('refused bodies get 400/401/413 with a JSON error and use no offset; accepted ones reach JSON and MessagePack subscribers intact, and history gives them back', async () => {
      const subscribers = await Promise.all(
        (['json', 'msgpack'] as const).map(async (format) => {
          const conn = new HandConnection(proc.wsUrl('/echo'), format);
          await withTimeout(conn.open(), `the ${format} subscriber's open`);
          await withTimeout(conn.hello(), `the ${format} subscriber's welcome`);
          const answer = await withTimeout(conn.request('$subscribe', { ch: 'fz-http' }), `the ${format} subscriber's $subscribe`);
          expect(answer.d).toMatchObject({ ch: 'fz-http' });
          return conn;
        }),
      );
      const accepted: { offset: number; epoch: string; h: Hostile }[] = [];
      const slot = fc.constantFrom('data' as const, 'channel' as const);
      const body = fc.oneof(
        { weight: 6, arbitrary: fc.tuple(hostile, slot).map(([h, where]) => ({ h, where })) },
        { weight: 1, arbitrary: fc.constantFrom('not json', '[]', '42', '', '{"channel":"fz-http"}', '{"channel":"fz-http","data":1,"key":[]}').map((raw) => ({ raw })) },
        { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((auth) => ({ auth })) },
      );
      await fc.assert(
        fc.asyncProperty(body, async (c) => {
          counts.cases++;
          counts.inputs++;
          let what: string;
          if ('auth' in c) {
            what = `Authorization: ${JSON.stringify(c.auth)}`;
            const response = await post('{"channel":"fz-http","data":1}', c.auth);
            expect(response.status, what).toBe(401);
            expect(await response.json()).toMatchObject({ error: { code: 'LL_UNAUTHORIZED' } });
          } else if ('raw' in c) {
            what = `body ${JSON.stringify(c.raw)}`;
            const response = await post(c.raw);
            expect(response.status, what).toBe(400);
            expect(await response.json(), what).toMatchObject({ error: { code: expect.stringMatching(/^LL_/) } });
          } else {
            const { h, where } = c;
            what = `${where} = ${h.label}`;
            const text = where === 'data' ? `{"channel":"fz-http","data":${h.json}}` : `{"channel":${h.json},"data":1}`;
            const response = await post(text);
            const json = (await response.json()) as { offset?: number; epoch?: string; error?: { code: string; message: string } };
            const v = verdict(h.stats, 64, 2);
            if (!v.ok) {
              expect(response.status, what).toBe(400);
              expect(v.codes, what).toContain(json.error?.code);
            } else if (where === 'channel' && !(typeof h.value === 'string' && /^[A-Za-z0-9_\-:.@/=+]{1,255}$/.test(h.value) && !h.value.endsWith(':*'))) {
              expect(response.status, what).toBe(400);
              expect(json.error?.code, what).toBe('LL_INVALID_CHANNEL');
            } else {
              expect(response.status, `${what}: ${JSON.stringify(json).slice(0, 200)}`).toBe(200);
              if (where === 'data') accepted.push({ offset: json.offset!, epoch: json.epoch!, h });
            }
          }
          await survived(what);
        }),
        { ...PROPERTY, numRuns: 120 },
      );
      // Every accepted publication reached both subscribers, in offset order, intact (and each
      // offset was used once: a refused body took none).
      const offsets = accepted.map((a) => a.offset);
      expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i + 1));
      for (const sub of subscribers) {
        await waitFor(() => sub.envelopes.filter((e) => e.t === 'p').length >= accepted.length, `${sub.format}: every publication`, CASE_MS);
        const ps = sub.envelopes.filter((e) => e.t === 'p');
        expect(ps.map((p) => p.o)).toEqual(offsets);
        ps.forEach((p, i) => {
          const { h } = accepted[i]!;
          if (h.written !== undefined) expect(same(p.d, h.written), `${sub.format}: ${h.label}`).toBe(true);
        });
        sub.close();
      }
      // The history gives the last 100 back (the channel's default history), the same.
      if (accepted.length > 0) {
        const late = new HandConnection(proc.wsUrl('/echo'), 'msgpack');
        await withTimeout(late.open(), "the late subscriber's open");
        await withTimeout(late.hello(), "the late subscriber's welcome");
        const from = Math.max(0, accepted.length - 100);
        const answer = await withTimeout(late.request('$subscribe', { ch: 'fz-http', since: { o: from, ep: accepted[0]!.epoch } }), "the late subscriber's $subscribe with since");
        expect(answer.d).toMatchObject({ recovered: true });
        await waitFor(() => late.envelopes.filter((e) => e.t === 'p').length === accepted.length - from, 'the recovered publications', CASE_MS);
        late.envelopes
          .filter((e) => e.t === 'p')
          .forEach((p, i) => {
            const { h, offset } = accepted[from + i]!;
            expect(p.o).toBe(offset);
            if (h.written !== undefined) expect(same(p.d, h.written), h.label).toBe(true);
          });
        late.close();
      }
      await survived('the HTTP bodies', false);
    }, 600_000);

    it('a body over maxPayload is 413 with a JSON error', async () => {
      counts.cases++;
      counts.inputs++;
      const response = await post(`{"channel":"fz-http","data":"${'x'.repeat(1024 * 1024 + 1)}"}`);
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ error: { code: 'LL_TOO_LARGE' } });
      await survived('a body over maxPayload');
    });
  });
});
