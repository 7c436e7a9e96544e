/** §2.3: numbering, duplicates, gaps and acknowledgements, as the server does them. */
import type { Envelope } from '../codec.js';
import type { CheckDef } from '../context.js';
import { fail } from '../outcome.js';
import type { Item, Peer } from '../peer.js';
import { rejected, stillEchoes, unique } from './util.js';

/** The time from now until an acknowledgement of at least `value` arrives (an `a`, or `a` on m/q/r). */
async function ackArrives(peer: Peer, value: number, since: number, what: string, timeoutMs: number): Promise<number> {
  const covers = (i: Item) => i.kind === 'env' && ['a', 'm', 'q', 'r'].includes(i.env['t'] as string) && typeof i.env['a'] === 'number' && (i.env['a'] as number) >= value;
  const start = peer.cursor;
  peer.cursor = 0;
  try {
    const item = await peer.waitFor(what, covers, timeoutMs);
    return item.at - since;
  } finally {
    peer.cursor = Math.max(start, peer.cursor);
  }
}

export const DELIVERY_CHECKS: CheckDef[] = [
  {
    rule: '§2.3 R1',
    title: 'the server numbers its m 1, 2, 3, … without gaps, in order',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      const sent = Array.from({ length: 5 }, (_, i) => unique(`m${i + 1}`));
      for (const d of sent) peer.sendM({ d });
      for (const d of sent) await peer.expectEcho({ d });
      const seqs = peer.session.log.map((e) => e['s']);
      if (seqs.join() !== '1,2,3,4,5') fail(`server s were ${seqs.join(', ')}`);
      const order = peer.session.log.map((e) => e['d']);
      if (order.join() !== sent.join()) fail('echoes came out of order');
      return 's = 1..5, echoes in order';
    },
  },
  {
    rule: '§2.3 R2',
    title: 'a duplicate s is dropped (not delivered again), the next one is delivered',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      const [first, dup, second] = [unique('first'), unique('duplicate'), unique('second')];
      peer.send({ t: 'm', s: 1, d: first });
      peer.send({ t: 'm', s: 1, d: dup });
      peer.send({ t: 'm', s: 2, d: second });
      await peer.expectEcho({ d: first });
      await peer.expectEcho({ d: second });
      if (peer.session.log.some((e) => e['d'] === dup)) fail('the duplicate was delivered (echoed)');
      return 'echoes of s=1 and s=2 only';
    },
  },
  {
    rule: '§2.3 R3',
    title: 'a duplicate still counts: it is acknowledged within 50 ms (plus margin)',
    async run(ctx) {
      const peer = await ctx.open();
      const d = unique('acked once');
      peer.sendM({ d });
      await peer.expectEcho({ d });
      // Wait until the first acknowledgement of s=1 is in, then send s=1 again.
      await ackArrives(peer, 1, 0, 'the acknowledgement of s=1', ctx.t(5000));
      const acksBefore = peer.items.length;
      const sentAt = performance.now();
      peer.send({ t: 'm', s: 1, d });
      const item = await peer.waitFor('an acknowledgement of the duplicate', (i) => peer.items.indexOf(i) >= acksBefore && i.kind === 'env' && typeof i.env['a'] === 'number' && (i.env['a'] as number) >= 1, ctx.t(5000));
      const took = Math.round(item.at - sentAt);
      if (took > 50 + ctx.t(1000)) fail(`the acknowledgement came after ${took} ms`);
      return `acknowledged again after ${took} ms`;
    },
  },
  {
    rule: '§2.3 R2',
    title: 'a gap (s = 2 first) is a protocol error: 1002 with an error envelope',
    codecs: 'both',
    async run(ctx) {
      return rejected(ctx, (peer) => peer.send({ t: 'm', s: 2, d: 'gap' }), 1002);
    },
  },
  {
    rule: '§2.3 R2',
    title: 'a gap later in the stream (1, then 3) is a protocol error: 1002',
    async run(ctx) {
      const peer = await ctx.open();
      const d = unique('before the gap');
      peer.sendM({ d });
      await peer.expectEcho({ d });
      peer.send({ t: 'm', s: 3, d: 'gap' });
      const message = await peer.expectErrorClose(1002, 'the gap');
      return `error 1002 ${JSON.stringify(message)}`;
    },
  },
  {
    rule: '§2.3 R3',
    title: 'the server acknowledges a delivered m within 50 ms (plus margin), with the last s delivered',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      const sentAt = performance.now();
      peer.sendM({ d: unique('ack me') });
      const took = Math.round(await ackArrives(peer, 1, sentAt, 'the acknowledgement of s=1', ctx.t(5000)));
      if (took > 50 + ctx.t(1000)) fail(`the acknowledgement came after ${took} ms`);
      return `acknowledged after ${took} ms`;
    },
  },
  {
    rule: '§2.3 R3',
    title: 'the acknowledgement value is the last s delivered (3 after three m)',
    async run(ctx) {
      const peer = await ctx.open();
      for (let i = 0; i < 3; i++) peer.sendM({ d: unique(`m${i}`) });
      await ackArrives(peer, 3, 0, 'an acknowledgement of 3', 50 + ctx.t(5000));
      const acks = peer.items.flatMap((i) => (i.kind === 'env' && typeof i.env['a'] === 'number' ? [i.env['a'] as number] : []));
      if (acks.some((a) => a > 3)) fail(`acknowledgements ${acks.join(', ')}`);
      return `acknowledgements seen: ${acks.join(', ')}`;
    },
  },
  {
    rule: '§2.3 R5',
    title: 'an a above the last s the server numbered is a protocol error: 1002',
    codecs: 'both',
    async run(ctx) {
      return rejected(ctx, (peer) => peer.send({ t: 'a', a: 1 }), 1002);
    },
  },
  {
    rule: '§2.3 R5',
    title: 'an a field on m above the last s the server numbered is a protocol error: 1002',
    async run(ctx) {
      return rejected(ctx, (peer) => peer.send({ t: 'm', s: 1, d: 'x', a: 9 }), 1002);
    },
  },
  {
    rule: '§2.3 R5',
    title: 'a stale acknowledgement (below one already sent) changes nothing',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      await stillEchoes(peer, 'first');
      peer.ack(1);
      peer.ack(0);
      peer.ack(1);
      await stillEchoes(peer, 'after a:1, a:0, a:1');
      return 'the session goes on';
    },
  },
  {
    rule: '§2.3 R6',
    title: 'an a field may ride on m, q and r',
    async run(ctx) {
      const peer = await ctx.open({ autoAck: false });
      const d = unique('carries a');
      peer.sendM({ d });
      await peer.expectEcho({ d });
      peer.send({ t: 'q', s: 2, id: 1, n: 'echo', d: 1, a: 1 });
      const answer = await peer.expectAnswer(1);
      peer.send({ t: 'r', s: 3, id: 999, d: null, a: answer['s'] as number });
      peer.send({ t: 'm', s: 4, d: 'last', a: answer['s'] as number });
      await peer.expectEcho({ d: 'last' });
      return 'accepted on q, r and m';
    },
  },
];

export type { Envelope };
