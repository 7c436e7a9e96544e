import { randomBytes } from 'node:crypto';
import type { Envelope } from '../codec.js';
import type { CheckContext } from '../context.js';
import { Failure } from '../outcome.js';
import type { Peer } from '../peer.js';

/** A payload no other check sends, so an echo is recognised as this one's. */
export const unique = (label: string): string => `${label} ${randomBytes(6).toString('hex')}`;

/** §2.1 R1/§2.6: a frame written as is, by codec. */
export interface RawFrame {
  json?: string | Buffer;
  msgpack?: Uint8Array;
  /** Force the frame type (a binary frame in JSON mode, a text frame in MessagePack mode). */
  binary?: boolean;
}

export function writeRaw(peer: Peer, frame: RawFrame): void {
  const data = peer.codec === 'json' ? frame.json : frame.msgpack;
  if (data === undefined) throw new Failure(`internal: no ${peer.codec} form of this frame`);
  const binary = frame.binary ?? peer.codec === 'msgpack';
  if (binary) peer.sendBinary(typeof data === 'string' ? Buffer.from(data) : data);
  else peer.sendText(typeof data === 'string' ? data : Buffer.from(data));
}

/**
 * The server answers `frame` with an `error` envelope carrying `code` and then the close
 * with that code and the same message (§2.6, §2.6 R1). `phase: 'before'` sends it instead
 * of a hello; `'after'` once a session is open. Returns the error message.
 */
export async function rejected(
  ctx: CheckContext,
  frame: RawFrame | ((peer: Peer) => void),
  code: number,
  options: { phase?: 'before' | 'after'; what?: string } = {},
): Promise<string> {
  const peer = options.phase === 'before' ? await ctx.connect() : await ctx.open();
  if (typeof frame === 'function') frame(peer);
  else writeRaw(peer, frame);
  const message = await peer.expectErrorClose(code, options.what ?? 'the server');
  return `error ${code} ${JSON.stringify(message)}, close ${code}`;
}

/** The connection is still served: a fresh `m` comes back as the route's echo (its `s` follows the session's numbering). */
export async function stillEchoes(peer: Peer, label = 'still served'): Promise<void> {
  const d = unique(label);
  peer.sendM({ d });
  await peer.expectEcho({ d }, `the echo of an m sent after it (${label})`);
}

/** A new session on the server still works (it survived what the check sent). */
export async function serverAlive(ctx: CheckContext): Promise<void> {
  const peer = await ctx.open({ codec: 'json' });
  await stillEchoes(peer, 'a new session afterwards');
  peer.end();
}

/** An open session that exchanged `count` echoes (server s 1..count delivered, kit s 1..count acknowledged by the server or not). */
export async function sessionWithTraffic(ctx: CheckContext, count: number, options: { autoAck?: boolean; url?: string } = {}): Promise<{ peer: Peer; sent: string[] }> {
  const peer = await ctx.open({ autoAck: options.autoAck ?? true, url: options.url });
  const sent: string[] = [];
  for (let i = 1; i <= count; i++) {
    const d = unique(`m${i}`);
    sent.push(d);
    peer.sendM({ d });
  }
  for (const d of sent) await peer.expectEcho({ d });
  return { peer, sent };
}

export function field(env: Envelope, name: string): unknown {
  return env[name];
}

export const json = (value: unknown): string => JSON.stringify(value);
