import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ensureDebianPackage, fileExists } from './system-packages.js';

export const CHROMIUM = '/usr/bin/chromium';

export interface ChromiumSession {
  browser: Browser;
  close(): Promise<void>;
}

/**
 * Debian's headless Chromium through playwright-core, installed on first use, with a
 * fresh profile and no background traffic (this machine reaches no outside host).
 */
export async function launchChromium(): Promise<ChromiumSession> {
  ensureDebianPackage('chromium', fileExists(CHROMIUM));
  const profile = mkdtempSync(join(tmpdir(), 'lifeline-chromium-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where tests save screenshots and other artifacts (gitignored). */
export const ARTIFACTS = join(process.cwd(), 'artifacts');
