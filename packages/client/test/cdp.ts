import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { CHROMIUM, CHROMIUM_FLAGS } from '../../../test/support/chromium.js';
import { ensureDebianPackage, fileExists } from '../../../test/support/system-packages.js';

/**
 * Debian's headless Chromium driven over the raw DevTools protocol (CDP) on a WebSocket.
 *
 * Why not Playwright (test/support/chromium.ts) here: a page Playwright controls stays
 * `visible` whatever happens to its tab (checked with Chromium 156: a second tab in the
 * same window, Target.activateTarget, minimising), so it cannot show what the client does
 * in a hidden tab. With plain CDP, opening a second tab hides the first one for real:
 * `document.visibilityState` becomes `hidden` and Chromium throttles its timers to once a
 * second, as for a user's background tab.
 */
export interface CdpPage {
  targetId: string;
  sessionId: string;
  /** Evaluates an expression in the page (awaiting a promise) and returns its JSON value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  send<T = unknown>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** Reloads the page (as F5 does) and resolves once the new document has loaded. */
  reload(): Promise<void>;
  /** Runs `source` in every document this page loads from now on, before the page's own scripts. */
  addInitScript(source: string): Promise<void>;
  close(): Promise<void>;
}

export interface CdpBrowser {
  child: ChildProcess;
  send<T = unknown>(method: string, params?: Record<string, unknown>, sessionId?: string): Promise<T>;
  /** Opens a tab (in the same window, in front) and attaches to it. */
  newPage(url: string): Promise<CdpPage>;
  /** CDP events, e.g. Page.loadEventFired, with their session. */
  events: { method: string; params: unknown; sessionId?: string }[];
  /** The profile directory (`--user-data-dir`). */
  profile: string;
  /** SIGKILL to the browser's whole process group (every helper process too), as a crash or `kill -9` would; resolves once the main process is gone. */
  kill(): Promise<void>;
  close(): Promise<void>;
}

export interface CdpLaunchOptions {
  /** A profile directory to use and keep (a relaunch on the same profile); default a fresh one, deleted on close. */
  profile?: string;
}

export async function launchCdpChromium(options: CdpLaunchOptions = {}): Promise<CdpBrowser> {
  ensureDebianPackage('chromium', fileExists(CHROMIUM));
  const keep = options.profile !== undefined;
  const profile = options.profile ?? mkdtempSync(join(tmpdir(), 'lifeline-cdp-'));
  const child = spawn(
    CHROMIUM,
    [
      ...CHROMIUM_FLAGS,
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    // Its own process group, so that kill() reaches every helper process.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  let stderr = '';
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Chromium printed no DevTools endpoint in 20 s: ${stderr}`)), 20_000);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    void exited.then(() => reject(new Error(`Chromium exited: ${stderr}`)));
  });
  const ws = new WebSocket(endpoint, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; method: string }>();
  const events: CdpBrowser['events'] = [];
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: unknown; sessionId?: string };
    if (message.id !== undefined) {
      const call = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) call?.reject(new Error(`${call.method}: ${message.error.message}`));
      else call?.resolve(message.result);
    } else if (message.method) {
      events.push({ method: message.method, params: message.params, sessionId: message.sessionId });
    }
  });
  const send = <T>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++nextId;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
      ws.send(JSON.stringify({ id, method, params, sessionId }));
    });

  return {
    child,
    send,
    events,
    async newPage(url) {
      const { targetId } = await send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
      await send('Page.enable', {}, sessionId);
      await send('Runtime.enable', {}, sessionId);
      const load = async (what: string, go: () => Promise<unknown>) => {
        const loaded = events.length;
        await go();
        const deadline = Date.now() + 20_000;
        while (!events.slice(loaded).some((e) => e.method === 'Page.loadEventFired' && e.sessionId === sessionId)) {
          if (Date.now() > deadline) throw new Error(`${what} did not load`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await load(url, () => send('Page.navigate', { url }, sessionId));
      const page: CdpPage = {
        targetId,
        sessionId,
        send: (method, params) => send(method, params, sessionId),
        async evaluate<T>(expression: string) {
          const { result, exceptionDetails } = await send<{ result: { value: T }; exceptionDetails?: { text: string; exception?: { description?: string } } }>(
            'Runtime.evaluate',
            { expression, returnByValue: true, awaitPromise: true },
            sessionId,
          );
          if (exceptionDetails) throw new Error(`in the page: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
          return result.value;
        },
        reload: () => load(`${url} (reloaded)`, () => send('Page.reload', {}, sessionId)),
        addInitScript: async (source) => {
          await send('Page.addScriptToEvaluateOnNewDocument', { source }, sessionId);
        },
        close: async () => {
          await send('Target.closeTarget', { targetId });
        },
      };
      return page;
    },
    profile,
    async kill() {
      signalGroup('SIGKILL');
      await exited;
      ws.terminate();
    },
    async close() {
      // Browser.close lets Chromium end its helper processes and stop writing to the
      // profile; SIGKILL (by PID) only if it does not exit in 5 s.
      const killer = setTimeout(() => signalGroup('SIGKILL'), 5000);
      if (child.exitCode === null && child.signalCode === null) send('Browser.close').catch(() => {});
      await exited;
      clearTimeout(killer);
      ws.close();
      if (!keep) rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}
