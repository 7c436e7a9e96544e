/**
 * Where a route's token is found in an upgrade request: the `Authorization: Bearer` header,
 * a `lifeline.auth.<base64url>` subprotocol entry, a query parameter (removed from the URL
 * so that no log or handler sees it) or a cookie, in the route's order.
 */
import type { IncomingMessage } from 'node:http';
import type { AuthSource } from '../../connection/identity.js';
import { bearerToken } from '../../leaves/bearer.js';
import type { RouteAuth } from './options.js';

/** The subprotocol entry that carries a token: `lifeline.auth.` + base64url(UTF-8 token). */
export const AUTH_PROTOCOL_PREFIX = 'lifeline.auth.';

/** Never selected as the connection's subprotocol, never echoed back, never logged. */
export function isAuthProtocol(protocol: string): boolean {
  return protocol.startsWith(AUTH_PROTOCOL_PREFIX);
}

/** The first token present in the upgrade request, from the route's sources in order. */
export function tokenOf(route: RouteAuth, request: IncomingMessage): { token: string; source: AuthSource } | undefined {
  let found: { token: string; source: AuthSource } | undefined;
  for (const source of route.sources) {
    const token = found ? undefined : read(route, source, request);
    if (token !== undefined) found = { token, source };
  }
  // The token in the URL is never kept where logs and handlers read it.
  if (route.sources.includes('query')) stripQueryParam(request, route.queryParam);
  return found;
}

function read(route: RouteAuth, source: AuthSource, request: IncomingMessage): string | undefined {
  switch (source) {
    case 'header':
      return bearerToken(request.headers.authorization);
    case 'protocol': {
      const header = request.headers['sec-websocket-protocol'];
      const entry = header?.split(',').map((p) => p.trim()).find(isAuthProtocol);
      if (entry === undefined) return undefined;
      const encoded = entry.slice(AUTH_PROTOCOL_PREFIX.length);
      // Not base64url: a token that cannot be right, refused by verify like any other.
      return /^[A-Za-z0-9_-]+$/.test(encoded) ? Buffer.from(encoded, 'base64url').toString('utf8') : encoded;
    }
    case 'query': {
      const url = request.url ?? '';
      const q = url.indexOf('?');
      if (q === -1) return undefined;
      const value = new URLSearchParams(url.slice(q + 1)).get(route.queryParam);
      return value === null || value === '' ? undefined : value;
    }
    case 'cookie':
      return cookieValue(request.headers.cookie, route.cookie!);
    default:
      return undefined;
  }
}

/** How a client without a token could send one: for the 401's sentence. */
export function sourceHint(route: RouteAuth): string {
  const hints: string[] = [];
  if (route.sources.includes('protocol')) hints.push(`a "${AUTH_PROTOCOL_PREFIX}<base64url token>" subprotocol entry`);
  if (route.sources.includes('query')) hints.push(`?${route.queryParam}=<token>`);
  if (route.sources.includes('cookie')) hints.push(`the ${route.cookie} cookie`);
  return hints.length ? `, or ${hints.join(', or ')}` : '';
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // not percent-encoded: as sent
    }
    return value === '' ? undefined : value;
  }
  return undefined;
}

/** Removes `name` from the request's query, so that `request.url` and `socket.url` never hold the token. */
function stripQueryParam(request: IncomingMessage, name: string): void {
  const url = request.url;
  const q = url?.indexOf('?') ?? -1;
  if (url === undefined || q === -1) return;
  const params = new URLSearchParams(url.slice(q + 1));
  if (!params.has(name)) return;
  params.delete(name);
  const rest = params.toString();
  request.url = url.slice(0, q) + (rest ? `?${rest}` : '');
}
