/**
 * Checks an upgrade request before the transport sees it, so that every refusal is an HTTP
 * answer a person can read (curl, the console, a proxy log) instead of a bare 400. The
 * transport (`ws`) checks the same things again; that is cheap and keeps it the one source
 * of truth for RFC 6455.
 */
import type { IncomingMessage } from 'node:http';
import type { Rejection } from '../transport/transport.js';

/** `allowedOrigins`: exact origins (`scheme://host[:port]`), or a function deciding each. */
export type OriginCheck = readonly string[] | ((origin: string | undefined, request: IncomingMessage) => boolean);

const KEY = /^[+/0-9A-Za-z]{22}==$/;

export function checkUpgradeHeaders(request: IncomingMessage): Rejection | null {
  if (request.method !== 'GET') {
    return { status: 405, message: `A WebSocket upgrade must use GET, not ${request.method}.`, headers: { Allow: 'GET' } };
  }
  if (request.headers.upgrade?.toLowerCase() !== 'websocket') {
    return {
      status: 400,
      message: `Upgrade header is "${request.headers.upgrade ?? ''}"; a WebSocket handshake needs "Upgrade: websocket".`,
    };
  }
  const version = request.headers['sec-websocket-version'];
  if (version !== '13') {
    return {
      status: 426,
      message:
        `Unsupported Sec-WebSocket-Version ${JSON.stringify(version ?? null)}: this server speaks version 13 (RFC 6455). ` +
        'Upgrade the client library, or check that client and server speak the same WebSocket version.',
      headers: { 'Sec-WebSocket-Version': '13' },
    };
  }
  const key = request.headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) {
    return { status: 400, message: 'Missing or malformed Sec-WebSocket-Key (expected 16 random bytes in base64).' };
  }
  return null;
}

export function checkOrigin(check: OriginCheck | undefined, request: IncomingMessage): Rejection | null {
  if (check === undefined) return null;
  const origin = request.headers.origin;
  const allowed = typeof check === 'function' ? check(origin, request) : origin !== undefined && check.includes(origin);
  if (allowed) return null;
  return {
    status: 403,
    message: `Origin ${JSON.stringify(origin ?? null)} is not allowed to open WebSockets here. Add it to allowedOrigins if it should be.`,
  };
}
