import type { App } from '@lifeline/server';

/**
 * `/echo`: every message comes back exactly as sent (text as text, binary as binary, in
 * order) — the public echo server the seed's test website offered, for testing clients.
 * Any offered subprotocol is accepted, so clients that insist on one can be tested too.
 */
export function addEchoRoute(app: App, path = '/echo'): void {
  app.ws(path, (socket) => {
    socket.on('message', (message) => socket.send(message));
  });
}
