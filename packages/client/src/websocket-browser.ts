import type { WebSocketConstructor } from './types.js';

/** Browsers, workers, Deno, Bun: the platform's WebSocket. */
export const defaultWebSocket = (): WebSocketConstructor | undefined => (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
