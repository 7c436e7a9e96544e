/** §2.5: the server's pings (R1, R2) and client probes (R4, R6). */
import type { Envelope } from '../codec.js';
import type { CheckContext, CheckDef } from '../context.js';
import { fail, notApplicable } from '../outcome.js';
import type { Item, Peer } from '../peer.js';
import { rejected, stillEchoes, unique } from './util.js';

const HB_OFF = 2 ** 31 - 1;
const slack = (hb: number) => Math.max(hb / 4, 25);

function needProbes(ctx: CheckContext): void {
  if (!ctx.info.probe) notApplicable('the welcome does not offer probes (no probe: true): a revision-1 server, §2.5 R5');
}

const isPong = (i: Item) => i.kind === 'env' && i.env['t'] === 'pong';

async function probe(peer: Peer, ts: unknown, extra: Envelope = {}): Promise<{ pong: Envelope; ms: number }> {
  const sentAt = performance.now();
  peer.send({ t: 'ping', ts, ...extra });
  const item = await peer.waitFor(`the pong to ts ${String(ts)}`, isPong, peer.ctx.t(5000));
  return { pong: (item as { env: Envelope }).env, ms: Math.round(item.at - sentAt) };
}

export const LIVENESS_CHECKS: CheckDef[] = [
  {
    rule: '§2.5 R4',
    title: 'a revision-2 server offers probes: probe: true in the welcome',
    async run(ctx) {
      needProbes(ctx);
      return 'probe: true';
    },
  },
  {
    rule: '§2.5 R4',
    title: 'a client ping is answered at once by one pong with the same ts, outside the numbered stream',
    codecs: 'both',
    async run(ctx) {
      needProbes(ctx);
      const peer = await ctx.open();
      const ts = Date.now();
      const { pong, ms } = await probe(peer, ts);
      if (pong['ts'] !== ts) fail(`pong.ts ${String(pong['ts'])} for ts ${ts}`);
      if ('s' in pong) fail('the pong carries s');
      if (ms > ctx.t(2000)) fail(`the pong took ${ms} ms`);
      return `pong after ${ms} ms`;
    },
  },
  {
    rule: '§2.5 R6',
    title: 'pong.ts equals a fractional and a negative ts numerically',
    codecs: 'both',
    async run(ctx) {
      needProbes(ctx);
      const peer = await ctx.open();
      for (const ts of [1.5, -42.25, 0]) {
        const { pong } = await probe(peer, ts);
        if (pong['ts'] !== ts) fail(`pong.ts ${String(pong['ts'])} for ts ${ts}`);
      }
      return '1.5, -42.25 and 0 came back';
    },
  },
  {
    rule: '§2.5 R4',
    title: 'three pings in a row: three pongs, in order; a client rtt is ignored',
    async run(ctx) {
      needProbes(ctx);
      const peer = await ctx.open();
      peer.send({ t: 'ping', ts: 101 });
      peer.send({ t: 'ping', ts: 102, rtt: 5 });
      peer.send({ t: 'ping', ts: 103 });
      const got: unknown[] = [];
      for (let i = 0; i < 3; i++) got.push(((await peer.waitFor('a pong', isPong)) as { env: Envelope }).env['ts']);
      if (got.join() !== '101,102,103') fail(`pongs ${got.join(', ')}`);
      await stillEchoes(peer, 'after the probes');
      return 'pongs 101, 102, 103';
    },
  },
  {
    rule: '§2.5 R6',
    title: 'a pong that answers no ping is ignored, never an error',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      peer.send({ t: 'pong', ts: 12345 });
      await stillEchoes(peer, 'after a stray pong');
      return 'ignored';
    },
  },
  {
    rule: '§2.1 R1',
    title: 'a client ping without ts: 1002',
    async run(ctx) {
      needProbes(ctx);
      return rejected(ctx, (peer) => peer.send({ t: 'ping' }), 1002);
    },
  },
  {
    rule: '§2.1 R1',
    title: 'a client ping with ts "1" (a string): 1002',
    async run(ctx) {
      needProbes(ctx);
      return rejected(ctx, (peer) => peer.send({ t: 'ping', ts: '1' }), 1002);
    },
  },
  {
    rule: '§2.5 R5',
    title: 'without probe: true, a client ping is closed with 1008 (revision 1)',
    async run(ctx) {
      if (ctx.info.probe) notApplicable('the server offers probes');
      return rejected(ctx, (peer) => peer.send({ t: 'ping', ts: 1 }), 1008);
    },
  },
  {
    rule: '§2.5 R1',
    title: 'a silent connection gets a ping within hb + max(hb/4, 25) ms, and none before hb - max(hb/4, 25) ms of silence',
    async run(ctx) {
      const hb = ctx.info.hb;
      if (hb === HB_OFF) notApplicable('hb is 2^31-1: the heartbeat is off');
      const peer = await ctx.connect();
      const helloAt = performance.now();
      peer.send({ t: 'hello', v: 1 });
      await peer.expectWelcome();
      const late = hb + slack(hb) + ctx.t(1000);
      const isPing = (i: Item) => i.kind === 'env' && i.env['t'] === 'ping';
      // The first ping may also be R2's (a round trip not yet measured); only its lateness is judged.
      const first = await peer.waitFor('the first ping', isPing, late);
      const firstAfter = Math.round(first.at - helloAt);
      if (firstAfter > late) fail(`the first ping came ${firstAfter} ms after the hello, later than hb + max(hb/4, 25) + margin = ${Math.round(late)}`);
      // The kit's pong (sent on arrival) is the last frame: from here the connection is silent
      // and its round trip fresh, so R1 and R2 agree on the window for the next ping.
      const pongAt = first.at;
      const second = await peer.waitFor('the ping after a silent spell', isPing, late + ctx.t(1000));
      const silent = Math.round(second.at - pongAt);
      if (silent < hb - slack(hb) - 5) fail(`pinged after ${silent} ms of silence, before hb - max(hb/4, 25) = ${hb - slack(hb)}`);
      if (silent > late) fail(`pinged after ${silent} ms of silence, later than hb + max(hb/4, 25) + margin = ${Math.round(late)}`);
      const firstNote = firstAfter < hb - slack(hb) ? ` (the first ping came ${firstAfter} ms after the hello: before hb - max(hb/4, 25), which only R2's unmeasured round trip allows)` : '';
      return `hb ${hb}: ping after ${silent} ms of silence${firstNote}`;
    },
  },
  {
    rule: '§2.5 R2',
    title: 'a busy connection is pinged too (no pong for hb ms), at most once per hb',
    async run(ctx) {
      const hb = ctx.info.hb;
      if (hb === HB_OFF) notApplicable('hb is 2^31-1: the heartbeat is off');
      const peer = await ctx.open();
      const start = performance.now();
      let stop = false;
      const traffic = (async () => {
        // Keep the connection busy: an m every hb/5 ms, so it is never silent.
        while (!stop && !peer.closed) {
          peer.sendM({ d: unique('busy') });
          await new Promise((resolve) => setTimeout(resolve, Math.max(10, hb / 5)));
        }
      })();
      try {
        const late = hb + slack(hb) + ctx.t(1000);
        const isPing = (i: Item) => i.kind === 'env' && i.env['t'] === 'ping';
        const first = await peer.waitFor('a ping on the busy connection', isPing, late);
        const second = await peer.waitFor('a second ping on the busy connection', isPing, late);
        const gap = Math.round(second.at - first.at);
        // "At most one per hb ms": half of hb leaves room for delivery jitter, and still
        // catches a server that pings on every message of a busy connection.
        if (gap < hb / 2) fail(`two pings ${gap} ms apart: more than one per hb (${hb})`);
        const rtt = (second as { env: Envelope }).env['rtt'];
        return `pings after ${Math.round(first.at - start)} ms and ${gap} ms more${typeof rtt === 'number' ? `; rtt ${rtt}` : ''}`;
      } finally {
        stop = true;
        await traffic;
      }
    },
  },
];
