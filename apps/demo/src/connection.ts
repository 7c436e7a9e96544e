import type { ReconnectOptions } from '@lifeline/client';

/**
 * The ws:// (or wss://) URL of a route of the server that served this page. Resolved
 * against the page, not hard-coded: `/demo/` + `../results` is `/results` on whatever
 * host and port the page came from, and still right when a proxy mounts the server
 * under a sub-path.
 */
export function wsUrl(route: string): string {
  const url = new URL(`../${route}`, document.baseURI);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = url.hash = '';
  return url.href;
}

/**
 * Backoff for both panels. The client's default grows to 30 s between attempts, right for
 * a crowd of browsers and a distant server; a demo server on this machine restarts in a
 * second, and a visitor should see the countdown reach zero.
 */
export const RECONNECT: ReconnectOptions = { initialDelay: 1000, maxDelay: 5000 };

/** The seed page's heartbeat, every 5 s instead of its 28 s so that the RTT shows up soon. */
export const SEED_HEARTBEAT = { message: 'heartCheck', reply: JSON.stringify('heartCheck'), interval: 5000, timeout: 5000 };
