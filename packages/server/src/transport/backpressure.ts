import type { Transport } from './transport.js';

/**
 * `maxBufferedBytes`, the bound on what a connection holds unsent (docs/server.md "Limits"),
 * for raw sockets and Lifeline links alike: the check and the close.
 */

/** The close code when a connection's unsent bytes would pass the bound (try again later). */
export const SLOW_CONSUMER_CLOSE = 1013;

/** True when writing `size` more bytes would take `transport` past `max` unsent bytes. */
export function overBuffered(transport: Transport, size: number, max: number): boolean {
  return transport.bufferedAtMost + size > max && transport.bufferedAmount + size > max;
}

/** The close reason, naming the bound. */
export function slowConsumerReason(max: number): string {
  return `slow consumer: over ${max} bytes unsent`;
}
