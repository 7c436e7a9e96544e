/**
 * §2.8, the binary form of JSON mode: agreeing (hello.bin, welcome.bin), envelopes with bytes
 * as binary frames both ways, either form once agreed, each malformed binary-form frame's
 * close code, `max.size` over the whole frame, and replays to a connection that did not agree.
 * A server may decline the binary form: then every check that needs it is N/A.
 */
import { randomBytes } from 'node:crypto';
import { binaryForm } from '../codec.js';
import type { CheckContext, CheckDef } from '../context.js';
import { fail, notApplicable } from '../outcome.js';
import type { Peer } from '../peer.js';
import { resumeOn } from './resume.js';
import { stillEchoes } from './util.js';

/** A new session whose hello asked for the binary form and whose welcome agreed; N/A when it does not. */
async function agreed(ctx: CheckContext, options: { autoAck?: boolean } = {}): Promise<Peer> {
  const peer = await ctx.open({ hello: { bin: true }, ...options });
  if (!peer.binaryForm) {
    peer.end();
    notApplicable('the welcome to a hello with bin: true does not say bin: true: the server does not offer the binary form (§2.8 R2 allows that)');
  }
  return peer;
}

const bytes = (...values: number[]) => Uint8Array.from(values);

interface Case {
  rule: string;
  title: string;
  code: number;
  frame: Buffer;
}

const M1 = { t: 'm', s: 1 };
const zeroThen = (head: string, tail: Uint8Array = bytes(1)) => Buffer.concat([Buffer.from(head, 'utf8'), Buffer.from([0]), Buffer.from(tail)]);

const CASES: Case[] = [
  { rule: '§2.8 R5', title: 'a binary frame without a 0x00 byte', code: 1007, frame: Buffer.from('{"t":"m","s":1}') },
  { rule: '§2.8 R5', title: 'a head that is not UTF-8', code: 1007, frame: Buffer.concat([Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), Buffer.from([0, 1])]) },
  { rule: '§2.8 R5', title: 'a head that is not JSON', code: 1007, frame: zeroThen('{"t":"m","s":1,') },
  { rule: '§2.8 R5', title: 'a head with a key __proto__', code: 1007, frame: zeroThen('{"t":"m","s":1,"x":{"__proto__":1}}') },
  { rule: '§2.8 R5', title: 'a head that is JSON but an array', code: 1002, frame: zeroThen('[{"t":"m","s":1}]') },
  { rule: '§2.8 R5', title: 'a head without t', code: 1002, frame: zeroThen('{"s":1}') },
  { rule: '§2.8 R5', title: 'a head whose t carries no bytes (a)', code: 1002, frame: binaryForm({ t: 'a', a: 0 }, bytes(1)) },
  { rule: '§2.8 R5', title: 'a head whose t carries no bytes (ping)', code: 1002, frame: binaryForm({ t: 'ping', ts: 1 }, bytes(1)) },
  { rule: '§2.8 R5', title: 'a head whose t is unknown', code: 1002, frame: binaryForm({ t: 'zz-conformance' }, bytes(1)) },
  { rule: '§2.8 R5', title: 'a head with b (base64 beside the bytes)', code: 1002, frame: binaryForm({ ...M1, b: 'AQ==' }, bytes(1)) },
  { rule: '§2.8 R5', title: 'a head with d', code: 1002, frame: binaryForm({ ...M1, d: 'x' }, bytes(1)) },
  { rule: '§2.8 R5', title: 'a head with d: null', code: 1002, frame: binaryForm({ ...M1, d: null }, bytes(1)) },
  { rule: '§2.8 R5', title: 'an r head with e', code: 1002, frame: binaryForm({ t: 'r', s: 1, id: 1, e: { code: 'X', message: 'x' } }, bytes(1)) },
  { rule: '§2.8 R5', title: 'a head with m.s = 0', code: 1002, frame: binaryForm({ t: 'm', s: 0 }, bytes(1)) },
  { rule: '§2.8 R5', title: 'a q head without n', code: 1002, frame: binaryForm({ t: 'q', s: 1, id: 1 }, bytes(1)) },
  { rule: '§2.8 R5', title: 'a p from the client (only the server sends p)', code: 1008, frame: binaryForm({ t: 'p', ch: 'conformance', o: 1, ep: 'e' }, bytes(1)) },
];

const MALFORMED: CheckDef[] = CASES.map((c) => ({
  rule: c.rule,
  title: `binary form agreed, ${c.title}: ${c.code} with an error envelope`,
  codecs: 'json',
  async run(ctx) {
    const peer = await agreed(ctx);
    peer.sendBinary(c.frame);
    const message = await peer.expectErrorClose(c.code, 'the server');
    return `error ${c.code} ${JSON.stringify(message)}, close ${c.code}`;
  },
}));

export const BINARY_FORM_CHECKS: CheckDef[] = [
  {
    rule: '§2.8 R2',
    title: 'a hello without bin gets no bin: true, and a binary frame is then 1008 (§2.8 R5)',
    codecs: 'json',
    async run(ctx) {
      const peer = await ctx.open();
      if (peer.welcome!['bin'] === true) fail('the welcome says bin: true to a hello that did not ask');
      peer.sendBinary(binaryForm(M1, bytes(1, 0, 2)));
      const message = await peer.expectErrorClose(1008, 'the server');
      return `no bin in the welcome; a binary-form frame: error 1008 ${JSON.stringify(message)}`;
    },
  },
  {
    rule: '§2.8 R2',
    title: 'a hello with bin: false gets no bin: true',
    codecs: 'json',
    async run(ctx) {
      const peer = await ctx.open({ hello: { bin: false } });
      if (peer.welcome!['bin'] === true) fail('the welcome says bin: true to a hello with bin: false');
      await stillEchoes(peer);
      peer.end();
      return 'no bin: true';
    },
  },
  {
    rule: '§2.8 R2',
    title: 'a hello whose bin is not a boolean: 1002 with an error envelope',
    codecs: 'json',
    async run(ctx) {
      const peer = await ctx.connect();
      peer.send({ t: 'hello', v: 1, bin: 'yes' });
      const message = await peer.expectErrorClose(1002, 'the server');
      return `error 1002 ${JSON.stringify(message)}`;
    },
  },
  {
    rule: '§2.8 R4',
    title: 'binary form agreed: m with bytes (0x00 inside, empty, 3000 bytes) in binary frames are delivered and echoed',
    codecs: 'json',
    async run(ctx) {
      const peer = await agreed(ctx);
      const payloads = [bytes(0, 1, 0, 255, 0), bytes(), new Uint8Array(randomBytes(3000))];
      for (const b of payloads) peer.sendBinaryForm({ t: 'm' }, b);
      const forms: string[] = [];
      for (const b of payloads) {
        await peer.expectEcho({ b }, `the echo of ${b.length} bytes`);
        const item = peer.items.findLast((i) => i.kind === 'env' && i.env['t'] === 'm');
        forms.push(item?.kind === 'env' && item.binary ? 'binary' : 'text');
      }
      peer.end();
      return `echoed, the server's choice of form: ${forms.join(', ')}`;
    },
  },
  {
    rule: '§2.8 R4',
    title: 'binary form agreed: a text frame with base64 b is still taken',
    codecs: 'json',
    async run(ctx) {
      const peer = await agreed(ctx);
      const b = bytes(9, 0, 9);
      peer.sendM({ b });
      await peer.expectEcho({ b });
      peer.end();
      return 'echoed';
    },
  },
  {
    rule: '§2.8 R6',
    title: 'binary form agreed: max.size counts the whole frame (head, 0x00, bytes): one byte over is 1009',
    codecs: 'json',
    async run(ctx) {
      const size = ctx.info.max?.size ?? ctx.options.maxPayload;
      if (size === undefined) notApplicable('the welcome announces no max.size and --max-payload was not given');
      const head = JSON.stringify({ ...M1, pad: 'x' });
      const n = size! - Buffer.byteLength(head); // head + 0x00 + n bytes = size + 1
      if (n < 0) notApplicable(`max.size ${size} is smaller than a head`);
      const peer = await agreed(ctx);
      peer.sendBinary(zeroThen(head, new Uint8Array(n)));
      const message = await peer.expectErrorClose(1009, 'the server');
      return `${size! + 1} bytes: error 1009 ${JSON.stringify(message)}`;
    },
  },
  {
    rule: '§2.8 R7',
    title: 'a resume without bin gets the replay of envelopes with bytes as text frames with base64',
    codecs: 'json',
    async run(ctx) {
      const peer = await agreed(ctx, { autoAck: false });
      const payloads = [bytes(1, 0, 1), new Uint8Array(randomBytes(2000))];
      for (const b of payloads) peer.sendBinaryForm({ t: 'm' }, b);
      for (const b of payloads) await peer.expectEcho({ b });
      const session = peer.session;
      await peer.dropped();
      session.delivered = 0;
      session.log.length = 0;
      // The peer judges every frame: a binary one on this connection, which did not agree, is a violation (§2.8 R7).
      const resumed = await resumeOn(ctx, session);
      if (resumed.welcome!['resumed'] !== true) fail(`expected resumed: true, got ${JSON.stringify(resumed.welcome)}`);
      for (const b of payloads) await resumed.expectEcho({ b }, `the replay of ${b.length} bytes`);
      const binary = resumed.items.filter((i) => i.kind === 'env' && i.binary).length;
      if (binary > 0) fail(`${binary} binary frames on a connection that did not agree to the binary form`);
      resumed.end();
      return 'replayed as text frames';
    },
  },
  ...MALFORMED,
];
