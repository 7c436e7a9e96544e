import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { npmEnvironment } from './npm.js';

/**
 * Bun and Deno for the tests that run Lifeline on them. Both ship on npm (the packages `bun`
 * and `deno`, whose platform binaries come as optional dependencies); they are not
 * devDependencies, because about 200 MB would slow every newcomer's `npm install`. A test
 * that needs one installs the pinned version here on first use (about 10 s each) and fails
 * with a message naming what is missing if it cannot; it is never skipped.
 */
export const RUNTIMES = {
  bun: { version: '1.4.5', args: [] as string[] },
  deno: { version: '2.9.6', args: ['run', '--allow-all', '--quiet'] },
} as const;
export type RuntimeName = keyof typeof RUNTIMES;

const CACHE = fileURLToPath(new URL('../../node_modules/.cache/lifeline-runtimes/', import.meta.url));

/** The command that runs a script on `name`: its binary and the arguments before the script. */
export function ensureRuntime(name: RuntimeName): { command: string; args: string[]; version: string } {
  const { version, args } = RUNTIMES[name];
  const prefix = join(CACHE, `${name}-${version}`);
  const binary = join(prefix, 'node_modules', '.bin', name);
  if (!existsSync(binary)) {
    mkdirSync(prefix, { recursive: true });
    try {
      execFileSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `${name}@${version}`], {
        stdio: 'pipe',
        timeout: 600_000,
        env: npmEnvironment(),
      });
    } catch (error) {
      throw new Error(`${name} ${version} is missing and "npm install ${name}@${version}" into ${prefix} failed: ${(error as Error).message}`);
    }
    if (!existsSync(binary)) throw new Error(`npm installed ${name}@${version} into ${prefix}, but ${binary} is not there.`);
  }
  const reported = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  if (!reported.includes(version)) throw new Error(`${binary} --version says "${reported.trim()}", not ${version}.`);
  return { command: binary, args: [...args], version };
}
