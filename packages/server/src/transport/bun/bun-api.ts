/**
 * The few parts of Bun's API the Bun transport uses, declared here rather than through
 * `bun-types` (which would put Bun's globals into every file of the package).
 */

/** Bun's `ServerWebSocket`, with the transport as its `data`. */
export interface BunWebSocket<Data> {
  readonly data: Data;
  readonly readyState: number;
  readonly remoteAddress: string;
  /** Bytes sent (> 0), -1 queued under backpressure, 0 dropped. */
  sendText(data: string, compress?: boolean): number;
  sendBinary(data: Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(data?: string | Uint8Array): number;
  getBufferedAmount(): number;
}

export interface BunServer {
  readonly port: number;
  readonly hostname: string;
  upgrade(request: Request, options?: { headers?: Record<string, string>; data?: unknown }): boolean;
  requestIP(request: Request): { address: string; port: number; family: string } | null;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

export interface BunWebSocketHandlers<Data> {
  open(ws: BunWebSocket<Data>): void;
  message(ws: BunWebSocket<Data>, message: string | Buffer): void;
  close(ws: BunWebSocket<Data>, code: number, reason: string): void;
  drain(ws: BunWebSocket<Data>): void;
  ping?(ws: BunWebSocket<Data>, data: Buffer): void;
  pong?(ws: BunWebSocket<Data>, data: Buffer): void;
  maxPayloadLength: number;
  idleTimeout: number;
  backpressureLimit: number;
  closeOnBackpressureLimit: boolean;
  sendPings: boolean;
  perMessageDeflate: boolean;
  publishToSelf: boolean;
}

export interface BunServeOptions<Data> {
  hostname: string;
  port: number;
  tls?: { cert: string; key: string };
  fetch(request: Request, server: BunServer): Response | undefined | Promise<Response | undefined>;
  error(error: Error): Response;
  websocket: BunWebSocketHandlers<Data>;
}

export interface BunGlobal {
  readonly version: string;
  serve<Data>(options: BunServeOptions<Data>): BunServer;
}

/** Bun's global, when this process runs on Bun. */
export function bunGlobal(): BunGlobal | undefined {
  return (globalThis as { Bun?: BunGlobal }).Bun;
}
