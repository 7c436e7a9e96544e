/**
 * A verified token bound to its connection: the identity `socket.identity` reads
 * (connection/identity.ts), replaced by a `$auth` refresh or a resume with a fresh token,
 * and its expiry: one timer per connection whose token expires, closing the connection
 * with 4401 (a Lifeline session stays resumable). Also the tokens verified before an
 * upgrade, held by request until the connection takes them.
 */
import type { IncomingMessage } from 'node:http';
import { deleteIdentityRecord, identityRecord, setIdentityRecord, type AuthSource, type SocketAuth } from '../../connection/identity.js';
import type { Socket } from '../../connection/socket.js';
import type { RouteAuth } from './options.js';

/** Close code when a token expires without a refresh (PROTOCOL.md §1.3); a client reconnects with a fresh one. */
export const TOKEN_EXPIRED_CLOSE = 4401;

/** setTimeout's largest delay; later expiries are re-armed in steps. */
const MAX_TIMER = 2 ** 31 - 1;

/** A connection's identity, with what expiry needs. */
interface Binding extends SocketAuth {
  readonly route: RouteAuth;
  timer: NodeJS.Timeout | undefined;
}

type Grant = { identity: unknown; expiresAt: number | undefined; source: AuthSource };

/** Verified before the upgrade, by upgrade request, until the connection's socket or session takes it. */
const grants = new WeakMap<IncomingMessage, Grant>();

export function grant(request: IncomingMessage, granted: Grant): void {
  grants.set(request, granted);
}

export function hasGrant(request: IncomingMessage): boolean {
  return grants.has(request);
}

/** The grant for `request`, taken (it binds one connection). */
export function takeGrant(request: IncomingMessage): Grant | undefined {
  const found = grants.get(request);
  if (found !== undefined) grants.delete(request);
  return found;
}

/** Sets (or replaces) a connection's identity and its expiry timer. */
export function bind(socket: Socket, route: RouteAuth, identity: unknown, expiresAt: number | undefined, source: SocketAuth['source']): void {
  const old = identityRecord<Binding>(socket);
  if (old === undefined) socket.once('close', () => forget(socket));
  else clearTimeout(old.timer);
  const binding: Binding = { identity, expiresAt, source, route, timer: undefined };
  setIdentityRecord(socket, binding);
  if (expiresAt !== undefined) arm(socket, binding);
}

function arm(socket: Socket, binding: Binding): void {
  const wait = binding.expiresAt! - Date.now();
  binding.timer = setTimeout(() => {
    if (identityRecord(socket) !== binding || !socket.isOpen) return;
    if (binding.expiresAt! > Date.now()) return arm(socket, binding); // a far expiry, in steps
    binding.route.logFor('auth-expired', socket, { expiresAt: binding.expiresAt });
    // A raw connection closes; a Lifeline session stays resumable, and its client comes back with a fresh token.
    socket.closeConnection(TOKEN_EXPIRED_CLOSE, 'token expired');
  }, Math.min(Math.max(wait, 0), MAX_TIMER));
  binding.timer.unref();
}

function forget(socket: Socket): void {
  const binding = identityRecord<Binding>(socket);
  if (binding) clearTimeout(binding.timer);
  deleteIdentityRecord(socket);
}
