/**
 * Lifeline mode: a hello goes on once its connection's token passed, before the upgrade or
 * in `hello.auth` (verified here, within `firstMessageTimeout` of the upgrade); the session
 * takes that token; `$auth` refreshes it. What lifeline/route.ts asks of a route's auth.
 */
import type { IncomingMessage } from 'node:http';
import { EnvelopeError, type HelloEnvelope, type ResponseError } from '@lifeline/protocol';
import type { Link } from '../../lifeline/link.js';
import type { SessionAuth } from '../../lifeline/route.js';
import type { SessionSocket } from '../../lifeline/session.js';
import { bind, grant, hasGrant, takeGrant } from './binding.js';
import type { RouteAuth } from './options.js';
import { refreshToken } from './refresh.js';
import { check, closeFor } from './verify.js';

export class HelloAuth implements SessionAuth {
  /** Links whose hello token is being verified. */
  private readonly verifying = new WeakSet<Link>();

  constructor(private readonly route: RouteAuth) {}

  /** A new connection without a token yet: its hello must bring one within `firstMessageTimeout`. */
  linkOpened(link: Link): void {
    const request = link.request;
    const route = this.route;
    if (request === null || hasGrant(request) || !route.afterUpgrade) return;
    const timer = setTimeout(() => {
      if (link.request !== null && !this.verifying.has(link) && !hasGrant(link.request)) {
        link.fail(new EnvelopeError(1008, `hello.auth: no access token within ${route.firstMessageTimeout} ms`));
      }
    }, route.firstMessageTimeout);
    timer.unref();
  }

  helloPassed(link: Link, envelope: HelloEnvelope, again: () => void): boolean {
    const request = link.request;
    const route = this.route;
    if (request === null || hasGrant(request)) return true;
    if (this.verifying.has(link)) {
      link.fail(new EnvelopeError(1008, 'hello: nothing may follow hello before the welcome'));
      return false;
    }
    if (envelope.auth === undefined) {
      link.fail(new EnvelopeError(1008, `hello.auth: ${route.path} needs an access token`));
      return false;
    }
    this.verifying.add(link);
    void check(route, envelope.auth, request, { source: 'message' }).then((outcome) => {
      this.verifying.delete(link);
      if (!link.isOpen) return;
      if (outcome.kind === 'ok') {
        grant(request, { identity: outcome.identity, expiresAt: outcome.expiresAt, source: 'message' });
        return again();
      }
      const [code, reason] = closeFor(outcome);
      route.log.log('info', 'auth-refused', { link: link.id, remote: link.remoteAddress, route: route.path, source: 'message', code, reason });
      if (code === 1008) link.fail(new EnvelopeError(1008, reason));
      else link.closeWith(code, reason);
    });
    return false;
  }

  bindSession(session: SessionSocket, request: IncomingMessage): void {
    const granted = takeGrant(request);
    if (granted === undefined) return;
    bind(session, this.route, granted.identity, granted.expiresAt, granted.source);
  }

  refresh(session: SessionSocket, data: unknown): Promise<{ d: unknown } | { e: ResponseError }> {
    return refreshToken(this.route, session, data);
  }
}
