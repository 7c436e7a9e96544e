/**
 * What became of a WebSocket opening handshake, and what that means in words a person can
 * act on. One table for everyone who can see the HTTP side of a handshake:
 * `lifeline connect` (its own attempt), the handshake check of `lifeline serve` (an attempt
 * made on behalf of the console, which a browser cannot make: browsers hide why a
 * WebSocket failed to open) and the console that shows the answer. Dependency-free, for
 * Node and browsers.
 */

/** The headers of a refusal that explain it; every other header is left out. */
export interface RefusalHeaders {
  /** A redirect's target (WebSocket clients do not follow redirects). */
  location?: string;
  /** 429 and 503: when to come back (seconds or an HTTP date). */
  retryAfter?: string;
  /** 401: the scheme the server wants. */
  wwwAuthenticate?: string;
  /** 426: the WebSocket versions the server speaks. */
  secWebSocketVersion?: string;
}

/** Longest header value kept in a report; the rest is cut. */
export const MAX_REPORTED_HEADER = 200;

export type HandshakeOutcome =
  /** The server answered the upgrade with something other than 101. */
  | { kind: 'refused'; status: number; statusText: string; headers: RefusalHeaders; body?: string }
  /**
   * 101 Switching Protocols, with the subprotocol the server selected ('' for none).
   * `problem`: why a client dropped the connection anyway, other than the subprotocol (a
   * wrong Sec-WebSocket-Accept, an extension nobody asked for).
   */
  | { kind: 'accepted'; protocol: string; problem?: string }
  /** No HTTP answer: `code` is the system's (ECONNREFUSED, ENOTFOUND, a TLS code) or ''. */
  | { kind: 'network'; code: string; message: string }
  /** No answer within `ms`. */
  | { kind: 'timeout'; ms: number };

export interface HandshakeContext {
  /** The ws:// or wss:// URL that was tried. */
  url: string;
  /** The subprotocols offered, in order. */
  offered: readonly string[];
}

export interface HandshakeVerdict {
  /** The outcome in words: `404 Not Found: …`, `connection refused: nothing listens on 127.0.0.1:5001`. */
  text: string;
  /**
   * The same handshake would be refused again, so retrying cannot help until the server or
   * the request changes (404, 403, a subprotocol nobody speaks…). False for what passes (a
   * server that is down or full, a timeout, 429, 5xx).
   */
  definitive: boolean;
}

/** What a refusal means, for servers that give no body saying it themselves. */
const MEANINGS: Record<number, string> = {
  400: 'the server refused the handshake as malformed or unacceptable (often: it speaks none of the subprotocols offered)',
  401: 'this WebSocket needs credentials (a token in the URL or a subprotocol entry, a cookie, or an Authorization header)',
  403: 'the server refuses this client: its Origin is not allowed, or its credentials are not enough',
  404: 'there is no WebSocket at this path',
  405: 'this path does not take a WebSocket upgrade',
  410: 'this WebSocket is gone',
  426: 'the server wants another protocol or WebSocket version here',
  429: 'too many connections or attempts from this address: try again later',
  500: 'the server failed while handling the handshake',
  502: 'a proxy could not reach the server behind it',
  503: 'the server is full or unavailable: try again later',
  504: 'a proxy timed out waiting for the server behind it',
};

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_(GET|VERIFY)_|HOSTNAME_MISMATCH)/;

/** A refusal that may pass if the same request is made later: a timeout, rate limits, a full or failing server. */
function refusalPasses(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** The outcome of a handshake in words, and whether retrying it can help. */
export function describeHandshake(outcome: HandshakeOutcome, context: HandshakeContext): HandshakeVerdict {
  const { host, hostname } = hostOf(context.url);
  const offered = context.offered;
  switch (outcome.kind) {
    case 'refused': {
      const { status, headers } = outcome;
      const line = `${status} ${outcome.statusText}`.trim();
      const body = outcome.body?.replace(/\s*\n\s*/g, ' ').trim();
      let text = body ? `${line}: ${body}` : MEANINGS[status] ? `${line}: ${MEANINGS[status]}` : line;
      if (status >= 100 && status < 300) text += ' — a plain HTTP answer: no WebSocket server at this address';
      if (status >= 300 && status < 400) text += ` — it redirects${headers.location ? ` to ${headers.location}` : ''}, and WebSocket clients do not follow redirects: connect there instead`;
      if (status === 401 && headers.wwwAuthenticate) text += ` (WWW-Authenticate: ${headers.wwwAuthenticate})`;
      if (status === 426 && headers.secWebSocketVersion) text += ` (it speaks WebSocket version ${headers.secWebSocketVersion})`;
      if (headers.retryAfter) text += ` (Retry-After: ${headers.retryAfter}${/^\d+$/.test(headers.retryAfter) ? ' s' : ''})`;
      return { text, definitive: !refusalPasses(status) };
    }
    case 'accepted': {
      const { protocol } = outcome;
      if (offered.length > 0 && protocol === '') {
        return {
          text:
            `the server accepted the WebSocket but chose no subprotocol (offered: ${offered.join(', ')}); ` +
            `a client that offers subprotocols must get one of them back, so it drops the connection: the server does not speak ${offered.length === 1 ? offered[0] : 'any of them'} here`,
          definitive: true,
        };
      }
      if (protocol !== '' && !offered.includes(protocol)) {
        return {
          text: `the server chose subprotocol ${protocol}, which was ${offered.length ? `not among those offered (${offered.join(', ')})` : 'not offered'}; the client drops such a connection`,
          definitive: true,
        };
      }
      if (outcome.problem) return { text: `the server's 101 answer is not a valid WebSocket handshake: ${outcome.problem}`, definitive: true };
      return { text: `the server accepts this handshake${protocol ? ` with subprotocol ${protocol}` : ''}`, definitive: false };
    }
    case 'timeout':
      return { text: `no answer within ${outcome.ms} ms`, definitive: false };
    case 'network': {
      const code = outcome.code;
      if (code === 'ECONNREFUSED') return { text: `connection refused: nothing listens on ${host}`, definitive: false };
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { text: `host ${hostname} not found (DNS)`, definitive: false };
      if (code === 'ETIMEDOUT') return { text: `connecting to ${host} timed out`, definitive: false };
      if (code === 'ECONNRESET') return { text: `${host} reset the connection during the handshake`, definitive: false };
      if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { text: `${host} is unreachable`, definitive: false };
      if (TLS_CODE.test(code)) return { text: `TLS failed with ${host}: ${outcome.message}`, definitive: false };
      return { text: outcome.message || `the connection to ${host} failed`, definitive: false };
    }
  }
}

/**
 * The explaining headers of a refusal, each cut to MAX_REPORTED_HEADER characters.
 * `get` reads one header by its lower-case name (Node's `IncomingMessage.headers[name]`,
 * or `Headers.get`).
 */
export function refusalHeaders(get: (name: string) => string | string[] | null | undefined): RefusalHeaders {
  const headers: RefusalHeaders = {};
  const read = (name: string): string | undefined => {
    const value = get(name);
    const text = Array.isArray(value) ? value.join(', ') : value;
    return text === undefined || text === null || text === '' ? undefined : text.slice(0, MAX_REPORTED_HEADER);
  };
  const location = read('location');
  const retryAfter = read('retry-after');
  const wwwAuthenticate = read('www-authenticate');
  const secWebSocketVersion = read('sec-websocket-version');
  if (location !== undefined) headers.location = location;
  if (retryAfter !== undefined) headers.retryAfter = retryAfter;
  if (wwwAuthenticate !== undefined) headers.wwwAuthenticate = wwwAuthenticate;
  if (secWebSocketVersion !== undefined) headers.secWebSocketVersion = secWebSocketVersion;
  return headers;
}

function hostOf(url: string): { host: string; hostname: string } {
  try {
    const parsed = new URL(url);
    return { host: parsed.host, hostname: parsed.hostname };
  } catch {
    return { host: url, hostname: url };
  }
}
