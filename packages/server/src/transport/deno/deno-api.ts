/**
 * The few parts of Deno's API the Deno transport uses, declared here rather than through
 * Deno's own type declarations (which would put Deno's globals into every file of the package).
 */

/** The standard WebSocket as Deno.upgradeWebSocket returns it (server side). */
export interface DenoWebSocket {
  binaryType: 'blob' | 'arraybuffer';
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: string | ArrayBuffer }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export interface DenoServeInfo {
  readonly remoteAddr: { readonly hostname: string; readonly port: number };
}

export interface DenoHttpServer {
  readonly addr: { readonly hostname: string; readonly port: number };
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
}

export interface DenoServeOptions {
  hostname: string;
  port: number;
  cert?: string;
  key?: string;
  signal?: AbortSignal;
  onListen?(address: { hostname: string; port: number }): void;
  onError?(error: unknown): Response | Promise<Response>;
  handler(request: Request, info: DenoServeInfo): Response | Promise<Response>;
}

export interface DenoGlobal {
  readonly version: { readonly deno: string };
  serve(options: DenoServeOptions): DenoHttpServer;
  upgradeWebSocket(request: Request, options?: { protocol?: string; idleTimeout?: number }): { socket: DenoWebSocket; response: Response };
}

/** Deno's global, when this process runs on Deno. */
export function denoGlobal(): DenoGlobal | undefined {
  return (globalThis as { Deno?: DenoGlobal }).Deno;
}
