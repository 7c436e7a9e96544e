// Compiles the native load generator with the machine's C compiler.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NATIVE = join(dirname(fileURLToPath(import.meta.url)), '..', 'native');
export const WSGEN = join(NATIVE, 'build', 'wsgen');

/** Build bench/native/build/wsgen with `cc -O2`; returns the compiler's version line. */
export function buildGenerator() {
  mkdirSync(dirname(WSGEN), { recursive: true });
  const cc = process.env.CC || 'cc';
  execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-o', WSGEN, join(NATIVE, 'wsgen.c')], { stdio: 'inherit' });
  return execFileSync(cc, ['--version'], { encoding: 'utf8' }).split('\n')[0];
}
