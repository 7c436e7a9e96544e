/**
 * The part of the WebSocket interface the client uses. The browser's WebSocket, Node's
 * global WebSocket and `ws` all have it; `ping`, `terminate` and `on` exist only on `ws`.
 * Declared here so that the package's types do not depend on the DOM library.
 */
export type Frame = string | ArrayBufferLike | ArrayBufferView;

export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean: boolean }) => void) | null;
  onerror: ((event: { message?: string; error?: unknown }) => void) | null;
  send(data: Frame): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: a protocol-level ping, answered by every RFC 6455 peer. */
  ping?(): void;
  /** `ws` only: destroy the TCP connection at once. */
  terminate?(): void;
  /** `ws` only: EventEmitter, used to see inbound pings and pongs. */
  on?(event: 'ping' | 'pong', listener: () => void): unknown;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
