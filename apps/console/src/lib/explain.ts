/**
 * Close codes and failed handshakes in words a person can act on. The sentences are
 * `describeCloseCode`'s and `describeHandshake`'s (@lifeline/protocol), shared with the
 * server and `lifeline connect`, so the console and the terminal say the same thing.
 *
 * A browser does not say why a WebSocket failed to open: every failure is a bare 1006, and
 * a page cannot read another origin's HTTP answers. So when a handshake fails, the console
 * asks the server that served it (`POST /api/handshake-check`, lifeline serve) to make the
 * same handshake and report what came back.
 */
import type { CloseInfo } from '@lifeline/client';
import { describeCloseCode, describeHandshake, type HandshakeOutcome } from '@lifeline/protocol';
import { adminToken } from './storage';

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

/** The http(s):// twin of a ws(s):// URL. */
export function httpTwin(wsUrl: string): string {
  return wsUrl.replace(/^ws(s?):/i, 'http$1:');
}

/** Why a handshake failed, as far as can be known. */
export type Diagnosis =
  /** This page's server made the handshake: the answer in words, and whether retrying can help. */
  | { known: true; text: string; definitive: boolean; outcome?: HandshakeOutcome }
  /** Nobody could ask: why not. */
  | { known: false; why: string };

/** Where this page's server answers handshake checks (beside /console/, wherever the server mounts it). */
export function handshakeCheckUrl(): string {
  return new URL('../api/handshake-check', document.baseURI).href;
}

/**
 * Asks this page's server to make the handshake the browser could not, and says what it
 * found. Same-origin targets are also read directly: a Lifeline server's 404 lists its routes.
 */
export async function diagnose(wsUrl: string, protocols: readonly string[], timeoutMs = 8000): Promise<Diagnosis> {
  const checked = await askServer(wsUrl, protocols, timeoutMs);
  if (!checked.known) return checked;
  const outcome = checked.outcome;
  if (outcome?.kind === 'refused' && outcome.status === 404 && sameOrigin(wsUrl)) {
    const words = await plainAnswer(wsUrl, timeoutMs);
    if (words) return { ...checked, text: `${checked.text}. It says: ${words}` };
  }
  return checked;
}

async function askServer(wsUrl: string, protocols: readonly string[], timeoutMs: number): Promise<Diagnosis> {
  const token = adminToken(location.origin);
  let response: Response;
  try {
    response = await fetch(handshakeCheckUrl(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ url: wsUrl, protocols }),
      cache: 'no-store',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch {
    return { known: false, why: 'the server of this page did not answer a handshake check' };
  }
  if (response.status === 200) {
    const outcome = await response.json().then((report: { outcome?: HandshakeOutcome }) => report.outcome, () => undefined);
    if (!outcome || typeof outcome.kind !== 'string') return { known: false, why: 'the server of this page answered the handshake check with something else than a report' };
    return { known: true, outcome, ...describeHandshake(outcome, { url: wsUrl, offered: protocols }) };
  }
  switch (response.status) {
    case 404:
    case 405:
      return { known: false, why: 'this page is not served by a Lifeline server that could make the same handshake and tell (lifeline serve does)' };
    case 401:
      return { known: false, why: `the server of this page checks handshakes only with its admin token: enter it in the Server panel for ${location.origin}` };
    case 429:
      return { known: false, why: 'the server of this page has made too many handshake checks in the last minute' };
    default: {
      const text = (await response.text().catch(() => '')).trim().slice(0, 300);
      return { known: false, why: `the server of this page refused a handshake check (${response.status}${text ? `: ${text}` : ''})` };
    }
  }
}

function sameOrigin(wsUrl: string): boolean {
  try {
    return new URL(httpTwin(wsUrl)).origin === location.origin;
  } catch {
    return false;
  }
}

/** What this page's own server says at a path over plain HTTP (Lifeline's 404 names its WebSocket routes). */
async function plainAnswer(wsUrl: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const response = await fetch(httpTwin(wsUrl), { mode: 'same-origin', cache: 'no-store', signal: AbortSignal.timeout(timeoutMs) });
    if (response.status !== 404) return undefined;
    return (await response.text()).trim().replace(/\s+/g, ' ').slice(0, 400) || undefined;
  } catch {
    return undefined;
  }
}

/** What a handshake that failed was told, said by the console when it stops retrying it. */
export const STOPPED_SENTENCE = 'Auto-reconnect stopped: the same handshake would be refused again. Retry once the server or the settings have changed.';

/** The sentence under the status line for a diagnosis of `wsUrl`. */
export function failureSentence(wsUrl: string, diagnosis: Diagnosis): string {
  if (!diagnosis.known) {
    return `Could not connect. Browsers do not say why a WebSocket handshake failed, and ${diagnosis.why}. lifeline connect ${wsUrl} prints the server's answer.`;
  }
  if (diagnosis.outcome?.kind === 'accepted' && !diagnosis.definitive) {
    return (
      `Could not connect from this browser, yet the server accepts the same handshake when this page's server makes it. ` +
      'What only the browser has is in the way: a certificate it does not trust (wss://: open the https:// address once), ' +
      'a proxy or firewall between it and the server, or its cookies and Origin.'
    );
  }
  return `Could not connect: ${diagnosis.text.replace(/[.\s]+$/, '')}.`;
}

/** The handshake succeeded but Lifeline mode did not start: the server does not speak it at this URL. */
export function notLifelineSentence(wsUrl: string, protocol: string, error: string | undefined): string {
  let host = wsUrl;
  try {
    host = new URL(wsUrl).host;
  } catch {
    // keep the URL as typed
  }
  return (
    `Could not connect: the server at ${host} accepted the handshake${protocol ? ` with subprotocol ${protocol}` : ''} but does not speak Lifeline mode there` +
    `${error ? ` (${error})` : ''}. Turn Lifeline mode off to talk to it as a plain WebSocket server.`
  );
}
