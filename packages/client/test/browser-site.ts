import { buildBrowserScript } from '../../../test/support/browser-bundle.js';
import { waitFor } from '../../../test/support/wait.js';
import type { CdpPage } from './cdp.js';
import { startHttp } from './helpers.js';

/**
 * A site for the persistence and shared-connection tests in Chromium: one origin (so one
 * IndexedDB, one set of Web Locks and BroadcastChannels) serving
 *
 * - `/client.js`: `@lifeline/client` with Lifeline mode, channels, the persistent store and
 *   the shared connection, as a page's bundler would build it (`window.Lifeline`);
 * - `/worker.js`: a SharedWorker script that serves every tab (`@lifeline/client/shared-worker`);
 * - `/page?…`: the test page of the scenario, which records what it saw in `window.life`.
 */
export interface TestSite {
  port: number;
  url(path: string, query?: Record<string, string | number | boolean>): string;
  close(): Promise<void>;
}

export async function startTestSite(pages: Record<string, string>): Promise<TestSite> {
  const client = await buildBrowserScript(
    ["'@lifeline/client'", "'@lifeline/client/lifeline'", "'@lifeline/client/channels'", "'@lifeline/client/persist'", "'@lifeline/client/shared'"]
      .map((entry) => `export * from ${entry};`)
      .join('\n'),
  );
  const worker = await buildBrowserScript("import { serveTabs } from '@lifeline/client/shared-worker'; serveTabs();", 'LifelineWorker');
  const site = await startHttp((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const script = path === '/client.js' ? client.code : path === '/worker.js' ? worker.code : undefined;
    if (script !== undefined) {
      response.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' });
      response.end(script);
      return;
    }
    const page = pages[path.slice(1)];
    if (page === undefined) {
      response.writeHead(404);
      response.end();
      return;
    }
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    response.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${path}</title>
<script src="/client.js"></script></head><body><script>${page}</script></body></html>`);
  });
  return {
    port: site.port,
    url: (path, query = {}) => {
      const search = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
      return `http://127.0.0.1:${site.port}/${path}?${search}`;
    },
    close: () => site.close(),
  };
}

/** What the test page recorded so far (`window.life`). */
export const readLife = <T>(page: CdpPage): Promise<T> => page.evaluate<T>('window.life');

/** Waits until the page's record satisfies `ready` (polled every 50 ms; generous default bound for a busy machine) and returns it. */
export async function waitForPage<T>(page: CdpPage, ready: (life: T) => boolean, what: string, timeoutMs = 120_000): Promise<T> {
  let last: T | undefined;
  // (undefined while the page is still loading)
  try {
    await waitFor(async () => (last = await readLife<T>(page)) !== undefined && ready(last), what, timeoutMs, 50);
  } catch (error) {
    // What the page had recorded when the wait gave up: where a stalled stream stopped.
    const seen = JSON.stringify(last, (_key, value: unknown) => (Array.isArray(value) && value.length > 20 ? [...value.slice(0, 10), `… ${value.length - 20} more …`, ...value.slice(-10)] : value));
    throw new Error(`${(error as Error).message}; the page's record then: ${seen?.slice(0, 4000)}`);
  }
  return last!;
}
