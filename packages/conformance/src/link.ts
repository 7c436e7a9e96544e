/**
 * One WebSocket connection as the kit sees it: every frame and the close, in arrival order,
 * with a cursor to wait on. Nothing here knows Lifeline; peer.ts does.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { Failure } from './outcome.js';
import { Waiters } from './waiters.js';

export interface FrameEvent {
  kind: 'frame';
  data: Buffer;
  binary: boolean;
  /** performance.now() when it arrived. */
  at: number;
}

export interface CloseEvent {
  kind: 'close';
  code: number;
  reason: string;
  at: number;
}

export type LinkEvent = FrameEvent | CloseEvent;

/** An upgrade the server answered with an HTTP status instead of 101 (§1.1). */
export interface Refusal {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ConnectOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  timeoutMs: number;
}

export type ConnectResult = { ok: true; link: Link } | { ok: false; refusal: Refusal } | { ok: false; error: string };

export class Link {
  readonly events: LinkEvent[] = [];
  /** Set once the close (or the drop) arrived. */
  closed: CloseEvent | undefined;
  /** A transport error `ws` reported (invalid frame from the server, reset, …). */
  transportError: string | undefined;
  private readonly waiters = new Waiters();
  /** Called with every event as it arrives (before any waiter wakes). */
  listener: ((event: LinkEvent) => void) | undefined;

  private constructor(
    readonly ws: WebSocket,
    /** The subprotocol the server selected ('' for none). */
    readonly protocol: string,
    readonly url: string,
  ) {
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], binary: boolean) => {
      const buffer = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      this.push({ kind: 'frame', data: buffer, binary, at: performance.now() });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      const event: CloseEvent = { kind: 'close', code, reason: reason.toString('utf8'), at: performance.now() };
      this.closed = event;
      this.push(event);
    });
    ws.on('error', (error: Error) => {
      this.transportError ??= error.message;
    });
  }

  private push(event: LinkEvent): void {
    this.events.push(event);
    this.listener?.(event);
    this.waiters.wake();
  }

  /** Resolves when another event arrives (or at once if `count` events are already there). */
  changed(count: number, timeoutMs: number): Promise<boolean> {
    return this.waiters.wait(this.events.length > count, timeoutMs);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  sendText(text: string | Buffer): void {
    if (this.open) this.ws.send(text, { binary: false });
  }

  sendBinary(bytes: Uint8Array): void {
    if (this.open) this.ws.send(bytes, { binary: true });
  }

  /** A close frame with `code` (the session's fate depends on it, §2.4 R10). */
  close(code: number, reason = ''): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
  }

  /** Drops the TCP connection without a close frame: a transport drop (§2.4). */
  terminate(): void {
    this.ws.terminate();
  }

  /** Waits for the close (or the drop) within `timeoutMs`; throws a Failure naming `what` otherwise. */
  async waitClosed(timeoutMs: number, what: string): Promise<CloseEvent> {
    const deadline = performance.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - performance.now();
      if (left <= 0 || !(await this.changed(this.events.length, left))) throw new Failure(`${what}: the connection did not close within ${Math.round(timeoutMs)} ms`);
    }
    return this.closed;
  }

  static connect(url: string, options: ConnectOptions): Promise<ConnectResult> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url, options.protocols ?? [], {
        headers: options.headers,
        perMessageDeflate: false,
        handshakeTimeout: options.timeoutMs,
        maxPayload: 256 * 1024 * 1024,
      });
      let settled = false;
      const settle = (result: ConnectResult) => {
        if (settled) return;
        settled = true;
        resolve(result);
      };
      // Frames can arrive with the 101 in one read: the Link must listen before 'open' fires.
      const link = new Link(ws, '', url);
      ws.once('open', () => {
        (link as { protocol: string }).protocol = ws.protocol;
        settle({ ok: true, link });
      });
      ws.once('unexpected-response', (request, response) => {
        const chunks: Buffer[] = [];
        const refused = () => {
          settle({ ok: false, refusal: { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') } });
          request.destroy();
        };
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', refused);
        response.on('error', refused);
      });
      ws.once('error', (error) => settle({ ok: false, error: error.message }));
      ws.once('close', () => settle({ ok: false, error: link.transportError ?? 'closed during the handshake' }));
    });
  }
}

/**
 * An upgrade request written by hand, for the refusals of §1.1 that a WebSocket library
 * will not send (a wrong version, a bad key, another method). Resolves with the status the
 * server answered (101 included: the socket is then destroyed at once).
 */
export function rawUpgrade(
  url: string,
  options: { method?: string; path?: string; headers: Record<string, string | undefined>; timeoutMs: number },
): Promise<Refusal> {
  const target = new URL(url.replace(/^ws/, 'http'));
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.headers)) if (value !== undefined) headers[name] = value;
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || (target.protocol === 'https:' ? 443 : 80),
      method: options.method ?? 'GET',
      path: options.path ?? `${target.pathname}${target.search}`,
      headers,
      rejectUnauthorized: false,
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Failure(`no HTTP answer within ${Math.round(options.timeoutMs)} ms`));
    }, options.timeoutMs);
    req.on('upgrade', (response, socket) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: response.statusCode ?? 0, headers: response.headers, body: '' });
    });
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(new Failure(`HTTP request failed: ${error.message}`));
    });
    req.end();
  });
}

/** A fresh `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455 §4.1). */
export const websocketKey = (): string => randomBytes(16).toString('base64');
