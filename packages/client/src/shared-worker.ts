/**
 * The SharedWorker side of a connection shared by every tab (`@lifeline/client/shared`), the
 * entry point `@lifeline/client/shared-worker`. The application's worker script is one line:
 *
 *   // lifeline-worker.js, bundled by the application (Vite: `new SharedWorker(new URL('./lifeline-worker.js', import.meta.url), { type: 'module' })`)
 *   import { serveTabs } from '@lifeline/client/shared-worker';
 *   serveTabs();
 *
 * and each tab passes that worker to `shared(url, { worker })`. The worker holds one hub
 * (one WebSocket, one Lifeline session) per URL the tabs ask for, made with the settings of
 * the first tab that asks, and lives as long as a tab uses it.
 */
import { wireError, Hub } from './hub.js';
import { isMessage, type ToHub, type ToTab } from './shared-protocol.js';

interface Port {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  start?(): void;
}

/** Serves the tabs that connect to this SharedWorker. Call it once, at the top of the worker script. */
export function serveTabs(): void {
  const scope = globalThis as unknown as { onconnect: ((event: { ports: Port[] }) => void) | null };
  const hubs = new Map<string, { hub: Hub; ports: Map<string, Port> }>();
  scope.onconnect = (event) => {
    const port = event.ports[0]!;
    let served: { hub: Hub; ports: Map<string, Port> } | undefined;
    port.onmessage = ({ data }) => {
      const { tab, m: raw } = (data ?? {}) as { tab?: unknown; m?: unknown };
      if (typeof tab !== 'string' || !isMessage(raw)) return; // not a tab of shared()
      const m = raw as ToHub;
      if (m.t === 'join' && typeof m.url !== 'string') return;
      if (!served) {
        if (m.t !== 'join') return;
        served = hubs.get(m.url);
        if (!served) {
          const ports = new Map<string, Port>();
          const post = (to: string, message: ToTab) => ports.get(to)?.postMessage(message);
          let hub: Hub;
          try {
            hub = new Hub(m.url, m.settings ?? {}, 'worker', { to: post, all: (message) => ports.forEach((p) => p.postMessage(message)) });
          } catch (error) {
            // Settings the client refuses (LL_INVALID_OPTION, LL_INVALID_URL): the tab hears why.
            return port.postMessage({ t: 'event', type: 'error', arg: wireError(error) } satisfies ToTab);
          }
          hubs.set(m.url, (served = { hub, ports }));
        }
        served.ports.set(tab, port);
      }
      if (m.t === 'leave') served.ports.delete(tab);
      served.hub.receive(tab, m);
    };
    port.start?.();
  };
}
