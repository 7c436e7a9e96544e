/**
 * Bun and Deno for the tests and the benchmark that run Lifeline on them. Both ship on npm
 * (packages `bun` and `deno`; their platform binaries come as optional dependencies). They
 * are not devDependencies: about 200 MB would slow every newcomer's `npm install`. On first
 * use the pinned version is installed into node_modules/.cache/lifeline-runtimes/ (about
 * 10 s each); failing that, the error names what is missing. Test files that run at the same
 * time may both install: each installs into a directory of its own and renames it into place
 * (atomic), and the loser of the race throws its copy away.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
    mkdirSync(CACHE, { recursive: true });
    const staging = join(CACHE, `.${name}-${version}-${process.pid}-${Date.now()}`);
    mkdirSync(staging, { recursive: true });
    // Both packages put their binary in place in a postinstall script, which npm's allowScripts
    // policy (advisory in npm 11, blocking from npm 12) runs only for packages named here.
    writeFileSync(join(staging, 'package.json'), JSON.stringify({ private: true, allowScripts: { [name]: true } }) + '\n');
    try {
      execFileSync('npm', ['install', '--prefix', staging, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `${name}@${version}`], {
        stdio: 'pipe',
        timeout: 600_000,
        env,
      });
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw new Error(`${name} ${version} is missing and "npm install ${name}@${version}" into ${staging} failed: ${error.message}`);
    }
    if (!existsSync(join(staging, 'node_modules', '.bin', name))) {
      rmSync(staging, { recursive: true, force: true });
      throw new Error(`npm installed ${name}@${version} into ${staging}, but its node_modules/.bin/${name} is not there.`);
    }
    try {
      renameSync(staging, prefix);
    } catch (error) {
      // Another process put its copy in place first (the target is a non-empty directory now).
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(binary)) throw new Error(`could not move ${name} ${version} into ${prefix}: ${error.message}`);
    }
  }
  const reported = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  if (!reported.includes(version)) throw new Error(`${binary} --version says "${reported.trim()}", not ${version}.`);
  return { command: binary, args: [...args], version };
}
