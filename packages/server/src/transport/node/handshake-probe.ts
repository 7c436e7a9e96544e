/**
 * One outbound WebSocket opening handshake, made with `ws` as a client, and what came of it:
 * what the handshake check (app/admin/handshake-check.ts) reports for the console.
 */
import type { IncomingMessage } from 'node:http';
import { refusalHeaders, type HandshakeOutcome } from '@lifeline/protocol';
import WebSocket from 'ws';

/** Response headers read at most (a refusal's headers explain it). */
const MAX_HEADER_BYTES = 16 * 1024;

/**
 * One opening handshake to `url` offering `protocols` (as a browser would, with `origin`),
 * and what came of it. Never rejects. An accepted connection is closed at once (1000).
 */
export function checkHandshake(url: string, protocols: readonly string[], options: { timeoutMs: number; origin?: string }): Promise<HandshakeOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let upgraded: { protocol: string } | undefined;
    let ws: WebSocket;
    const finish = (outcome: HandshakeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      resolve(outcome);
    };
    // ws's own handshakeTimeout covers the answer; this one covers everything else.
    const deadline = setTimeout(() => {
      finish({ kind: 'timeout', ms: options.timeoutMs });
      ws?.terminate();
    }, options.timeoutMs + 1000);
    try {
      ws = new WebSocket(url, [...protocols], {
        handshakeTimeout: options.timeoutMs,
        perMessageDeflate: false,
        followRedirects: false,
        maxPayload: 1024,
        maxHeaderSize: MAX_HEADER_BYTES,
        ...(options.origin !== undefined ? { origin: options.origin } : {}),
      } as WebSocket.ClientOptions);
    } catch (error) {
      finish({ kind: 'network', code: '', message: (error as Error).message });
      return;
    }
    ws.on('upgrade', (response: IncomingMessage) => {
      const protocol = response.headers['sec-websocket-protocol'];
      upgraded = { protocol: typeof protocol === 'string' ? protocol : '' };
    });
    // With this listener ws leaves the refused request to us: report it, read nothing more.
    ws.on('unexpected-response', (_request, response: IncomingMessage) => {
      finish({ kind: 'refused', status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', headers: refusalHeaders((name) => response.headers[name]) });
      ws.terminate();
    });
    ws.on('open', () => {
      finish({ kind: 'accepted', protocol: ws.protocol });
      ws.close(1000, 'handshake check');
      setTimeout(() => ws.terminate(), 1000).unref();
    });
    ws.on('error', (error: NodeJS.ErrnoException) => {
      if (upgraded) return finish({ kind: 'accepted', protocol: upgraded.protocol, problem: error.message });
      if (/handshake has timed out/i.test(error.message)) return finish({ kind: 'timeout', ms: options.timeoutMs });
      finish({ kind: 'network', code: error.code ?? '', message: error.message });
    });
  });
}
