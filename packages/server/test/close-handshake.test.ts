import { once } from 'node:events';
import type { Socket as NetSocket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { clientFrame, rawWebSocket } from '../../../test/support/raw-http.js';
import { serverTestRig } from '../../../test/support/rig.js';
import { waitFor } from '../../../test/support/wait.js';

const { startApp, cleanup } = serverTestRig();

function closePayload(code: number, reason: string): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, Buffer.from(reason)]);
}

/** An unmasked server close frame with `code` and `reason` (a short one: 7-bit length). */
function serverCloseFrame(code: number, reason: string): Buffer {
  const payload = closePayload(code, reason);
  return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
}

/** A hand-made client that keeps its side of the TCP connection open until the test ends. */
async function halfOpenClient(port: number, path: string): Promise<{ socket: NetSocket; received: () => Buffer }> {
  const socket = await rawWebSocket(port, path, {}, { allowHalfOpen: true });
  cleanup(() => socket.destroy());
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { socket, received: () => Buffer.concat(chunks) };
}

// RFC 6455 §7.1.1: after sending and receiving a close frame, the server closes the TCP
// connection immediately. It does not wait for the client's FIN (ws alone would keep the
// socket, its per-address slot and its place in the connection count for up to 30 s).
describe('the close handshake', () => {
  it('the client closes: the server answers with its close frame, then closes the TCP connection without waiting for the client', async () => {
    const serverSide: [number, string][] = [];
    const { app, port } = await startApp((a) => a.ws('/c', (socket) => socket.on('close', (code, reason) => serverSide.push([code, reason]))));
    const client = await halfOpenClient(port, '/c');
    await waitFor(() => app.connectionCount === 1, 'the connection open on the server');
    const serverEnded = once(client.socket, 'end');
    client.socket.write(clientFrame(0x8, closePayload(1000, 'bye')));
    await serverEnded; // the server's FIN; the client has not sent its own
    await waitFor(() => serverSide.length === 1, 'the server-side close, the client still holding its side', 10_000);
    expect(serverSide).toEqual([[1000, 'bye']]);
    expect(client.received()).toEqual(serverCloseFrame(1000, 'bye'));
    expect(client.socket.writable).toBe(true);
    expect(app.connectionCount).toBe(0);
    expect(app.connectionsFrom('127.0.0.1')).toBe(0);
  });

  it('the server closes: once the client answers with its close frame, the server closes the TCP connection without waiting for the client', async () => {
    const serverSide: [number, string][] = [];
    const { app, port } = await startApp((a) =>
      a.ws('/s', (socket) => {
        socket.on('close', (code, reason) => serverSide.push([code, reason]));
        socket.close(4000, 'done');
      }),
    );
    const client = await halfOpenClient(port, '/s');
    await waitFor(() => client.received().length >= serverCloseFrame(4000, 'done').length, 'the server close frame');
    expect(client.received()).toEqual(serverCloseFrame(4000, 'done'));
    expect(serverSide).toEqual([]); // the server waits for the answer
    const serverEnded = once(client.socket, 'end');
    client.socket.write(clientFrame(0x8, closePayload(4000, 'done')));
    await serverEnded;
    await waitFor(() => serverSide.length === 1, 'the server-side close, the client still holding its side', 10_000);
    expect(serverSide).toEqual([[4000, 'done']]);
    expect(client.socket.writable).toBe(true);
    expect(app.connectionCount).toBe(0);
    expect(app.connectionsFrom('127.0.0.1')).toBe(0);
  });
});
