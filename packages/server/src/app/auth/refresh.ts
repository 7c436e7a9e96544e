/** `$auth` (PROTOCOL.md §4.4): a Lifeline session's fresh token, verified, replaces its identity; or the refusal. */
import type { ResponseError } from '@lifeline/protocol';
import type { Socket } from '../../connection/socket.js';
import { bind } from './binding.js';
import type { RouteAuth } from './options.js';
import { check, closeFor } from './verify.js';

export async function refreshToken(route: RouteAuth, session: Socket, data: unknown): Promise<{ d: unknown } | { e: ResponseError }> {
  const token = (data as { token?: unknown } | null)?.token;
  if (typeof token !== 'string' || token === '') return { e: { code: 'LL_INVALID_REQUEST', message: '$auth: d must be { token: string }' } };
  const outcome = await check(route, token, undefined, { source: 'refresh', socket: session });
  if (outcome.kind === 'ok') {
    if (!session.isOpen) return { e: { code: 'LL_SESSION_CLOSED', message: '$auth: the session ended' } };
    bind(session, route, outcome.identity, outcome.expiresAt, 'refresh');
    route.logFor('auth-refresh', session, { expiresAt: outcome.expiresAt });
    return { d: { expiresAt: outcome.expiresAt ?? null } };
  }
  const [code, reason] = closeFor(outcome);
  route.logFor('auth-refresh-refused', session, { reason });
  if (code === 1008) return { e: { code: 'LL_UNAUTHORIZED', message: `$auth: ${reason.replace(/^auth: /, '')}` } };
  return { e: { code: 'LL_UNAVAILABLE', message: `$auth: ${reason.replace(/^auth: /, '')}` } };
}
