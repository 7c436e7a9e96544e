import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ensureDebianPackage, fileExists } from './system-packages.js';

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
