#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LifelineError } from '@lifeline/server';
import { mainHelp, serveHelp } from './help.js';
import { exitWithParent, findRuntime, missingRuntimeMessage, relaunch, runningOn } from './runtime.js';
import { resolveServeConfig, SERVE_OPTIONS } from './serve-options.js';

// Each command's module is loaded when that command runs: lifeline serve does not load the
// conformance kit or the terminal client, and they do not load the server's routes.

/** Exit statuses: 0 done, 1 runtime failure (conformance: a check failed), 2 bad usage (connect adds 3: see connect-options.ts). */
async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(mainHelp());
    return;
  }
  if (command === '-v' || command === '--version') {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return;
  }
  if (command === 'connect') {
    const { connectCommand } = await import('./connect.js');
    const status = await connectCommand(rest);
    // Exit once stdout has taken everything: a script reading our output must get it all.
    process.stdout.write('', () => process.exit(status));
    return;
  }
  if (command === 'conformance') {
    const { conformanceCommand } = await import('./conformance.js');
    const status = await conformanceCommand(rest);
    process.stdout.write('', () => process.exit(status));
    return;
  }
  if (command !== 'serve') {
    usageError(`unknown command "${command}". Commands: serve, connect, conformance. See "lifeline --help".`);
  }
  const options = Object.fromEntries(
    SERVE_OPTIONS.map((o) => [o.flag, { type: 'string' as const, multiple: o.kind === 'strings' }]),
  );
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { ...options, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    usageError(`${(error as Error).message}. See "lifeline serve --help".`);
  }
  if (values.help) {
    process.stdout.write(serveHelp());
    return;
  }
  const config = resolveServeConfig(values);
  const here = runningOn();
  if (config.runtime !== undefined && config.runtime !== here) {
    if (here !== 'node') usageError(`--runtime ${config.runtime}: this lifeline runs on ${here}; start it with node for another runtime.`);
    const runtime = config.runtime as 'bun' | 'deno';
    const binary = findRuntime(runtime);
    if (binary === undefined) usageError(missingRuntimeMessage(runtime));
    process.exit(await relaunch(runtime, binary, fileURLToPath(import.meta.url), argv));
  }
  exitWithParent();
  const { serve } = await import('./serve.js');
  await serve(config);
}

function usageError(message: string): never {
  process.stderr.write(`lifeline: ${message}\n`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof LifelineError && (error.code === 'LL_CONFIG' || error.code === 'LL_INVALID_OPTION')) {
    usageError(error.message);
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    process.stderr.write(`lifeline: cannot listen: ${(error as Error).message}\n`);
    process.exit(1);
  }
  process.stderr.write(`lifeline: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
