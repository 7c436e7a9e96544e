/**
 * Who may read the admin endpoints (`/api/stats`, `/metrics`, the handshake check): the
 * admin token, or a server bound to loopback alone; and a refusal that says how to get in.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { LifelineError } from '@lifeline/protocol';
import { bearerToken, sameSecret } from '../../leaves/bearer.js';

/** The answer to one request: allowed, or refused with a status and a sentence. */
export type StatsAccess = { ok: true; byToken: boolean } | { ok: false; status: 401 | 403; message: string };

/**
 * Who may read the stats: a configured token is always required (behind a reverse proxy on
 * the same machine a loopback-bound server is reachable from anywhere, and only the
 * operator knows that); without one, only a server bound to loopback alone answers.
 * `bindAddresses` are the addresses of the servers the app is attached to; an app that
 * knows none (used only through middleware()) cannot tell, so it is treated as exposed.
 */
export function checkStatsAccess(authorization: string | undefined, token: string | undefined, bindAddresses: readonly (string | null)[]): StatsAccess {
  if (token !== undefined) {
    const offered = bearerToken(authorization);
    if (offered !== undefined && sameSecret(offered, token)) return { ok: true, byToken: true };
    return {
      ok: false,
      status: 401,
      message: offered === undefined ? 'This admin endpoint (stats, metrics, handshake check) needs "Authorization: Bearer <admin token>".' : 'The admin token does not match.',
    };
  }
  if (bindAddresses.length > 0 && bindAddresses.every(isLoopbackBind)) return { ok: true, byToken: false };
  return {
    ok: false,
    status: 403,
    message:
      'The admin endpoints (stats, metrics, handshake check) are off: this server is not bound to a loopback address only, and no admin token is set. ' +
      'Set one (lifeline serve --admin-token, or the LIFELINE_ADMIN_TOKEN environment variable) and send it as "Authorization: Bearer <token>".',
  };
}

/**
 * The access rule of the admin endpoints (`/api/stats`, `/metrics`, the handshake check) as
 * a gate: checks the token's form once, then for each request answers a refusal itself (401
 * with `WWW-Authenticate`, or 403, plus `headers`) and returns undefined, or returns the
 * granted access.
 */
export function adminGate(
  token: string | undefined,
  bindAddresses: () => (string | null)[],
): (request: IncomingMessage, response: ServerResponse, headers?: Record<string, string>) => (StatsAccess & { ok: true }) | undefined {
  if (token !== undefined && (typeof token !== 'string' || !/^[\x21-\x7e]{8,}$/.test(token))) {
    // The value itself is never repeated back: it may be a real secret with a typo.
    throw new LifelineError('LL_INVALID_OPTION', 'The admin token (statsEndpoint.token; lifeline serve --admin-token) must be at least 8 printable ASCII characters without spaces: it travels in an Authorization header.');
  }
  return (request, response, headers = {}) => {
    const access = checkStatsAccess(request.headers.authorization, token, bindAddresses());
    if (access.ok) return access;
    refuse(response, access.status, access.message, { ...headers, ...(access.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="lifeline"' } : {}) });
    return undefined;
  };
}

/** A plain-text refusal that is never cached. */
export function refuse(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = message + '\n';
  response.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  });
  response.end(body);
}

/**
 * The request comes from a page of another origin: its `Origin` header names another host
 * than its `Host` header. Requests without `Origin` (curl, scripts, same-origin GETs from a
 * browser) are not foreign.
 */
export function fromForeignOrigin(request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() !== (request.headers.host ?? '').toLowerCase();
  } catch {
    return true; // "null" (a sandboxed page, a file) or garbage
  }
}

/**
 * True for 127.0.0.0/8, ::1 and IPv4-mapped loopback, and for a Unix socket or Windows pipe
 * (a path: not reachable over the network). `null` (not listening) is false.
 */
export function isLoopbackBind(address: string | null): boolean {
  if (address === null) return false;
  const kind = isIP(address);
  if (kind === 0) return address.startsWith('/') || address.startsWith('\\\\');
  if (kind === 4) return address.startsWith('127.');
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:')) return isLoopbackBind(lower.slice(7));
  return lower === '::1' || lower === '0:0:0:0:0:0:0:1';
}


/** The address part of `server.address()`, or null when it is not listening. */
export function bindAddressOf(server: Server): string | null {
  const address = server.address();
  if (address === null) return null;
  return typeof address === 'string' ? address : address.address;
}
