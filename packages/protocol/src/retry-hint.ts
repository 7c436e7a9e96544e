/**
 * A server that closes a connection on purpose (restart, overload) can tell the client
 * when to come back, in the close reason: `<text>; retry-after=<ms>`. Spreading the
 * hinted delays over a window keeps thousands of clients from reconnecting in the same
 * second. The format is plain text so that clients that ignore it still show a readable
 * reason.
 */
const HINT = /(?:^|;\s*)retry-after=(\d{1,9})$/;

export function formatRetryHint(text: string, retryAfterMs: number): string {
  const ms = Math.max(0, Math.round(retryAfterMs));
  return text === '' ? `retry-after=${ms}` : `${text}; retry-after=${ms}`;
}

/** The hinted delay in milliseconds, or undefined when the reason carries no hint. */
export function parseRetryHint(reason: string): number | undefined {
  const match = HINT.exec(reason);
  return match ? Number(match[1]) : undefined;
}
