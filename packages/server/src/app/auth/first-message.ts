/**
 * Raw mode, after the upgrade: with a token verified before it, the connection takes it and
 * the handler runs; otherwise the first text message must be the token, within
 * `firstMessageTimeout` (close 1008), and the handler runs only once it is verified.
 */
import type { IncomingMessage } from 'node:http';
import type { AuthSource } from '../../connection/identity.js';
import type { Socket } from '../../connection/socket.js';
import { bind, takeGrant } from './binding.js';
import type { RouteAuth } from './options.js';
import { check, closeFor } from './verify.js';

export function admitRaw(route: RouteAuth, socket: Socket, request: IncomingMessage, run: () => void): void {
  const granted = takeGrant(request);
  if (granted !== undefined) {
    bind(socket, route, granted.identity, granted.expiresAt, granted.source);
    return run();
  }
  const deadline = setTimeout(() => {
    stop();
    closeRaw(route, socket, 1008, `auth: no token within ${route.firstMessageTimeout} ms`, 'message');
  }, route.firstMessageTimeout);
  const onHeld = () => {
    // The socket holds what arrives until the handler listens: the first message is taken
    // out before anyone sees it (a text heartbeat is answered and never held).
    const message = socket.takeHeld();
    if (message === undefined) return;
    stop();
    if (message.binary) return closeRaw(route, socket, 1008, 'auth: the first message must be the access token, as text', 'message');
    void check(route, message.text, request, { source: 'message' }).then((outcome) => {
      if (!socket.isOpen) return;
      if (outcome.kind === 'ok') {
        bind(socket, route, outcome.identity, outcome.expiresAt, 'message');
        return run();
      }
      const [code, reason] = closeFor(outcome);
      closeRaw(route, socket, code, reason, 'message');
    });
  };
  const stop = () => {
    clearTimeout(deadline);
    socket.offHeld(onHeld);
    socket.off('close', stop);
  };
  socket.onHeld(onHeld);
  socket.on('close', stop);
}

function closeRaw(route: RouteAuth, socket: Socket, code: number, reason: string, source: AuthSource): void {
  route.logFor('auth-refused', socket, { source, code, reason });
  socket.close(code, reason);
}
