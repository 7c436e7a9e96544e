/**
 * Message and byte totals: what every connection counts anyway (its own message counters,
 * its transport's byte counters), summed when someone asks, and the final counts of closed
 * connections, added once at close.
 */

/** Counts since the server started (or per second, in `rates`). */
export interface StatsCounts {
  messagesIn: number;
  messagesOut: number;
  /** Bytes on the wire (frames with their headers, the upgrade request and answer). */
  bytesIn: number;
  bytesOut: number;
}

/** What a live raw socket or Lifeline session offers the collector: its own counters (read as they are, no copy). */
export interface Counted {
  readonly messagesIn: number;
  readonly messagesOut: number;
}
export interface ByteCounts {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** Adds a closed connection's final counts; called once per raw socket, session and transport. */
export function addEnded(totals: StatsCounts, counted: Counted | undefined, transport: ByteCounts | undefined): void {
  if (counted) {
    totals.messagesIn += counted.messagesIn;
    totals.messagesOut += counted.messagesOut;
  }
  if (transport) {
    totals.bytesIn += transport.bytesRead;
    totals.bytesOut += transport.bytesWritten;
  }
}

