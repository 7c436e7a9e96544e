/**
 * Running a route's `verify` (with its timeout; it never rejects), and what its outcome
 * means: an identity, a refusal (401/403; after the upgrade, close 1008), a timeout (503;
 * close 1013) or a failure (500; close 1011).
 */
import type { IncomingMessage } from 'node:http';
import { LifelineError } from '@lifeline/protocol';
import type { AuthSource } from '../../connection/identity.js';
import { describeError } from '../../leaves/logger.js';
import type { Rejection } from '../../transport/transport.js';
import type { AuthContext, AuthGrant, RouteAuth } from './options.js';

export type Outcome =
  | { kind: 'ok'; identity: unknown; expiresAt: number | undefined }
  | { kind: 'refused'; status: 401 | 403; why: string }
  | { kind: 'error'; error: unknown }
  | { kind: 'timeout' };

/** Runs verify with the route's timeout; never rejects. A verify error is logged with the token cut out. */
export async function check(route: RouteAuth, token: string, request: IncomingMessage | undefined, context: AuthContext): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome>((resolve) => (timer = setTimeout(resolve, route.verifyTimeout, { kind: 'timeout' })));
  const verify = route.verify;
  const run = async (): Promise<Outcome> => {
    try {
      return outcomeOf(await verify(token, request, context));
    } catch (error) {
      const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
      if (status === 401 || status === 403) return { kind: 'refused', status, why: 'verify refused it' };
      return { kind: 'error', error };
    }
  };
  const outcome = await Promise.race([run(), timeout]);
  clearTimeout(timer);
  if (outcome.kind === 'error') {
    route.log.log('error', 'auth-error', { route: route.path, source: context.source, error: redact(describeError(outcome.error), token) });
  }
  return outcome;
}

function outcomeOf(value: unknown): Outcome {
  if (value === false || value === null || value === undefined) return { kind: 'refused', status: 401, why: 'invalid token' };
  let identity: unknown = value;
  let expiresAt: number | undefined;
  if (typeof value === 'object' && 'identity' in value && 'expiresAt' in value) {
    const grant = value as AuthGrant;
    identity = grant.identity;
    if (identity === false || identity === null || identity === undefined) return { kind: 'refused', status: 401, why: 'invalid token' };
    const at = grant.expiresAt;
    if (at !== undefined) {
      expiresAt = at instanceof Date ? at.getTime() : at;
      if (typeof expiresAt !== 'number' || Number.isNaN(expiresAt)) {
        return { kind: 'error', error: new LifelineError('LL_INVALID_OPTION', 'verify returned an expiresAt that is neither a number of ms nor a Date') };
      }
      if (expiresAt <= Date.now()) return { kind: 'refused', status: 401, why: 'token expired' };
    }
  }
  return { kind: 'ok', identity, expiresAt };
}

/** The answer to an upgrade whose token did not pass. */
export function rejectionFor(route: RouteAuth, outcome: Exclude<Outcome, { kind: 'ok' }>, source: AuthSource, peer: string): Rejection {
  if (outcome.kind === 'refused') {
    return outcome.status === 403
      ? { status: 403, message: `The access token (from ${source}) does not allow ${route.path}.` }
      : {
          status: 401,
          message: `The access token (from ${source}) was refused: ${outcome.why}.`,
          headers: { 'WWW-Authenticate': `Bearer realm="lifeline", error="invalid_token"` },
        };
  }
  if (outcome.kind === 'timeout') {
    route.log.log('warn', 'auth-timeout', { route: route.path, source, remote: peer, verifyTimeout: route.verifyTimeout });
    return { status: 503, message: 'Authentication is taking too long; retry shortly.', headers: { 'Retry-After': '5' } };
  }
  return { status: 500, message: 'Authentication failed on the server.' };
}

/** The close code and reason for a token refused after the upgrade. */
export function closeFor(outcome: Exclude<Outcome, { kind: 'ok' }>): [number, string] {
  if (outcome.kind === 'refused') return [1008, outcome.status === 403 ? 'auth: token not allowed here' : `auth: ${outcome.why}`];
  if (outcome.kind === 'timeout') return [1013, 'auth: verification timed out; retry later'];
  return [1011, 'auth: verification failed on the server'];
}

function redact(text: string, token: string): string {
  return token.length > 0 ? text.split(token).join('[token]') : text;
}
