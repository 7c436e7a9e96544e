/**
 * The in-memory deployment the kit is run against in npm test: one createApp() node with a
 * route that has every behaviour docs/conformance.md describes — the echo (m back as m,
 * request `echo` answered with its d), the optional `ask` (the server asks the client),
 * channels that clients may publish to, with presence — and a short resume window, so
 * that `reset: expired` can be checked too.
 */
import type { App } from '@lifeline/server';

export const RESUME_WINDOW_MS = 3000;

export function addConformanceRoute(app: App, path = '/conformance'): void {
  app.channel('*', { clientPublish: true, presence: true });
  app.ws(path, { lifeline: { resumeWindow: RESUME_WINDOW_MS } }, async (socket) => {
    socket.handle('echo', (data) => data);
    socket.handle('ask', async (data) => {
      const { n, d } = data as { n: string; d: unknown };
      try {
        return { d: await socket.request(n, d, { timeout: 30_000 }) };
      } catch (error) {
        const remote = (error as { remote?: { code: string; message: string } }).remote;
        if (remote) return { e: remote };
        throw error;
      }
    });
    for await (const message of socket) socket.send(message);
  });
}
