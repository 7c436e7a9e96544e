/**
 * Who a connection is: what a route's `auth.verify` returned for its token (docs/server.md,
 * "Authentication"). Kept beside the connection rather than on it, so that a connection on
 * a route without auth carries nothing for it. The auth layer (app/auth) sets and replaces
 * it; `socket.identity` and `socket.auth` read it.
 */

/** Where a token may come from. `message`: after the upgrade, in the first message (raw) or the hello (Lifeline). */
export type AuthSource = 'header' | 'protocol' | 'query' | 'cookie' | 'message';

/** What `socket.auth` holds. */
export interface SocketAuth {
  readonly identity: unknown;
  /** Where the token came from (`refresh` after a Lifeline `$auth`). */
  readonly source: AuthSource | 'refresh';
  /** When the token expires (ms since the epoch), if `verify` said so. */
  readonly expiresAt: number | undefined;
}

/** The auth layer keeps its own state for a connection in the same record (its expiry timer). */
const identities = new WeakMap<object, SocketAuth>();

/** The record the auth layer stored for `connection`, as it stored it. */
export function identityRecord<T extends SocketAuth>(connection: object): T | undefined {
  return identities.get(connection) as T | undefined;
}

export function setIdentityRecord(connection: object, record: SocketAuth): void {
  identities.set(connection, record);
}

export function deleteIdentityRecord(connection: object): void {
  identities.delete(connection);
}

/** `socket.auth`: a copy, so that the application cannot change what the server holds. */
export function authOf(connection: object): SocketAuth | undefined {
  const record = identities.get(connection);
  return record && { identity: record.identity, source: record.source, expiresAt: record.expiresAt };
}
