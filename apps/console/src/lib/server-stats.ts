/**
 * The server panel's data: `GET /api/stats` of the connected server (Lifeline's stats
 * endpoint, docs/server.md), polled once a second while the panel is open.
 */
import type { AppStats } from '@lifeline/server';
import { httpTwin } from './explain';

export type { AppStats };

export type StatsResult = { ok: true; stats: AppStats; at: number } | { ok: false; problem: string; needsToken?: boolean };

/** `http://host:port/api/stats` for `ws://host:port/anything`. */
export function statsUrl(wsUrl: string): string | undefined {
  try {
    const url = new URL(httpTwin(wsUrl.trim()), location.href);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return `${url.origin}/api/stats`;
  } catch {
    return undefined;
  }
}

/**
 * One read of the stats. Anything but the stats ends the polling (the panel says why once and
 * offers to try again): a server that refuses or has no stats will not change its mind a
 * second later, and a page must not log a failed request every second.
 */
export async function fetchStats(url: string, token: string, timeoutMs = 3000): Promise<StatsResult> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    const crossOrigin = new URL(url).origin !== location.origin;
    return {
      ok: false,
      problem: timedOut
        ? `${url} did not answer within ${timeoutMs / 1000} s.`
        : crossOrigin
          ? `No Lifeline stats at ${url}: nothing came back that this page may read. A Lifeline server answers a page of another origin at least with why it refuses, so this is not a Lifeline server (or an older one), or nothing listens there.`
          : `Cannot reach ${url}.`,
    };
  }
  const text = (await response.text().catch(() => '')).trim();
  if (response.status === 200) {
    const stats = parseStats(text);
    return stats ? { ok: true, stats, at: Date.now() } : { ok: false, problem: `No Lifeline stats at ${url}: it answers, but not with Lifeline's stats.` };
  }
  if (response.status === 401) return { ok: false, needsToken: true, problem: token ? 'The admin token was not accepted.' : 'This Lifeline server shows its stats only with its admin token: enter it below.' };
  if (response.status === 403) return { ok: false, problem: text || 'The server refused (403).' };
  if (response.status === 404) return { ok: false, problem: `No Lifeline stats at ${url}: the server there answers 404 (not a Lifeline server, or one that does not mount app.statsEndpoint()).` };
  return { ok: false, problem: `${url} answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}.` };
}

function parseStats(text: string): AppStats | undefined {
  try {
    const value = JSON.parse(text) as Partial<AppStats> | null;
    return value && typeof value === 'object' && value.connections && value.routes && value.totals ? (value as AppStats) : undefined;
  } catch {
    return undefined;
  }
}
