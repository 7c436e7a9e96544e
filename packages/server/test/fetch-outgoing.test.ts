/**
 * The answer a fetch server (Bun.serve, Deno.serve) gets for an app's HTTP handler
 * (transport/fetch/http.ts), run here on Node's own web streams and Response: a body piped
 * over several turns streams, and reaches the reader whole however late it reads.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FetchOutgoing } from '../src/transport/fetch/http.js';

const chunk = (byte: number) => Buffer.alloc(64 * 1024, byte);

describe('FetchOutgoing', () => {
  it('a streamed body read only after the writable has finished and destroyed itself arrives whole', async () => {
    const outgoing = new FetchOutgoing('GET');
    const parts = [chunk(0x41), chunk(0x42), chunk(0x43)];
    outgoing.write(parts[0]);
    // The answer settles before the end only when the body streams (it outlived its first turn).
    const response = await outgoing.answer;
    outgoing.write(parts[1]);
    outgoing.end(parts[2]);
    // Nobody reads yet: the stream's queue holds the chunks while the writable finishes and,
    // by autoDestroy, destroys itself.
    await once(outgoing, 'close');
    expect(outgoing.destroyed).toBe(true);
    const body = Buffer.from(await response.arrayBuffer());
    expect(body.length).toBe(3 * 64 * 1024);
    expect(body.equals(Buffer.concat(parts))).toBe(true);
  });

  it('an answer cut off before its end fails its streamed body', async () => {
    const outgoing = new FetchOutgoing('GET');
    const failed = once(outgoing, 'error');
    outgoing.write(chunk(0x41));
    const response = await outgoing.answer;
    outgoing.destroy(new Error('the file could not be read'));
    await expect(response.arrayBuffer()).rejects.toThrow('the file could not be read');
    expect(((await failed)[0] as Error).message).toBe('the file could not be read');
  });

  it('an answer ended in the turn it began is one body, not a stream of it', async () => {
    const outgoing = new FetchOutgoing('GET');
    outgoing.setHeader('content-type', 'text/plain');
    outgoing.end('whole');
    const response = await outgoing.answer;
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(await response.text()).toBe('whole');
  });
});
