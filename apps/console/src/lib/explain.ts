/**
 * Close codes and connection failures in words a person can act on. The sentences are
 * `describeCloseCode`'s (@lifeline/protocol), shared with the server and `lifeline connect`.
 */
import type { CloseInfo } from '@lifeline/client';
import { describeCloseCode } from '@lifeline/protocol';

/** `1006 closed without a close frame: the network dropped or the server crashed`. */
export const closeSentence = describeCloseCode;

/** What the client will do next, after `info`. */
export function nextStep(info: CloseInfo, reconnect: boolean): string {
  switch (info.action) {
    case 'retry':
      return info.hint !== undefined ? `reconnecting after the server’s hint of ${(info.hint / 1000).toFixed(1)} s` : 'reconnecting with backoff';
    case 'retry-slow':
      return 'reconnecting slowly: the server asked to try again later';
    case 'reauth':
      return 'reconnecting at once (with fresh credentials, if the URL function gives any)';
    case 'stop':
      if (!reconnect) return 'not reconnecting: auto-reconnect is off';
      if (info.code === 1000) return 'not reconnecting: closed on purpose';
      return 'not reconnecting: the same messages would fail again (protocol, data or size problem)';
  }
}

/** One line for the log: `closed 1009 (message too big: …) "reason" — not reconnecting: …`. */
export function describeClose(info: CloseInfo, reconnect: boolean): string {
  const reason = info.reason ? ` reason "${info.reason}"` : '';
  return `closed ${info.code}: ${closeSentence(info.code)}.${reason} — ${nextStep(info, reconnect)}`;
}

/** What an HTTP request to the WebSocket's address said, to explain a failed handshake. */
export type Probe =
  | { kind: 'unreachable' }
  /** Another origin: the browser lets us see that it answered, not what. */
  | { kind: 'answered' }
  | { kind: 'http'; status: number; body: string };

/** The http(s):// twin of a ws(s):// URL. */
export function httpTwin(wsUrl: string): string {
  return wsUrl.replace(/^ws(s?):/i, 'http$1:');
}

/**
 * Browsers hide why a WebSocket could not open (refused? 404? TLS?), for privacy. A plain
 * HTTP request to the same address tells some of it apart: no answer at all, or a server
 * that answers (and, on this page's own origin, what it answers: Lifeline's 404 lists the
 * routes, its 426 confirms the path is a WebSocket route).
 */
export async function probe(wsUrl: string, timeoutMs = 3000): Promise<Probe> {
  const url = httpTwin(wsUrl);
  let sameOrigin = false;
  try {
    sameOrigin = new URL(url).origin === location.origin;
  } catch {
    return { kind: 'unreachable' };
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const response = await fetch(url, { mode: sameOrigin ? 'same-origin' : 'no-cors', cache: 'no-store', signal: abort.signal, redirect: 'manual' });
    if (!sameOrigin || response.type === 'opaque' || response.type === 'opaqueredirect') return { kind: 'answered' };
    return { kind: 'http', status: response.status, body: (await response.text()).trim().slice(0, 400) };
  } catch {
    return { kind: 'unreachable' };
  } finally {
    clearTimeout(timer);
  }
}

/** Why the first connection could not open, from a probe. */
export function explainFailure(wsUrl: string, protocols: readonly string[], result: Probe): string {
  let host = wsUrl;
  try {
    host = new URL(wsUrl).host;
  } catch {
    // keep the URL as typed
  }
  switch (result.kind) {
    case 'unreachable':
      return (
        `Could not connect: nothing answered at ${host}. The connection was refused (no server on that port), ` +
        `the host name did not resolve, a firewall dropped it, or TLS failed (wss://). Browsers do not say which; ` +
        `lifeline connect ${wsUrl} does.`
      );
    case 'answered':
      return (
        `Could not connect: the server at ${host} answers HTTP but refused the WebSocket handshake ` +
        `(no WebSocket at this path, this page’s origin not allowed, ${protocols.length ? `none of the subprotocols ${protocols.join(', ')} accepted, ` : ''}` +
        `authentication needed, or full). Browsers hide its answer; lifeline connect ${wsUrl} prints it.`
      );
    case 'http':
      if (result.status === 404) return `Could not connect: the server has no WebSocket at this path. It says: ${result.body}`;
      if (result.status === 426) {
        return (
          'Could not connect: the path is a WebSocket route, but the server refused this handshake: ' +
          (protocols.length ? `probably the subprotocol (offered ${protocols.join(', ')}), ` : '') +
          'the page’s origin, or a full server. Its log or lifeline connect says which.'
        );
      }
      return `Could not connect: the server refused the WebSocket handshake; a plain request there answers ${result.status}${result.body ? `: ${result.body}` : ''}.`;
  }
}
