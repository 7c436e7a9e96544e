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

/** The largest head of a frame the server sends (RFC 6455 §5.2: 2 bytes, a 64-bit length, no mask). */
const FRAME_HEAD_MAX = 10;

export class BunTransport extends MessageTransport {
  /** @internal Set by Bun's `open`. */
  ws: BunWebSocket<BunTransport> | undefined = undefined;
  /**
   * Bytes handed to Bun since its buffer was last seen empty, with a frame head for each
   * message and for each pong Bun answers by itself: Bun holds no more than this unsent.
   * getBufferedAmount() is a call into Bun that cost about a tenth of a small echo's time,
   * so the maxBufferedBytes check makes it only when this bound would pass the limit.
   */
  private sentSinceEmpty = 0;

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
    if (this.ws === undefined || this.closing) return 0;
    const amount = this.ws.getBufferedAmount();
    if (amount === 0) this.sentSinceEmpty = 0;
    return amount;
  }

  override get bufferedAtMost(): number {
    return this.ws === undefined || this.closing ? 0 : this.sentSinceEmpty;
  }

  /**
   * Open from Bun's `open` until the close began: Bun calls `close` (MessageTransport.closed)
   * before its own close() returns and as soon as the peer's close frame or the connection's
   * end arrives, so the JavaScript state follows Bun's without asking it (readyState is a
   * call into Bun) on every write.
   */
  protected get runtimeOpen(): boolean {
    return this.ws !== undefined;
  }

  protected sendText(text: string): number {
    this.sentSinceEmpty += 3 * text.length + FRAME_HEAD_MAX; // UTF-8 takes at most 3 bytes per UTF-16 unit
    return this.ws!.sendText(text);
  }

  protected sendBinary(bytes: Uint8Array): number {
    this.sentSinceEmpty += bytes.byteLength + FRAME_HEAD_MAX;
    return this.ws!.sendBinary(bytes);
  }

  protected closeRuntime(code: number, reason: string): void {
    this.ws!.close(code, reason);
  }

  protected terminateRuntime(): void {
    this.ws?.terminate();
  }

  ping(): void {
    if (!this.isOpen) return;
    this.sentSinceEmpty += FRAME_HEAD_MAX;
    this.ws!.ping();
  }

  /** A ping Bun answers with a pong of the same payload (counted whether it was a ping or a pong). */
  override heard(size: number): void {
    this.sentSinceEmpty += size + FRAME_HEAD_MAX;
    super.heard(size);
  }
}
