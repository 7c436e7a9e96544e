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

export async function fetchStats(url: string, token: string, timeoutMs = 3000): Promise<StatsResult> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const response = await fetch(url, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      cache: 'no-store',
      signal: abort.signal,
    });
    if (response.status === 200) return { ok: true, stats: (await response.json()) as AppStats, at: Date.now() };
    const text = (await response.text()).trim();
    if (response.status === 401) return { ok: false, needsToken: true, problem: token ? 'The admin token was not accepted.' : 'This server needs its admin token: enter it below.' };
    if (response.status === 403) return { ok: false, needsToken: true, problem: text || 'Refused (403).' };
    if (response.status === 404) return { ok: false, problem: 'This server has no stats endpoint at /api/stats: not a Lifeline server, or one that does not mount app.statsEndpoint().' };
    return { ok: false, problem: `The stats endpoint answered ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}.` };
  } catch (error) {
    const aborted = (error as Error).name === 'AbortError';
    const crossOrigin = new URL(url).origin !== location.origin;
    return {
      ok: false,
      needsToken: crossOrigin,
      problem: aborted
        ? 'The stats endpoint did not answer within 3 s.'
        : crossOrigin
          ? 'Cannot read the stats of a server on another origin without its admin token (the server answers other origins only with it), or the server is down.'
          : 'Cannot reach the server.',
    };
  } finally {
    clearTimeout(timer);
  }
}
