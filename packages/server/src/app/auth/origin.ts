/**
 * Cross-site WebSocket hijacking: a browser sends cookies with every request, from any page,
 * so a route that takes its token from a cookie refuses upgrades whose `Origin` is foreign.
 */
import type { IncomingMessage } from 'node:http';
import type { Rejection } from '../../transport/transport.js';
import type { OriginCheck } from '../handshake.js';
import type { RouteAuth } from './options.js';

/** For a route with a cookie source: a browser's request from a foreign page is refused (403). */
export function checkCookieOrigin(route: RouteAuth, request: IncomingMessage, appOrigins: OriginCheck | undefined): Rejection | null {
  if (route.cookie === undefined) return null;
  const origin = request.headers.origin;
  if (origin === undefined) return null; // not a browser: no ambient credentials to abuse
  const check = route.allowedOrigins ?? appOrigins;
  let allowed: boolean;
  if (typeof check === 'function') allowed = check(origin, request);
  else if (check !== undefined) allowed = check.includes(origin);
  else allowed = sameOrigin(origin, request.headers.host);
  if (allowed) return null;
  return {
    status: 403,
    message:
      `Origin ${JSON.stringify(origin)} may not open ${route.path}: it authenticates with a cookie, which a browser sends from any page, ` +
      'so only the same origin (or auth.allowedOrigins) may connect.',
  };
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const from = new URL(origin);
    if (from.protocol !== 'http:' && from.protocol !== 'https:') return false;
    // The Host header with the origin's scheme, so that default ports compare equal.
    return from.host === new URL(`${from.protocol}//${host}`).host;
  } catch {
    return false; // "null" (a sandboxed page, file://) and anything unparsable is foreign
  }
}
