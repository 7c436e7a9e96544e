/**
 * `POST /api/handshake-check`: the server makes one WebSocket opening handshake on behalf of
 * a page it serves and reports what came back: the status line, the headers that explain a
 * refusal, the subprotocol selected, or the network error. A browser cannot learn any of
 * that (it reports every failed handshake as a bare 1006, and a page cannot read another
 * origin's answers), so the console asks its server when its own WebSocket fails before
 * opening (docs/server.md, "Handshake check").
 *
 * The server making requests for a page is the shape of SSRF, so the endpoint is narrow:
 * - who: the admin endpoints' rule (the admin token, or a server bound to loopback only),
 *   and only its own pages: a request whose Origin names another host is refused, and with
 *   the loopback rule the Host header must be a loopback name or an IP address (a DNS name
 *   pointing at 127.0.0.1 from a hostile page, "DNS rebinding", is refused);
 * - what: one GET upgrade to a ws:// or wss:// URL without credentials in it, with the
 *   subprotocols asked for and the caller's Origin; no redirect followed, no body sent or
 *   read, and the target's body never returned; an accepted connection is closed at once;
 * - bounds: a JSON body of 4 KiB at most, the answer within `timeoutMs`, response headers
 *   of 16 KiB at most, `maxConcurrent` checks at a time and `perMinute` a minute for the
 *   whole app (then 429 with Retry-After).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { DEFAULT_DECODE_LIMITS, parseJsonWithin, refusalHeaders, type HandshakeOutcome } from '@lifeline/protocol';
import WebSocket from 'ws';
import { readBody, replyJson } from './http-json.js';
import { numberOption } from './option-checks.js';
import { adminGate, fromForeignOrigin } from './stats.js';

export interface HandshakeCheckOptions {
  /** Where it answers. Default `/api/handshake-check`. */
  path?: string;
  /** The admin token (as for `/api/stats`); unset: only while the server is bound to loopback alone. */
  token?: string;
  /** How long one check may wait for the server's answer, ms. Default 5000. */
  timeoutMs?: number;
  /** Checks running at once, for the whole app. Default 4. */
  maxConcurrent?: number;
  /** Checks started per minute, for the whole app. Default 60. */
  perMinute?: number;
}

export const HANDSHAKE_CHECK_DEFAULTS = { path: '/api/handshake-check', timeoutMs: 5000, maxConcurrent: 4, perMinute: 60 } as const;

/** What the endpoint answers with 200. */
export interface HandshakeReport {
  url: string;
  protocols: string[];
  outcome: HandshakeOutcome;
  /** How long the check took. */
  ms: number;
}

const MAX_BODY = 4096;
const MAX_URL = 2048;
const MAX_PROTOCOLS = 16;
const MAX_HEADER_BYTES = 16 * 1024;
/** RFC 7230 token characters: what a subprotocol name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

export function handshakeCheckHandler(options: HandshakeCheckOptions, bindAddresses: () => (string | null)[]): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  const timeoutMs = numberOption('handshakeCheckEndpoint.timeoutMs', options.timeoutMs, HANDSHAKE_CHECK_DEFAULTS.timeoutMs, 100, 'at least 100 (ms)');
  const maxConcurrent = numberOption('handshakeCheckEndpoint.maxConcurrent', options.maxConcurrent, HANDSHAKE_CHECK_DEFAULTS.maxConcurrent, 1, 'at least 1');
  const perMinute = numberOption('handshakeCheckEndpoint.perMinute', options.perMinute, HANDSHAKE_CHECK_DEFAULTS.perMinute, 1, 'at least 1');
  const admitted = adminGate(options.token, bindAddresses);
  let running = 0;
  /** Start times of the checks of the last minute, oldest first (at most `perMinute`). */
  const started: number[] = [];

  return async (request, response) => {
    const access = admitted(request, response);
    if (!access) {
      request.resume();
      return;
    }
    const refuse = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
      request.resume();
      replyJson(response, status, { code, message }, { 'Cache-Control': 'no-store', ...headers });
    };
    const fetchSite = request.headers['sec-fetch-site'];
    if (fromForeignOrigin(request) || (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none')) {
      return refuse(403, 'LL_FORBIDDEN', 'The handshake check answers only the pages of this server (the Origin names another host).');
    }
    if (!access.byToken && !isLocalHostHeader(request.headers.host)) {
      return refuse(403, 'LL_FORBIDDEN', 'Without an admin token the handshake check answers only requests to a loopback name or an IP address (Host header), so that a page on a DNS name cannot use it.');
    }
    if (!/^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '')) {
      return refuse(415, 'LL_INVALID_REQUEST', 'Send Content-Type: application/json with {"url": "ws://…", "protocols": [...]}.');
    }
    const body = await readBody(request, MAX_BODY);
    if (body === undefined) {
      refuse(413, 'LL_TOO_LARGE', `The body is over ${MAX_BODY} bytes.`, { Connection: 'close' });
      request.destroy();
      return;
    }
    const parsed = parseRequest(body);
    if (typeof parsed === 'string') return refuse(400, 'LL_INVALID_REQUEST', parsed);

    const now = Date.now();
    while (started.length > 0 && started[0]! <= now - 60_000) started.shift();
    if (running >= maxConcurrent || started.length >= perMinute) {
      const wait = running >= maxConcurrent ? 1 : Math.max(1, Math.ceil((started[0]! + 60_000 - now) / 1000));
      return refuse(429, 'LL_RATE_LIMITED', `Too many handshake checks: at most ${maxConcurrent} at a time and ${perMinute} a minute.`, { 'Retry-After': String(wait) });
    }
    running++;
    started.push(now);
    try {
      const origin = request.headers.origin;
      const outcome = await checkHandshake(parsed.url, parsed.protocols, { timeoutMs, ...(origin !== undefined && origin !== 'null' ? { origin } : {}) });
      const report: HandshakeReport = { url: parsed.url, protocols: parsed.protocols, outcome, ms: Date.now() - now };
      replyJson(response, 200, report, { 'Cache-Control': 'no-store' });
    } finally {
      running--;
    }
  };
}

/** The URL and subprotocols asked for, or what is wrong with the request. */
function parseRequest(body: Buffer): { url: string; protocols: string[] } | string {
  // Within the default structural bounds, like everything else read from outside (docs/server.md "Limits").
  const read = parseJsonWithin(body.toString('utf8'), DEFAULT_DECODE_LIMITS);
  if (!read.ok) return read.problem !== undefined ? `The body ${read.problem.reason}.` : 'The body is not JSON; send {"url": "ws://…", "protocols": [...]}.';
  const value = read.value;
  const { url, protocols = [] } = (typeof value === 'object' && value !== null ? value : {}) as { url?: unknown; protocols?: unknown };
  if (typeof url !== 'string' || url.length > MAX_URL) return `"url" must be a ws:// or wss:// URL of at most ${MAX_URL} characters.`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"url" is not a URL: ${JSON.stringify(url.slice(0, 100))}.`;
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') return `"url" must start with ws:// or wss://, not ${parsed.protocol}//.`;
  if (parsed.username || parsed.password) return '"url" must not carry a user name or password.';
  if (!Array.isArray(protocols) || protocols.length > MAX_PROTOCOLS || !protocols.every((p) => typeof p === 'string' && TOKEN.test(p))) {
    return `"protocols" must be a list of at most ${MAX_PROTOCOLS} subprotocol names (letters, digits and !#$%&'*+-.^_\`|~).`;
  }
  if (new Set(protocols).size !== protocols.length) return '"protocols" names a subprotocol twice.';
  parsed.hash = '';
  return { url: parsed.href, protocols: protocols as string[] };
}

/** `localhost`, `*.localhost`, or an IP address (with or without a port). */
function isLocalHostHeader(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
  const lower = name.toLowerCase();
  return isIP(name) !== 0 || lower === 'localhost' || lower.endsWith('.localhost');
}

/**
 * One opening handshake to `url` offering `protocols` (as a browser would, with `origin`),
 * and what came of it. Never rejects. An accepted connection is closed at once (1000).
 */
export function checkHandshake(url: string, protocols: readonly string[], options: { timeoutMs: number; origin?: string }): Promise<HandshakeOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let upgraded: { protocol: string } | undefined;
    let ws: WebSocket;
    const finish = (outcome: HandshakeOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      resolve(outcome);
    };
    // ws's own handshakeTimeout covers the answer; this one covers everything else.
    const deadline = setTimeout(() => {
      finish({ kind: 'timeout', ms: options.timeoutMs });
      ws?.terminate();
    }, options.timeoutMs + 1000);
    try {
      ws = new WebSocket(url, [...protocols], {
        handshakeTimeout: options.timeoutMs,
        perMessageDeflate: false,
        followRedirects: false,
        maxPayload: 1024,
        maxHeaderSize: MAX_HEADER_BYTES,
        ...(options.origin !== undefined ? { origin: options.origin } : {}),
      } as WebSocket.ClientOptions);
    } catch (error) {
      finish({ kind: 'network', code: '', message: (error as Error).message });
      return;
    }
    ws.on('upgrade', (response: IncomingMessage) => {
      const protocol = response.headers['sec-websocket-protocol'];
      upgraded = { protocol: typeof protocol === 'string' ? protocol : '' };
    });
    // With this listener ws leaves the refused request to us: report it, read nothing more.
    ws.on('unexpected-response', (_request, response: IncomingMessage) => {
      finish({ kind: 'refused', status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', headers: refusalHeaders((name) => response.headers[name]) });
      ws.terminate();
    });
    ws.on('open', () => {
      finish({ kind: 'accepted', protocol: ws.protocol });
      ws.close(1000, 'handshake check');
      setTimeout(() => ws.terminate(), 1000).unref();
    });
    ws.on('error', (error: NodeJS.ErrnoException) => {
      if (upgraded) return finish({ kind: 'accepted', protocol: upgraded.protocol, problem: error.message });
      if (/handshake has timed out/i.test(error.message)) return finish({ kind: 'timeout', ms: options.timeoutMs });
      finish({ kind: 'network', code: error.code ?? '', message: error.message });
    });
  });
}
