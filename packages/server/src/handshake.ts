import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OriginCheck } from './options.js';

/**
 * Checks an upgrade request before `ws` sees it, so that every refusal is an HTTP answer
 * a person can read (curl, the console, a proxy log) instead of a bare 400. `ws` checks
 * the same things again; that is cheap and keeps it the one source of truth for RFC 6455.
 */
export interface Rejection {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

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

/** Writes a complete HTTP/1.1 answer on a socket that has not been upgraded, then closes it. */
export function writeRejection(socket: Duplex, rejection: Rejection): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = rejection.message + '\n';
  const headers: Record<string, string> = {
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...rejection.headers,
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(`HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status] ?? ''}\r\n${head}\r\n${body}`);
  // Do not wait for a client that never reads its answer.
  setTimeout(() => socket.destroy(), 1000).unref();
}
