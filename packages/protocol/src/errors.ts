/**
 * Every error a user can hit carries a stable `code` next to its message, so that code
 * can branch on it and people can search for it.
 */
export type LifelineErrorCode =
  | 'LL_INVALID_OPTION'
  | 'LL_INVALID_ROUTE'
  | 'LL_ROUTE_CONFLICT'
  | 'LL_INVALID_CLOSE_CODE'
  | 'LL_CLOSE_REASON_TOO_LONG'
  | 'LL_INVALID_JSON'
  | 'LL_ITERATOR_IN_USE'
  | 'LL_NOT_LISTENING'
  | 'LL_ALREADY_LISTENING'
  | 'LL_SHUTTING_DOWN'
  | 'LL_INVALID_URL'
  | 'LL_CONFIG'
  // Lifeline mode (envelopes)
  | 'LL_INVALID_ENVELOPE'
  | 'LL_REQUEST_TIMEOUT'
  | 'LL_REQUEST_FAILED'
  | 'LL_SESSION_CLOSED'
  | 'LL_NOT_LIFELINE'
  | 'LL_SESSION_RESET'
  | 'LL_REQUEST_NOT_SENT'
  // answered in a response envelope's `e` (PROTOCOL.md §5), never thrown by the side that answers
  | 'LL_NO_HANDLER'
  | 'LL_HANDLER_ERROR'
  | 'LL_UNAUTHORIZED'
  // sessions shared between nodes (a session store)
  | 'LL_SESSION_MOVED'
  | 'LL_SESSION_LOST'
  // channels (PROTOCOL.md §3)
  | 'LL_INVALID_CHANNEL'
  | 'LL_INVALID_REQUEST'
  | 'LL_FORBIDDEN'
  | 'LL_TOO_MANY_CHANNELS'
  | 'LL_UNAVAILABLE'
  // @lifeline/client
  | 'LL_NO_WEBSOCKET'
  | 'LL_CONNECT_TIMEOUT'
  | 'LL_HEARTBEAT_TIMEOUT'
  | 'LL_SOCKET_ERROR'
  | 'LL_RETRIES_EXHAUSTED'
  | 'LL_AUTH_FAILED'
  | 'LL_ENCODE_FAILED'
  | 'LL_DECODE_FAILED'
  // structural bounds and content rules (bounds.ts, docs/server.md "Limits")
  | 'LL_TOO_LARGE'
  | 'LL_TOO_DEEP'
  | 'LL_TOO_MANY_ITEMS'
  | 'LL_KEY_TOO_LONG'
  | 'LL_FORBIDDEN_KEY'
  | 'LL_LONE_SURROGATE'
  | 'LL_INVALID_TRANSITION'
  // @lifeline/client/shared: the tab (or worker) holding the shared connection went away
  | 'LL_LEADER_LOST'
  // the server's HTTP answers (POST /api/publish, the handshake check): the body's `code`
  | 'LL_RATE_LIMITED'
  | 'LL_INTERNAL';

export class LifelineError extends Error {
  override readonly name: string = 'LifelineError';
  constructor(
    readonly code: LifelineErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A request the peer answered with `e` (PROTOCOL.md §2.1): `remote` holds its code and message. */
export class RequestError extends LifelineError {
  override readonly name = 'RequestError';
  constructor(
    readonly requestName: string,
    readonly remote: { readonly code: string; readonly message: string },
    /** Who failed it: the side that handled the request. */
    peer: 'client' | 'server',
  ) {
    super('LL_REQUEST_FAILED', `Request "${requestName}" failed at the ${peer}: ${remote.code}: ${remote.message}`);
  }
}
