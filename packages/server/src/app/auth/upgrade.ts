/**
 * Authentication before the upgrade: the cookie route's origin check, then the token from
 * the request, verified (asynchronously) before the handshake completes. Without a token:
 * 401, or the upgrade when the token may come in the first message.
 */
import type { Rejection, PendingUpgrade } from '../../transport/transport.js';
import type { OriginCheck } from '../handshake.js';
import { grant } from './binding.js';
import type { RouteAuth } from './options.js';
import { checkCookieOrigin } from './origin.js';
import { sourceHint, tokenOf } from './tokens.js';
import { check, rejectionFor } from './verify.js';

/** What the upgrade step needs from the app. */
export interface AuthUpgradeHost {
  /** The app's own origin check; a cookie route without `allowedOrigins` of its own relies on it when set. */
  readonly appOrigins: OriginCheck | undefined;
  /** Capacity and shutdown, checked again after an asynchronous verify. */
  recheck(): Rejection | null;
  refuse(rejection: Rejection): void;
  /** Completes the WebSocket handshake. */
  upgrade(): void;
}

export function authorizeUpgrade(route: RouteAuth, pending: PendingUpgrade, host: AuthUpgradeHost): void {
  const request = pending.request;
  const foreign = checkCookieOrigin(route, request, host.appOrigins);
  if (foreign) return host.refuse(foreign);
  const found = tokenOf(route, request);
  if (found === undefined) {
    if (route.afterUpgrade) return host.upgrade();
    return host.refuse({
      status: 401,
      message: `${route.path} needs an access token: send "Authorization: Bearer <token>"${sourceHint(route)}.`,
      headers: { 'WWW-Authenticate': 'Bearer realm="lifeline"' },
    });
  }
  pending.guard();
  void check(route, found.token, request, { source: found.source }).then((outcome) => {
    if (pending.gone) return;
    if (outcome.kind === 'ok') {
      const later = host.recheck();
      if (later) return host.refuse(later);
      grant(request, { identity: outcome.identity, expiresAt: outcome.expiresAt, source: found.source });
      return host.upgrade();
    }
    host.refuse(rejectionFor(route, outcome, found.source, pending.peer));
  });
}
