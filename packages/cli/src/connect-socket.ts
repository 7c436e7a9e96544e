import type { IncomingMessage } from 'node:http';
import type { WebSocketConstructor } from '@lifeline/client';
import { refusalHeaders, type RefusalHeaders } from '@lifeline/protocol';
import WebSocket from 'ws';

/** The server's HTTP answer to an upgrade it refused. */
export interface HandshakeFailure {
  status: number;
  statusText: string;
  /** The headers that explain a refusal (Retry-After, WWW-Authenticate, Location, Sec-WebSocket-Version). */
  headers: RefusalHeaders;
  /** The start of the body (servers explain refusals there: lifeline serve lists its routes). */
  body: string;
}

/**
 * What the terminal needs from the socket under `@lifeline/client`, which deliberately
 * hides it: the HTTP status and body of a refused upgrade (the client only sees
 * "Unexpected server response"), protocol pings for `/ping`, and the moment the TCP
 * connection is really closed, so that exiting does not cut off our close frame.
 */
export interface SocketTap {
  /** The socket of the latest attempt. */
  current: WebSocket | undefined;
  /** Why the latest attempt's upgrade was refused, if it was. */
  refused: HandshakeFailure | undefined;
  /** The latest attempt got 101 Switching Protocols, with this subprotocol ('' for none): a later failure is not the network's. */
  upgraded?: { protocol: string } | undefined;
  /** A pong arrived (the answer to `/ping`, or to the heartbeat's ping). */
  onPong?: () => void;
}

const MAX_BODY = 2048;
const BODY_WAIT_MS = 1000;

/**
 * A `ws` WebSocket class for the client's `options.WebSocket` that sends `headers` with
 * every upgrade request and reports to `tap`.
 */
export function tappedWebSocket(headers: Record<string, string>, tap: SocketTap): WebSocketConstructor {
  class TappedWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers });
      tap.current = this;
      tap.refused = undefined;
      tap.upgraded = undefined;
      this.on('upgrade', (response: IncomingMessage) => {
        const protocol = response.headers['sec-websocket-protocol'];
        tap.upgraded = { protocol: typeof protocol === 'string' ? protocol : '' };
      });
      this.on('pong', () => tap.onPong?.());
      // With a listener here ws leaves the refused request to us: read what the server
      // said, then end the attempt, which the client sees as a failed connect.
      this.on('unexpected-response', (_request, response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          clearTimeout(timer);
          if (this.readyState !== WebSocket.CONNECTING) return;
          const text = Buffer.concat(chunks).toString('utf8', 0, Math.min(size, MAX_BODY));
          tap.refused = { status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', headers: refusalHeaders((name) => response.headers[name]), body: text.trim() };
          this.terminate();
        };
        const timer = setTimeout(done, BODY_WAIT_MS);
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= MAX_BODY) done();
        });
        response.on('end', done);
        response.on('error', done);
      });
    }
  }
  return TappedWebSocket as unknown as WebSocketConstructor;
}

/** Resolves once `ws` has closed its TCP connection, or after `timeoutMs`. */
export function closed(ws: WebSocket | undefined, timeoutMs: number): Promise<void> {
  if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
