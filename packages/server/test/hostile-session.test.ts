/**
 * Past the decoder (issue 14): what a hostile peer's accepted values, and what server code
 * hands the server, do further on — replayed after a resume, published through channels to
 * subscribers of every format and given back by history, encoded for a send, an answer, a
 * publication or presence — and what a throwing listener does. Each case against a real app
 * on 127.0.0.1 with an honest client beside it that must keep being served; the process must
 * see no uncaught exception and no unhandled rejection.
 */
import { encode as msgpackEncode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { App, DropInfo, Logger, LogFields } from '@lifeline/server';
import { acceptableValue, HonestBeside, HostileCounts, type Hostile } from '../../../test/support/hostile.js';
import { HandConnection, same, type Format } from '../../../test/support/hostile-frames.js';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const counts = new HostileCounts('server sessions: replay, channels, presence, encode paths, listeners');
const encodeMp = (v: unknown) => msgpackEncode(v, { maxDepth: 1000 });
const acceptable = acceptableValue(encodeMp);

const logged: { level: string; event: string; fields: LogFields }[] = [];
const logger: Logger = { enabled: () => true, log: (level, event, fields) => void logged.push({ level, event, fields: fields ?? {} }) };
const processErrors: unknown[] = [];
const onProcessError = (error: unknown) => processErrors.push(error);
const drops: DropInfo[] = [];
let running: RunningApp;
let app: App;
let honest: LifelineTestClient;
let beside: HonestBeside;

function deep(n: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}
const cycle = (): unknown => {
  const o: Record<string, unknown> = {};
  o.self = o;
  return o;
};
/**
 * Values server code might hand over: the code publishing or presence refuses them with, and
 * whether a send or an answer (not bounded: the server trusts its own code's size) can still
 * carry them in both formats.
 */
const SERVER_HOSTILE: { label: string; make: () => unknown; refused: RegExp; carried: boolean; json: boolean }[] = [
  // `json`: JSON.stringify alone (a raw connection's sendJson) can write it.
  { label: 'a 5,000-deep array', make: () => deep(5000), refused: /LL_ENCODE_FAILED|LL_TOO_DEEP/, carried: false, json: false },
  { label: 'a 70-deep array', make: () => deep(70), refused: /LL_TOO_DEEP/, carried: true, json: true },
  { label: 'a BigInt', make: () => ({ n: 1n }), refused: /LL_ENCODE_FAILED/, carried: false, json: false },
  { label: 'a cycle', make: cycle, refused: /LL_ENCODE_FAILED/, carried: false, json: false },
  { label: 'a lone surrogate', make: () => ({ s: 'x\ud800' }), refused: /LL_LONE_SURROGATE/, carried: false, json: true },
  { label: 'an own __proto__ key', make: () => JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as unknown, refused: /LL_FORBIDDEN_KEY/, carried: false, json: true },
  { label: '20,000 items', make: () => new Array(20_000).fill(0), refused: /LL_TOO_MANY_ITEMS/, carried: true, json: true },
  { label: 'a key of 5,000 characters', make: () => ({ ['k'.repeat(5000)]: 1 }), refused: /LL_KEY_TOO_LONG/, carried: true, json: true },
];

beforeAll(async () => {
  process.on('uncaughtException', onProcessError);
  process.on('unhandledRejection', onProcessError);
  running = await startApp(
    (a) => {
      a.channel('fz', { clientPublish: true, presence: true });
      a.channel('fz-app', {});
      a.ws('/echo', { lifeline: true }, (socket) => {
        socket.on('message', (m) => socket.send(m));
        socket.handle('echo', (d) => d);
        // Server code handing over what no wire carries: an answer, a send, presence info.
        socket.handle('answer-hostile', (i) => SERVER_HOSTILE[i as number]!.make());
        socket.handle('send-hostile', (i) => {
          const sent = socket.sendJson(SERVER_HOSTILE[i as number]!.make());
          return { sent, drop: drops.at(-1)?.reason };
        });
        socket.handle('presence-hostile', (i) => {
          try {
            socket.presence = { id: `p${i as number}`, info: SERVER_HOSTILE[i as number]!.make() };
            return 'accepted';
          } catch (error) {
            return (error as { code: string }).code;
          }
        });
        socket.on('drop', (d) => drops.push(d));
      });
      // Raw routes whose application code lets the peer's bad data, or its own bug, escape.
      a.ws('/json-listener', (socket) => socket.on('message', (m) => socket.sendJson(m.json())));
      a.ws('/json-loop', async (socket) => {
        for await (const m of socket) socket.sendJson(m.json());
      });
      a.ws('/throwing', { lifeline: true }, (socket) => {
        socket.on('message', (m) => {
          if (m.json() === 'throw') throw new Error('a bug in a message listener');
          socket.send(m);
        });
        socket.on('close', () => {
          throw new Error('a bug in a close listener');
        });
      });
      a.ws('/raw-send', (socket) => {
        socket.on('drop', (d) => drops.push(d));
        socket.on('message', (m) => {
          const sent = socket.sendJson(SERVER_HOSTILE[Number(m.text)]!.make());
          socket.send(JSON.stringify({ sent, drop: drops.at(-1)?.reason }));
        });
      });
    },
    { logger },
  );
  app = running.app;
  honest = new LifelineTestClient(running.wsUrl('/echo'));
  await honest.connect();
  beside = new HonestBeside([honest], counts, (what) => {
    expect(processErrors, what).toEqual([]);
    expect(app.state).toBe('running');
  });
});

afterAll(async () => {
  counts.print();
  honest?.close();
  await running?.stop();
  process.off('uncaughtException', onProcessError);
  process.off('unhandledRejection', onProcessError);
});

const survived = (what: string) => beside.check(what);

async function connected(format: Format, path = '/echo', autoAck = true): Promise<HandConnection> {
  const conn = new HandConnection(running.wsUrl(path), format, autoAck);
  await conn.open();
  await conn.hello();
  return conn;
}

describe('accepted hostile values survive replay after a resume', () => {
  it('the echo of any acceptable value, held unacknowledged and replayed from the replay buffer on resume, is the value', async () => {
    await fc.assert(
      fc.asyncProperty(acceptable, fc.constantFrom<Format>('json', 'msgpack'), async (h, format) => {
        counts.cases++;
        counts.inputs++;
        const first = await connected(format, '/echo', false);
        first.sendEnvelope({ t: 'm', s: 1, d: h.written });
        const echo = await first.next((e) => e.t === 'm', 'the echo');
        expect(same(echo.d, h.written), h.label).toBe(true);
        first.close();
        const again = new HandConnection(running.wsUrl('/echo'), format);
        await again.open();
        await again.hello({ sid: first.sid!, tok: first.tok!, rx: (echo.s as number) - 1 });
        const replayed = await again.next((e) => e.t === 'm' && e.s === echo.s, 'the replayed echo');
        expect(same(replayed.d, h.written), `${h.label} (${format}), replayed`).toBe(true);
        again.close();
        await survived(`replay of ${h.label}`);
      }),
      { numRuns: 60 },
    );
  }, 300_000);
});

describe('accepted hostile values published through a channel', () => {
  it('$publish from either format reaches JSON, MessagePack and raw subscribers intact; history gives it back the same', async () => {
    const json = await connected('json');
    const msgpack = await connected('msgpack');
    for (const sub of [json, msgpack]) expect((await sub.request('$subscribe', { ch: 'fz' })).d).toMatchObject({ ch: 'fz' });
    const rawReceived: string[] = [];
    const raw = new WebSocket(running.wsUrl('/echo'));
    raw.on('message', (d: Buffer) => rawReceived.push(d.toString()));
    await new Promise((resolve) => raw.once('open', resolve));
    await waitFor(() => app.connections.size > 0, 'the raw connection');
    const rawSocket = [...app.connections].find((s) => s.route === '/echo')!;
    await rawSocket.subscribe('fz');
    const published: { o: number; ep: string; h: Hostile }[] = [];
    await fc.assert(
      fc.asyncProperty(acceptable, fc.constantFrom<Format>('json', 'msgpack'), async (h, format) => {
        counts.cases++;
        counts.inputs++;
        const publisher = await connected(format);
        const answer = await publisher.request('$publish', { ch: 'fz', d: h.written });
        publisher.close();
        expect(answer.d, h.label).toMatchObject({ o: published.length + 1 });
        published.push({ o: (answer.d as { o: number }).o, ep: (answer.d as { ep: string }).ep, h });
        for (const sub of [json, msgpack]) {
          const p = await sub.next((e) => e.t === 'p' && e.o === published.length, `${sub.format}: publication ${published.length}`);
          expect(same(p.d, h.written), `${sub.format}: ${h.label}`).toBe(true);
        }
        await waitFor(() => rawReceived.length === published.length, 'the raw subscriber');
        const text = rawReceived.at(-1)!;
        expect(typeof h.written === 'string' ? text : same(JSON.parse(text), h.written), `raw: ${h.label}`).toBe(typeof h.written === 'string' ? h.written : true);
        await survived(`publication of ${h.label}`);
      }),
      { numRuns: 50 },
    );
    for (const format of ['json', 'msgpack'] as const) {
      const late = await connected(format);
      const answer = await late.request('$subscribe', { ch: 'fz', since: { o: 0, ep: published[0]!.ep } });
      expect(answer.d).toMatchObject({ recovered: true });
      await waitFor(() => late.envelopes.filter((e) => e.t === 'p').length === published.length, `${format}: the history`);
      late.envelopes
        .filter((e) => e.t === 'p')
        .forEach((p, i) => expect(same(p.d, published[i]!.h.written), `${format} history: ${published[i]!.h.label}`).toBe(true));
      late.close();
    }
    json.close();
    msgpack.close();
    raw.terminate();
  }, 300_000);
});

describe('what server code hands over that no wire carries', () => {
  for (const [i, { label, make, refused: code, carried, json }] of SERVER_HOSTILE.entries()) {
    it(`${label}: app.publish rejects before an offset; presence info is refused; a send is ${carried ? 'sent' : 'a drop (encode-failed)'}, an answer ${carried ? 'carries it' : 'is LL_ENCODE_FAILED'}`, async () => {
      counts.cases++;
      counts.inputs += 4;
      const before = await app.publish('fz-app', { ok: i });
      await expect(app.publish('fz-app', make())).rejects.toMatchObject({ code: expect.stringMatching(code) });
      expect((await app.publish('fz-app', { ok: i })).offset).toBe(before.offset + 1); // the refused one took no offset

      for (const format of ['json', 'msgpack'] as const) {
        const conn = await connected(format);
        const answer = await conn.request('answer-hostile', i);
        if (carried) expect(answer.e, `${label} (${format})`).toBeUndefined();
        else expect(answer.e, `${label} (${format})`).toEqual({ code: 'LL_ENCODE_FAILED', message: 'the answer cannot be encoded' });
        expect((await conn.request('send-hostile', i)).d, `${label} (${format})`).toMatchObject(carried ? { sent: true } : { sent: false, drop: 'encode-failed' });
        expect((await conn.request('presence-hostile', i)).d).toMatch(code);
        expect(await conn.echo('still here')).toMatchObject({ d: 'still here' });
        expect(conn.errors).toEqual([]);
        conn.close();
      }
      // A raw connection's sendJson: JSON only, so a lone surrogate or a __proto__ key goes out as JSON.stringify writes it.
      const raw = new WebSocket(running.wsUrl('/raw-send'));
      const replies: string[] = [];
      raw.on('message', (d: Buffer) => replies.push(d.toString()));
      await new Promise((resolve) => raw.once('open', resolve));
      raw.send(String(i));
      await waitFor(() => replies.some((r) => r.startsWith('{"sent"')), 'the raw answer');
      const result = JSON.parse(replies.find((r) => r.startsWith('{"sent"'))!) as { sent: boolean; drop?: string };
      expect(result.sent, `raw: ${label}`).toBe(json);
      if (!result.sent) expect(result.drop).toBe('encode-failed');
      raw.terminate();
      await survived(label);
    });
  }
});

describe('application code that throws: the process-level rule (docs/server.md "When code throws")', () => {
  it('Message.json() of a hostile text escaping a listener or a for-await handler closes 1007 with the reason; other bad data the same', async () => {
    const texts: [string, RegExp][] = [
      [`${'['.repeat(5000)}${']'.repeat(5000)}`, /nests deeper than 64 levels/],
      [`[${'0,'.repeat(20_000)}0]`, /more than 10000 items/],
      ['{"__proto__":{"polluted":true}}', /__proto__/],
      ['"\\ud800"', /lone surrogate/],
      ['not json', /not JSON/],
    ];
    for (const path of ['/json-listener', '/json-loop']) {
      for (const [text, reason] of texts) {
        counts.cases++;
        counts.inputs++;
        const ws = new WebSocket(running.wsUrl(path));
        ws.on('error', () => {});
        const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (c, r) => resolve({ code: c, reason: r.toString() })));
        await new Promise((resolve) => ws.once('open', resolve));
        ws.send(text);
        const close = await closed;
        expect(close.code, `${path}: ${text.slice(0, 30)}`).toBe(1007);
        expect(close.reason).toMatch(reason);
        await survived(`${path}: ${text.slice(0, 30)}`);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a message listener that throws closes its session with 1011, logged listener-error; a close listener that throws is logged; the process and others carry on', async () => {
    counts.cases++;
    counts.inputs++;
    const mark = logged.length;
    const conn = await connected('json', '/throwing');
    expect(await conn.echo('fine')).toMatchObject({ d: 'fine' });
    conn.sendEnvelope({ t: 'm', s: ++conn.seq, d: 'throw' });
    const close = await conn.closed;
    expect(close).toEqual({ code: 1011, reason: 'internal error' });
    const errors = () => logged.slice(mark).filter((l) => l.event === 'listener-error');
    await waitFor(() => errors().length >= 2, 'both listener errors logged');
    expect(errors().map((l) => [l.level, l.fields.event, l.fields.route])).toEqual([
      ['error', 'message', '/throwing'],
      ['error', 'close', '/throwing'],
    ]);
    await survived('throwing listeners');
  });
});

