import WebSocket from 'ws';
import type { WebSocketConstructor } from './types.js';

/** Node: the global WebSocket where the runtime has one (Node ≥ 22), else `ws`. */
export const defaultWebSocket = (): WebSocketConstructor | undefined =>
  (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (WebSocket as unknown as WebSocketConstructor);
