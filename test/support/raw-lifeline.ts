/**
 * A plain `ws` connection speaking Lifeline's JSON mode by hand, for the tests of the binary
 * form (PROTOCOL.md §2.8): it records every frame it receives and its close, and the helpers
 * build and read binary-form frames without the product's codecs, so that what a test expects
 * never comes from the code under test.
 */
import { once } from 'node:events';
import { expect } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from './wait.js';

export interface RawFrame {
  binary: boolean;
  data: Buffer;
}

/** An envelope read by hand: its fields but `b`, and `b`'s bytes (from the binary form's tail, or base64). */
export interface ReadEnvelope {
  head: Record<string, unknown>;
  b: Buffer | undefined;
  binary: boolean;
}

/** A binary-form frame, by hand: the head's JSON, 0x00, the bytes. */
export function binaryForm(head: object, b: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(JSON.stringify(head), 'utf8'), Buffer.from([0]), Buffer.from(b)]);
}

/** A frame read by hand: a binary one split at its first 0x00 byte, a text one parsed with `b` decoded from base64. */
export function readFrame(frame: RawFrame): ReadEnvelope {
  if (!frame.binary) {
    const o = JSON.parse(frame.data.toString('utf8')) as Record<string, unknown>;
    const b = typeof o.b === 'string' ? Buffer.from(o.b, 'base64') : undefined;
    delete o.b;
    return { head: o, b, binary: false };
  }
  const zero = frame.data.indexOf(0);
  expect(zero).toBeGreaterThan(0);
  return { head: JSON.parse(frame.data.subarray(0, zero).toString('utf8')) as Record<string, unknown>, b: frame.data.subarray(zero + 1), binary: true };
}

/** A raw `lifeline.v1` connection: every frame it received, in order, and its close. */
export class RawLifeline {
  readonly frames: RawFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, binary: boolean) => this.frames.push({ binary, data }));
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens a connection; `cleanup` schedules its end after the test. */
  static async open(url: string, cleanup: (stop: () => unknown) => void): Promise<RawLifeline> {
    const ws = new WebSocket(url, 'lifeline.v1');
    const raw = new RawLifeline(ws);
    cleanup(() => ws.terminate());
    await once(ws, 'open');
    return raw;
  }

  /** An object as a JSON text frame, a string as text, a Buffer as a binary frame. */
  send(value: object | string | Buffer): void {
    this.ws.send(Buffer.isBuffer(value) ? value : typeof value === 'string' ? value : JSON.stringify(value), { binary: Buffer.isBuffer(value) });
  }

  /** The JSON of text frame `i`. */
  json(i: number): Record<string, unknown> {
    const frame = this.frames[i]!;
    expect(frame.binary).toBe(false);
    return JSON.parse(frame.data.toString('utf8')) as Record<string, unknown>;
  }

  async frame(i: number): Promise<RawFrame> {
    return waitFor(() => this.frames[i], `frame ${i}`, 10_000);
  }

  /** The envelopes carrying `t` (binary-form frames read by hand), in order. */
  envelopes(t: string): ReadEnvelope[] {
    return this.frames.map(readFrame).filter((e) => e.head.t === t);
  }
}
