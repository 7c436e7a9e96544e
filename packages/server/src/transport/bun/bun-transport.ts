/**
 * The Transport on Bun: Bun.serve's `ServerWebSocket` (uWebSockets underneath). Bun does the
 * RFC 6455 work and corks the writes of each of its callbacks itself; the transport is the
 * socket's `data`, made before the upgrade and handed the socket in `open`, so a connection
 * costs one object of the seam's own.
 *
 * Capabilities: `ping` (Bun's own, and its pong reaches the sweep through `heard`); not
 * `pauseReading` (Bun has no way to stop reading one WebSocket), not `framed` (Bun frames
 * every message itself), not `refusalFirst` beyond the route's own maxPayload (a frame Bun
 * refuses itself, over the server's largest maxPayload or not UTF-8, closes without the
 * sink hearing first).
 */
import { MessageTransport } from '../fetch/message-transport.js';
import type { FetchUpgrade } from '../fetch/upgrade.js';
import type { Transport, TransportCapabilities } from '../transport.js';
import type { BunWebSocket } from './bun-api.js';

const CAPABILITIES: TransportCapabilities = { pauseReading: false, framed: false, ping: true, refusalFirst: false };

export class BunTransport extends MessageTransport {
  /** @internal Set by Bun's `open`. */
  ws: BunWebSocket<BunTransport> | undefined = undefined;

  constructor(
    protocol: string,
    maxPayload: number,
    upgrade: FetchUpgrade,
    /** Called once Bun has opened the WebSocket; dropped then. */
    public whenOpen: ((transport: Transport) => void) | undefined,
  ) {
    super(protocol, maxPayload, upgrade);
  }

  get capabilities(): TransportCapabilities {
    return CAPABILITIES;
  }

  get bufferedAmount(): number {
    return this.ws === undefined || this.closing ? 0 : this.ws.getBufferedAmount();
  }

  protected get runtimeOpen(): boolean {
    return this.ws !== undefined && this.ws.readyState === 1;
  }

  protected sendText(text: string): number {
    return this.ws!.sendText(text);
  }

  protected sendBinary(bytes: Uint8Array): number {
    return this.ws!.sendBinary(bytes);
  }

  protected closeRuntime(code: number, reason: string): void {
    this.ws!.close(code, reason);
  }

  protected terminateRuntime(): void {
    this.ws?.terminate();
  }

  ping(): void {
    if (this.isOpen) this.ws!.ping();
  }
}
