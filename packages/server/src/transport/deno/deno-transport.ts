/**
 * The Transport on Deno: the standard `WebSocket` that `Deno.upgradeWebSocket` returns. Deno
 * does the RFC 6455 work; the transport holds the socket and its handlers.
 *
 * Capabilities: none of the four. The standard WebSocket cannot stop reading, cannot send a
 * protocol ping (Deno pings on its own `idleTimeout`, which the app sets from its heartbeat:
 * raw connections' liveness is Deno's), takes messages rather than frames, and refuses bad
 * frames itself (the sink hears only the close). Writes are not corked (Deno writes each
 * message as it is sent). `terminate()` is a close with 1006's reason given to the sink: the
 * standard WebSocket has no abort, so a dead peer's socket lingers until Deno's idle timeout.
 */
import { MessageTransport } from '../fetch/message-transport.js';
import type { FetchUpgrade } from '../fetch/upgrade.js';
import type { TransportCapabilities } from '../transport.js';
import type { DenoWebSocket } from './deno-api.js';

const CAPABILITIES: TransportCapabilities = { pauseReading: false, framed: false, ping: false, refusalFirst: false };

export class DenoTransport extends MessageTransport {
  constructor(
    /** The standard WebSocket Deno.upgradeWebSocket returned. */
    readonly socket: DenoWebSocket,
    protocol: string,
    maxPayload: number,
    upgrade: FetchUpgrade,
  ) {
    super(protocol, maxPayload, upgrade);
  }

  get capabilities(): TransportCapabilities {
    return CAPABILITIES;
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  protected get runtimeOpen(): boolean {
    return this.socket.readyState === 1;
  }

  protected sendText(text: string): void {
    this.socket.send(text);
  }

  protected sendBinary(bytes: Uint8Array): void {
    this.socket.send(bytes);
  }

  protected closeRuntime(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  protected terminateRuntime(): void {
    if (this.socket.readyState <= 1) this.socket.close(1001, 'terminated');
  }

  /** The standard WebSocket has no drain event: its bufferedAmount is looked at every 10 ms until it is 0. */
  override whenDrained(callback: () => void): void {
    const check = () => {
      if (this.socket.readyState > 1 || this.socket.bufferedAmount === 0) callback();
      else setTimeout(check, 10);
    };
    if (this.socket.readyState > 1 || this.socket.bufferedAmount === 0) queueMicrotask(callback);
    else setTimeout(check, 10);
  }

  /** No protocol ping on a standard WebSocket (capability `ping` is false): Deno's idleTimeout pings. */
  ping(): void {}
}
