/**
 * Bun and Deno for the tests and the benchmark that run Lifeline on them. Both ship on npm
 * (packages `bun` and `deno`; their platform binaries come as optional dependencies). They
 * are not devDependencies: about 200 MB would slow every newcomer's `npm install`. On first
 * use the pinned version is installed into node_modules/.cache/lifeline-runtimes/ (about
 * 10 s each); failing that, the error names what is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The pinned versions, and the arguments each needs before a script. */
export const RUNTIMES = {
  bun: { version: '1.4.5', args: [] },
  deno: { version: '2.9.6', args: ['run', '--allow-all', '--quiet'] },
};

const CACHE = fileURLToPath(new URL('../node_modules/.cache/lifeline-runtimes/', import.meta.url));

/**
 * The command that runs a script on `name` ('bun' | 'deno'): `{ command, args, version }`,
 * installing the runtime first if needed. `env`: the environment for npm (a test passes one
 * without the variables `npm test` set for its own script).
 */
export function ensureRuntime(name, env = process.env) {
  const runtime = RUNTIMES[name];
  if (!runtime) throw new Error(`unknown runtime "${name}" (known: ${Object.keys(RUNTIMES).join(', ')})`);
  const { version, args } = runtime;
  const prefix = join(CACHE, `${name}-${version}`);
  const binary = join(prefix, 'node_modules', '.bin', name);
  if (!existsSync(binary)) {
    mkdirSync(prefix, { recursive: true });
    try {
      execFileSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `${name}@${version}`], {
        stdio: 'pipe',
        timeout: 600_000,
        env,
      });
    } catch (error) {
      throw new Error(`${name} ${version} is missing and "npm install ${name}@${version}" into ${prefix} failed: ${error.message}`);
    }
    if (!existsSync(binary)) throw new Error(`npm installed ${name}@${version} into ${prefix}, but ${binary} is not there.`);
  }
  const reported = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  if (!reported.includes(version)) throw new Error(`${binary} --version says "${reported.trim()}", not ${version}.`);
  return { command: binary, args: [...args], version };
}
