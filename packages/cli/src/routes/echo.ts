import type { App } from '@lifeline/server';

/**
 * `/echo`: every message comes back exactly as sent (text as text, binary as binary, in
 * order) — the public echo server the seed's test website offered, for testing clients.
 * Any offered subprotocol is accepted, so clients that insist on one can be tested too.
 *
 * The route is also Lifeline-capable: a client that offers `lifeline.v1` or
 * `lifeline.v1.msgpack` gets a session whose messages are echoed as envelopes, and whose
 * requests named `echo` are answered with their data. One URL serves both modes, so a
 * client and the benchmark compare raw and Lifeline on the same route.
 */
export function addEchoRoute(app: App, path = '/echo'): void {
  app.ws(path, { lifeline: true }, (socket) => {
    socket.on('message', (message) => socket.send(message));
    socket.handle('echo', (data) => data);
  });
}
