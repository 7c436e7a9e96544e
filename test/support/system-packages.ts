import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

let aptUpdated = false;

/**
 * Makes sure a Debian package is installed, installing it with apt-get when it is missing
 * (the test machines run as root). A test that cannot get what it needs fails with a
 * message naming the package; it is never skipped silently.
 */
export function ensureDebianPackage(pkg: string, isPresent: () => boolean): void {
  if (isPresent()) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`Debian package "${pkg}" is missing and this is not root: run "apt-get install -y ${pkg}" first.`);
  }
  try {
    if (!aptUpdated) {
      execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore', timeout: 300_000 });
      aptUpdated = true;
    }
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', pkg], {
      stdio: 'ignore',
      timeout: 600_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (error) {
    throw new Error(`Debian package "${pkg}" is missing and "apt-get install -y ${pkg}" failed: ${(error as Error).message}`);
  }
  if (!isPresent()) throw new Error(`Debian package "${pkg}" was installed but what the test needs is still missing.`);
}

export const fileExists = (path: string) => () => existsSync(path);

export function pythonModulePresent(python: string, module: string): () => boolean {
  return () => {
    try {
      execFileSync(python, ['-c', `import ${module}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
}
