import { describe, expect, it } from 'vitest';
import { describeHandshake, MAX_REPORTED_HEADER, refusalHeaders, type HandshakeOutcome } from '../src/index.js';

const context = { url: 'ws://127.0.0.1:5001/feed', offered: [] as string[] };
const refused = (status: number, statusText: string, headers = {}, body?: string): HandshakeOutcome => ({ kind: 'refused', status, statusText, headers, ...(body === undefined ? {} : { body }) });

describe('describeHandshake', () => {
  it('says what each refusal means, and which ones retrying cannot fix', () => {
    const cases: [HandshakeOutcome, string, boolean][] = [
      [refused(404, 'Not Found'), '404 Not Found: there is no WebSocket at this path', true],
      [refused(403, 'Forbidden'), '403 Forbidden: the server refuses this client: its Origin is not allowed, or its credentials are not enough', true],
      [
        refused(401, 'Unauthorized', { wwwAuthenticate: 'Bearer realm="lifeline"' }),
        '401 Unauthorized: this WebSocket needs credentials (a token in the URL or a subprotocol entry, a cookie, or an Authorization header) (WWW-Authenticate: Bearer realm="lifeline")',
        true,
      ],
      [refused(426, 'Upgrade Required', { secWebSocketVersion: '8' }), '426 Upgrade Required: the server wants another protocol or WebSocket version here (it speaks WebSocket version 8)', true],
      [refused(400, 'Bad Request'), '400 Bad Request: the server refused the handshake as malformed or unacceptable (often: it speaks none of the subprotocols offered)', true],
      [refused(429, 'Too Many Requests', { retryAfter: '30' }), '429 Too Many Requests: too many connections or attempts from this address: try again later (Retry-After: 30 s)', false],
      [refused(503, 'Service Unavailable', { retryAfter: '5' }), '503 Service Unavailable: the server is full or unavailable: try again later (Retry-After: 5 s)', false],
      [refused(502, 'Bad Gateway'), '502 Bad Gateway: a proxy could not reach the server behind it', false],
      [refused(418, "I'm a Teapot"), "418 I'm a Teapot", true],
      [refused(200, 'OK'), '200 OK — a plain HTTP answer: no WebSocket server at this address', true],
      [
        refused(301, 'Moved Permanently', { location: 'wss://example.test/feed' }),
        '301 Moved Permanently — it redirects to wss://example.test/feed, and WebSocket clients do not follow redirects: connect there instead',
        true,
      ],
    ];
    for (const [outcome, text, definitive] of cases) expect(describeHandshake(outcome, context)).toEqual({ text, definitive });
  });

  it('prefers the server’s own words, on one line', () => {
    expect(describeHandshake(refused(404, 'Not Found', {}, 'No WebSocket route at /nope.\nKnown WebSocket routes: /echo.\n'), context).text).toBe(
      '404 Not Found: No WebSocket route at /nope. Known WebSocket routes: /echo.',
    );
  });

  it('tells a subprotocol nobody speaks from a handshake that went through', () => {
    expect(describeHandshake({ kind: 'accepted', protocol: '' }, { ...context, offered: ['lifeline.v1'] })).toEqual({
      text: 'the server accepted the WebSocket but chose no subprotocol (offered: lifeline.v1); a client that offers subprotocols must get one of them back, so it drops the connection: the server does not speak lifeline.v1 here',
      definitive: true,
    });
    expect(describeHandshake({ kind: 'accepted', protocol: '' }, { ...context, offered: ['a', 'b'] }).text).toMatch(/does not speak any of them here$/);
    expect(describeHandshake({ kind: 'accepted', protocol: 'other' }, { ...context, offered: ['mine'] })).toEqual({
      text: 'the server chose subprotocol other, which was not among those offered (mine); the client drops such a connection',
      definitive: true,
    });
    expect(describeHandshake({ kind: 'accepted', protocol: 'x' }, context).text).toBe('the server chose subprotocol x, which was not offered; the client drops such a connection');
    expect(describeHandshake({ kind: 'accepted', protocol: '', problem: 'Invalid Sec-WebSocket-Accept header' }, context)).toEqual({
      text: "the server's 101 answer is not a valid WebSocket handshake: Invalid Sec-WebSocket-Accept header",
      definitive: true,
    });
    expect(describeHandshake({ kind: 'accepted', protocol: 'chat' }, { ...context, offered: ['chat'] })).toEqual({ text: 'the server accepts this handshake with subprotocol chat', definitive: false });
  });

  it('words network failures as lifeline connect always has, and retries them', () => {
    const cases: [string, string][] = [
      ['ECONNREFUSED', 'connection refused: nothing listens on 127.0.0.1:5001'],
      ['ENOTFOUND', 'host 127.0.0.1 not found (DNS)'],
      ['EAI_AGAIN', 'host 127.0.0.1 not found (DNS)'],
      ['ETIMEDOUT', 'connecting to 127.0.0.1:5001 timed out'],
      ['ECONNRESET', '127.0.0.1:5001 reset the connection during the handshake'],
      ['EHOSTUNREACH', '127.0.0.1:5001 is unreachable'],
      ['DEPTH_ZERO_SELF_SIGNED_CERT', 'TLS failed with 127.0.0.1:5001: self-signed certificate'],
      ['', 'self-signed certificate'],
    ];
    for (const [code, text] of cases) expect(describeHandshake({ kind: 'network', code, message: 'self-signed certificate' }, context)).toEqual({ text, definitive: false });
    expect(describeHandshake({ kind: 'timeout', ms: 5000 }, context)).toEqual({ text: 'no answer within 5000 ms', definitive: false });
  });
});

describe('refusalHeaders', () => {
  it('keeps only the explaining headers, cut to MAX_REPORTED_HEADER characters', () => {
    const headers: Record<string, string | string[]> = {
      'retry-after': '7',
      'www-authenticate': 'Bearer ' + 'x'.repeat(500),
      'set-cookie': ['session=secret'],
      'sec-websocket-version': ['13', '8'],
      server: 'nginx',
    };
    const kept = refusalHeaders((name) => headers[name]);
    expect(kept).toEqual({ retryAfter: '7', wwwAuthenticate: ('Bearer ' + 'x'.repeat(500)).slice(0, MAX_REPORTED_HEADER), secWebSocketVersion: '13, 8' });
    expect(kept.wwwAuthenticate).toHaveLength(200);
  });
});
