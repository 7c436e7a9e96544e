/**
 * What a client does when a connection ends with a close code:
 * - `retry`: reconnect with backoff (and no sooner than a retry-after hint);
 * - `retry-slow`: reconnect, but late: the server asked for less load;
 * - `reauth`: the credentials were refused; fetch fresh ones and reconnect;
 * - `stop`: reconnecting cannot help (the client sends something the server refuses).
 */
export type CloseAction = 'retry' | 'retry-slow' | 'reauth' | 'stop';

/** Codes after which retrying cannot help: the same client would be refused again. */
const STOP: readonly number[] = [1002, 1003, 1007, 1008, 1009, 1010];
/** Codes that ask the client to come back later rather than soon. */
const SLOW: readonly number[] = [1013, 1015];

/**
 * The default close-code policy. 1000 and 1001 from the server, 1005, 1006, 1011, 1012
 * and 1014 retry; 1013 (try again later) and 1015 (TLS) retry slowly; 1002, 1003, 1007,
 * 1008, 1009 and 1010 stop. Codes 3000-4999 are the application's: they retry by default,
 * so an application code never silently ends the link for good; give the client a policy
 * function to map your own codes to `stop` or `reauth`.
 */
export function defaultCloseAction(code: number): CloseAction {
  return STOP.includes(code) ? 'stop' : SLOW.includes(code) ? 'retry-slow' : 'retry';
}
