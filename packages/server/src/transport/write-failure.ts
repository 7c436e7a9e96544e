import type { Transport } from './transport.js';

/**
 * A transport's write that threw: the runtime refused the message, or its connection broke
 * under it. It is the server's failure, not the peer's and not the application's value (a
 * value that cannot be encoded never reaches a transport), so the connection closes with
 * 1011, for raw sockets and Lifeline links alike. A Lifeline session keeps the frame in its
 * replay buffer: the client's resume on its next connection delivers it.
 */

/** The close code after a write threw (internal error: the client reconnects with backoff). */
export const WRITE_FAILED_CLOSE = 1011;

/** The close reason after a write threw. */
export const WRITE_FAILED_REASON = 'internal error: write failed';

/**
 * Closes `transport` with 1011 after a write it threw on (reported as such if the peer's
 * close cannot say), or drops it at once if closing throws as well.
 */
export function closeAfterFailedWrite(transport: Transport): void {
  transport.endedBecause(WRITE_FAILED_CLOSE, WRITE_FAILED_REASON);
  if (!transport.isOpen) return;
  try {
    transport.close(WRITE_FAILED_CLOSE, WRITE_FAILED_REASON);
  } catch {
    transport.terminate();
  }
}
