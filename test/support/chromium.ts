import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ensureDebianPackage, fileExists } from './system-packages.js';
import { sleep, waitFor } from './wait.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Headless, no sandbox (root), and no background traffic: this machine reaches no outside host. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ChromiumSession {
  /** The browser's one context, on a fresh profile directory. */
  context: BrowserContext;
  newPage(): Promise<Page>;
  /** Closes the browser (its process goes with it) and deletes the profile. */
  close(): Promise<void>;
}

/**
 * Debian's headless Chromium through playwright-core, installed on first use, with a
 * fresh profile and no background traffic (this machine reaches no outside host).
 * Playwright refuses `--user-data-dir` in `args`; a persistent context on a new
 * temporary directory is how a fresh profile is passed.
 */
export async function launchChromium(): Promise<ChromiumSession> {
  ensureDebianPackage('chromium', fileExists(CHROMIUM));
  const profile = mkdtempSync(join(tmpdir(), 'lifeline-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS.filter((flag) => flag !== '--headless'), // Playwright adds its own
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where tests save screenshots and other artifacts (gitignored). */
export const ARTIFACTS = join(process.cwd(), 'artifacts');

/**
 * A Chromium whose pages can really be hidden. A page Playwright launches stays `visible`
 * whatever happens to its tab: Playwright turns on focus emulation for every page, and a
 * page with focus emulation counts as on screen (checked with Chromium 156; see also
 * packages/client/test/cdp.ts). So this starts Debian's Chromium with a DevTools port and
 * attaches with `connectOverCDP(…, { noDefaults: true })`, which leaves that emulation off:
 * a second tab in front then hides the first as a person's background tab is hidden
 * (`document.visibilityState` is `hidden`, no animation frames, timers once a second).
 */
export async function launchHideableChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'lifeline-console-hidden-'));
  // Its own process group, so that stopping it stops its helper processes too: they write
  // into the profile until they exit, and the profile is deleted after that.
  const child = spawn(CHROMIUM, [...CHROMIUM_FLAGS, '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'], {
    stdio: 'ignore',
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone already
    }
  };
  const stop = async () => {
    const killer = setTimeout(() => signalGroup('SIGKILL'), 5000);
    signalGroup('SIGTERM');
    await exited;
    clearTimeout(killer);
    // Helpers may outlive the main process by a moment.
    await sleep(200);
    signalGroup('SIGKILL');
    rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  };
  try {
    // Chromium writes the port it chose, and the browser's DevTools path, into the profile.
    const activePort = join(profile, 'DevToolsActivePort');
    const [port, path] = await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Chromium exited (${child.exitCode ?? child.signalCode}) before it listened`);
        const lines = existsSync(activePort) ? readFileSync(activePort, 'utf8').split('\n') : [];
        return /^\/devtools\/browser\/[\w-]+$/.test(lines[1] ?? '') ? lines : undefined;
      },
      'Chromium to write DevToolsActivePort',
      20_000,
      50,
    );
    const endpoint = `ws://127.0.0.1:${port}${path}`;
    const attached = await chromium.connectOverCDP(endpoint, { noDefaults: true });
    return {
      context: attached.contexts()[0]!,
      async close() {
        await attached.close(); // disconnects; the process is this test's to end
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
