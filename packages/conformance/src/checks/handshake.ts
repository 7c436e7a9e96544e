/** §1.1 and §2: the opening handshake, subprotocol negotiation and the refusals. */
import { SUBPROTOCOL } from '../codec.js';
import type { CheckContext, CheckDef } from '../context.js';
import { Link, rawUpgrade, websocketKey, type Refusal } from '../link.js';
import { fail, notApplicable } from '../outcome.js';
import { unique } from './util.js';

async function offer(ctx: CheckContext, protocols: string[]): Promise<{ protocol: string; link: Link } | { refusal: Refusal }> {
  const result = await Link.connect(ctx.url, { protocols, headers: ctx.headers, timeoutMs: ctx.t(10_000) });
  if (result.ok) return { protocol: result.link.protocol, link: result.link };
  if ('refusal' in result) return { refusal: result.refusal };
  return fail(`could not connect: ${result.error}`);
}

/** A complete HTTP refusal with a text/plain body that explains it (§1.1). */
function explained(refusal: Refusal, status: number, header?: [string, RegExp]): string {
  if (refusal.status !== status) fail(`answered HTTP ${refusal.status}, expected ${status}${refusal.body ? `: ${refusal.body.trim().slice(0, 100)}` : ''}`);
  const type = String(refusal.headers['content-type'] ?? '');
  if (!/^text\/plain\b/i.test(type)) fail(`HTTP ${status} with Content-Type ${JSON.stringify(type)}, not text/plain (§1.1)`);
  if (refusal.body.trim() === '') fail(`HTTP ${status} with an empty body; §1.1 wants one that explains the refusal`);
  if (header) {
    const value = refusal.headers[header[0].toLowerCase()];
    const text = Array.isArray(value) ? value.join(', ') : (value ?? '');
    if (!header[1].test(text)) fail(`HTTP ${status} without ${header[0]} matching ${String(header[1])} (got ${JSON.stringify(text)})`);
  }
  return `HTTP ${status}${header ? ` with ${header[0]}` : ''}: ${JSON.stringify(refusal.body.trim().slice(0, 60))}`;
}

function upgradeHeaders(ctx: CheckContext, overrides: Record<string, string | undefined>): Record<string, string | undefined> {
  return {
    ...ctx.headers,
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': websocketKey(),
    'Sec-WebSocket-Protocol': SUBPROTOCOL.json,
    ...overrides,
  };
}

export const HANDSHAKE_CHECKS: CheckDef[] = [
  {
    rule: '§2',
    title: 'offering lifeline.v1: 101 selecting lifeline.v1',
    async run(ctx) {
      const answer = await offer(ctx, [SUBPROTOCOL.json]);
      if ('refusal' in answer) return fail(`refused: HTTP ${answer.refusal.status}`);
      answer.link.close(1000);
      if (answer.protocol !== SUBPROTOCOL.json) fail(`selected ${JSON.stringify(answer.protocol)}`);
      return 'Sec-WebSocket-Protocol: lifeline.v1';
    },
  },
  {
    rule: '§2',
    title: 'offering lifeline.v1.msgpack alone: 101 selecting it (MessagePack checks run only then)',
    async run(ctx) {
      if (!ctx.info.msgpack) notApplicable(`${ctx.info.msgpackNote}; PROTOCOL.md does not say a lifeline.v1 server must offer both formats`);
      return 'Sec-WebSocket-Protocol: lifeline.v1.msgpack';
    },
  },
  {
    rule: '§2',
    title: 'offering both formats: one of them is selected',
    async run(ctx) {
      const answer = await offer(ctx, [SUBPROTOCOL.msgpack, SUBPROTOCOL.json]);
      if ('refusal' in answer) return fail(`refused: HTTP ${answer.refusal.status}`);
      answer.link.close(1000);
      if (answer.protocol !== SUBPROTOCOL.json && answer.protocol !== SUBPROTOCOL.msgpack) fail(`selected ${JSON.stringify(answer.protocol)}`);
      return `selected ${answer.protocol}`;
    },
  },
  {
    rule: '§2',
    title: 'offering no Lifeline subprotocol: raw mode (101 without lifeline.v1, or a refusal)',
    async run(ctx) {
      const answer = await offer(ctx, []);
      if ('refusal' in answer) return explained(answer.refusal, 400);
      answer.link.close(1000);
      if (answer.protocol !== '') fail(`selected ${JSON.stringify(answer.protocol)} although none was offered`);
      return '101 without a subprotocol: raw mode (§1)';
    },
  },
  {
    rule: '§4.1',
    title: 'a lifeline.auth.<token> entry is never selected; lifeline.v1 beside it is',
    async run(ctx) {
      const entry = `lifeline.auth.${Buffer.from(unique('conformance token')).toString('base64url')}`;
      const answer = await offer(ctx, [entry, SUBPROTOCOL.json]);
      if ('refusal' in answer) {
        if (answer.refusal.status === 401 || answer.refusal.status === 403) notApplicable(`the route authenticates and refused the kit's made-up token (HTTP ${answer.refusal.status})`);
        return fail(`refused: HTTP ${answer.refusal.status}`);
      }
      answer.link.close(1000);
      if (answer.protocol.startsWith('lifeline.auth.')) fail('the token entry was selected');
      if (answer.protocol !== SUBPROTOCOL.json) fail(`selected ${JSON.stringify(answer.protocol)}, not lifeline.v1`);
      return 'selected lifeline.v1';
    },
  },
  {
    rule: '§1.1',
    title: 'an upgrade with another method than GET: 405 with Allow: GET',
    async run(ctx) {
      return explained(await rawUpgrade(ctx.url, { method: 'POST', headers: upgradeHeaders(ctx, {}), timeoutMs: ctx.t(10_000) }), 405, ['Allow', /\bGET\b/]);
    },
  },
  {
    rule: '§1.1',
    title: 'Sec-WebSocket-Version other than 13: 426 with Sec-WebSocket-Version: 13',
    async run(ctx) {
      return explained(await rawUpgrade(ctx.url, { headers: upgradeHeaders(ctx, { 'Sec-WebSocket-Version': '8' }), timeoutMs: ctx.t(10_000) }), 426, ['Sec-WebSocket-Version', /^13$/]);
    },
  },
  {
    rule: '§1.1',
    title: 'a plain HTTP GET to the WebSocket route: 426 with Upgrade: websocket',
    async run(ctx) {
      const headers = { ...ctx.headers, Connection: undefined, Upgrade: undefined };
      return explained(await rawUpgrade(ctx.url, { headers, timeoutMs: ctx.t(10_000) }), 426, ['Upgrade', /^websocket$/i]);
    },
  },
  {
    rule: '§1.1',
    title: 'a malformed Sec-WebSocket-Key: 400',
    async run(ctx) {
      return explained(await rawUpgrade(ctx.url, { headers: upgradeHeaders(ctx, { 'Sec-WebSocket-Key': 'not-16-bytes' }), timeoutMs: ctx.t(10_000) }), 400);
    },
  },
  {
    rule: '§1.1',
    title: 'Upgrade other than websocket: 400',
    async run(ctx) {
      return explained(await rawUpgrade(ctx.url, { headers: upgradeHeaders(ctx, { Upgrade: 'h2c' }), timeoutMs: ctx.t(10_000) }), 400);
    },
  },
  {
    rule: '§1.1',
    title: 'no WebSocket route at the path: 404',
    async run(ctx) {
      const path = `/lifeline-conformance-no-such-route-${unique('x').split(' ')[1]}`;
      return explained(await rawUpgrade(ctx.url, { path, headers: upgradeHeaders(ctx, {}), timeoutMs: ctx.t(10_000) }), 404);
    },
  },
];
